"""The nightly benchmark's memory trace and profiler wrapping (bench/bench_nightly.py): the
figures docs/PERFORMANCE.md quotes come from these."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_nightly  # noqa: E402


def _at(second: float) -> str:
    return datetime.fromtimestamp(1_800_000_000 + second, UTC).isoformat().replace("+00:00", "Z")


def test_each_sample_counts_for_the_last_event_logged_before_it():
    events = [
        {"event": "run_started", "timestamp": _at(1)},
        {"event": "not timed"},
        {"event": "source_extracted", "timestamp": _at(5)},
        {"event": "records_written", "timestamp": _at(9)},
    ]
    samples = [(1_800_000_000 + s, kib) for s, kib in
               ((0.5, 100 * 1024), (2, 300 * 1024), (4, 200 * 1024), (6, 900 * 1024),
                (8, 700 * 1024), (10, 400 * 1024))]  # fmt: skip
    assert bench_nightly.memory_by_event(events, samples) == [
        ("(start-up)", 100.0),
        ("run_started", 300.0),
        ("source_extracted", 900.0),
        ("records_written", 400.0),
    ]


def test_a_run_is_profiled_only_when_asked(tmp_path):
    command = ["python", "-m", "sfsync", "run", "nightly"]
    assert bench_nightly._profiled(command, None, "first run") == command
    wrapped = bench_nightly._profiled(command, tmp_path, "next night, unchanged")
    assert wrapped[-len(command) :] == command and wrapped[-len(command) - 1] == "--"
    assert str(tmp_path / "next_night__unchanged.txt") in wrapped


def test_cpu_of_a_process_its_wrapper_leaves_behind_is_counted():
    # the wrapper (as py-spy may) exits without waiting for the process doing the work
    worker = "sum(range(10_000_000))"
    wrapper = (
        "import subprocess, sys; "
        f"subprocess.Popen([sys.executable, '-c', {worker!r}]); "
        "subprocess.Popen.__del__ = lambda self: None"
    )
    code, _, _, cpu, peak = bench_nightly._run_child([sys.executable, "-c", wrapper], env={})
    alone = bench_nightly._run_child([sys.executable, "-c", worker], env={})[3]
    assert code == 0
    assert cpu >= 0.8 * alone  # the worker's CPU, not only the wrapper's
    assert peak > 5  # MiB: a Python process
