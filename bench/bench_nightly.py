"""The nightly job on its real cadence, end to end against the practice org (issue 14 item 7).

For N accounts (default 10,000) it runs the real ``sfsync run nightly`` CLI, each run in its
own child process, against a practice org served by this process, and prints for

- the first run (as of 2025-03-15),
- a re-run of the same date with unchanged inputs (what the sync benchmark calls a re-run),
- the next night with unchanged inputs (2025-03-16),
- a night where 1 % of the tenants' usage changed (2025-03-17),
- 12 monthly runs (the 15th of each month from 2025-04-15), the usage of each new month
  generated beforehand (each tenant's latest month carried forward, so the input guards pass
  as on a steady book),

the API calls, the records written and the rows read (counted by the practice org), the
existing-Task rows read (sfsync's own count), sfsync's CPU time and peak memory (``wait4`` of
its process, started through a small launcher: see :data:`LAUNCHER`), the state-store size, and
the Bulk 2.0 ingest jobs each object was written with (their number, the largest upload, and
how many parents have rows in more than one of Salesforce's 10,000-record batches); beside
them a Data Loader-style full Bulk 2.0 re-upsert of every account and the naive loop of one
call per record (computed: the formulas are printed). The practice org's peak memory (this
process) is printed at the end.

    python bench/bench_nightly.py                       # 10,000 accounts, 12 months
    python bench/bench_nightly.py --accounts 100000 --months 0
    python bench/bench_nightly.py --accounts 300000 --first-only
    python bench/bench_nightly.py --accounts 2000 --months 3 --slack

Slack is left out unless ``--slack`` (it is its own cost, see issue 14 item 4); the runs are
otherwise the nightly job of ``jobs/nightly.yaml`` unchanged.
"""

from __future__ import annotations

import argparse
import compileall
import csv
import io
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST = date(2025, 3, 15)
#: Bulk API 2.0 ingest calls of one job: create, close, one status poll, successful + failed
#: results (the upload is one call per part below the 100 MB limit)
BULK_JOB_CALLS = 5
#: Records per Data Loader Bulk upload part (about 1 KB a row: well below 100 MB)
BULK_PART_ROWS = 100_000
#: Salesforce processes an ingest job in internal batches of 10,000 records, in parallel
BULK_BATCH_ROWS = 10_000
#: The column a written row locks its parent through (bulk_upload.PARENT_FIELDS)
PARENT_COLUMNS = ("WhatId", "AccountId", "ParentId")
ACCEPT_FLAGS = ("--accept-input-change", "--accept-mass-change")
#: py-spy (``pip install py-spy``) beside this interpreter, for ``--profile``
PY_SPY = str(Path(sys.executable).with_name("py-spy"))


@dataclass
class UploadFigures:
    """The Bulk 2.0 ingest jobs that wrote one object during a run."""

    jobs: int = 0
    records: int = 0
    largest_bytes: int = 0
    parents_split: int = 0  # parents whose rows sit in more than one 10,000-record batch


@dataclass
class Phase:
    """One run of the nightly job, as the practice org and the process saw it."""

    label: str
    as_of: date
    exit_code: int = 0
    api_calls: int = 0
    records_written: int = 0
    accounts_written: int = 0
    tasks_written: int = 0
    rows_read: dict[str, int] = field(default_factory=dict)
    task_rows_read: int = 0  # the existing-Task read (sfsync's log event)
    cpu_seconds: float = 0.0
    peak_mib: float = 0.0
    wall_seconds: float = 0.0
    state_mib: float = 0.0
    accepted: bool = False  # the run needed the guard flags
    scored: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    uploads: dict[str, UploadFigures] = field(default_factory=dict)
    memory_by_event: list[tuple[str, float]] = field(default_factory=list)

    @property
    def total_read(self) -> int:
        return sum(self.rows_read.values())


def _events(stderr: str) -> list[dict]:
    events = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


#: Runs the command in its argv[2:] and writes its exit code, CPU seconds and peak RSS to the
#: file argv[1]. A process started straight from this benchmark would report the benchmark's
#: own resident size as its peak: Linux keeps ``ru_maxrss`` across ``exec``, and the child
#: starts as a copy of this process, which serves the practice org (gigabytes at 100,000
#: accounts). Started from this small launcher, sfsync's figures are its own. The launcher is a
#: child subreaper: a process its child leaves behind unreaped (sfsync under py-spy, which may
#: exit without waiting for it) is reparented to it and waited for, so that its CPU counts.
LAUNCHER = """
import ctypes, json, os, resource, sys
out, args = sys.argv[1], sys.argv[2:]
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.posix_spawn(args[0], args, os.environ)
_, status, _ = os.wait4(pid, 0)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every descendant, all reaped
with open(out, "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status),
               "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss}, f)
"""


def _child_rss_kib(launcher_pid: int) -> int | None:
    """Resident KiB of the launcher's child (the sfsync process), None before it exists."""
    try:
        children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
        if not children:
            return None
        for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _sample_rss(process: subprocess.Popen, samples: list[tuple[float, int]]) -> None:
    """Append (epoch seconds, resident KiB) of the sfsync process every 20 ms until it ends."""
    while process.poll() is None:
        rss = _child_rss_kib(process.pid)
        if rss is not None:
            samples.append((time.time(), rss))
        time.sleep(0.02)


def _run_child(
    args: list[str], env: dict[str, str], rss_samples: list[tuple[float, int]] | None = None
) -> tuple[int, str, str, float, float]:
    """Run one sfsync process; (exit code, stdout, stderr, CPU seconds, peak RSS MiB).
    With ``rss_samples``, its resident size is sampled from outside into that list."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(suffix=".json") as usage_file,
    ):
        launcher = [sys.executable, "-c", LAUNCHER, usage_file.name, *args]
        process = subprocess.Popen(launcher, cwd=ROOT, env=env, stdout=out, stderr=err)
        if rss_samples is not None:
            sampler = threading.Thread(target=_sample_rss, args=(process, rss_samples))
            sampler.start()
        if process.wait() != 0:
            raise subprocess.CalledProcessError(process.returncode, launcher)
        if rss_samples is not None:
            sampler.join()
        usage = json.loads(Path(usage_file.name).read_text(encoding="utf-8"))
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return usage["code"], stdout, stderr, usage["cpu"], usage["maxrss_kib"] / 1024  # Linux: KiB


def memory_by_event(
    events: list[dict], samples: list[tuple[float, int]]
) -> list[tuple[str, float]]:
    """The highest resident MiB sampled after each log event and before the next, in the
    order of the events (a stage's peak shows under the last event logged before it)."""
    stamps = []
    for event in events:
        try:
            moment = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            continue
        stamps.append((moment.timestamp(), str(event.get("event"))))
    peaks: dict[int, float] = {}
    for moment, rss in samples:
        at = sum(1 for when, _ in stamps if when <= moment) - 1  # -1: before the first event
        peaks[at] = max(peaks.get(at, 0.0), rss / 1024)
    return [(stamps[i][1] if i >= 0 else "(start-up)", mib) for i, mib in sorted(peaks.items())]


def _state_mib(project: Path) -> float:
    files = [project / ".sfsync" / name for name in ("state.db", "state.db-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


def _profiled(command: list[str], profile_dir: Path | None, label: str) -> list[str]:
    """``command`` under py-spy's sampling profiler (collapsed stacks) when ``profile_dir``."""
    if profile_dir is None:
        return command
    name = "".join(c if c.isalnum() else "_" for c in label).strip("_")
    out = profile_dir / f"{name}.txt"
    return [PY_SPY, "record", "--format", "raw", "--rate", "50", "-o", str(out), "--", *command]


def run_night(
    sb,
    project: Path,
    env: dict[str, str],
    label: str,
    as_of: date,
    profile_dir: Path | None = None,
    memory_trace: bool = False,
) -> Phase:
    """One nightly run; with the guard flags only when a guard stopped it without them."""
    config = project / "sfsync.yaml"
    base = [sys.executable, "-m", "sfsync", "--log-format", "json", "--config", str(config)]
    base = _profiled(base, profile_dir, label)
    phase = Phase(label, as_of)
    for flags in ((), ACCEPT_FLAGS):
        sb.admin.reset_counters()
        jobs_before = set(sb.salesforce_app.bulk.jobs)
        started = time.monotonic()
        samples: list[tuple[float, int]] | None = [] if memory_trace else None
        code, stdout, stderr, cpu, peak = _run_child(
            [*base, "run", "nightly", "--as-of", as_of.isoformat(), *flags], env, samples
        )
        phase.wall_seconds = time.monotonic() - started
        guard_stop = code != 0 and "--accept-" in stderr
        if not guard_stop or flags:
            break
    if code != 0:
        tail = "\n".join(stderr.splitlines()[-5:])
        raise SystemExit(f"{label} ({as_of}) failed with exit code {code}:\n{tail}")
    counters = sb.admin.counters()
    written = counters["writes_per_record"]
    events = _events(stderr)
    tasks_read = [e for e in events if e.get("event") == "existing_tasks_read"]
    finished = [e for e in events if e.get("event") == "run_finished"]
    phase.exit_code = code
    phase.accepted = bool(flags)
    phase.api_calls = counters["api_calls"]
    phase.records_written = counters["records_written"]
    phase.accounts_written = sum(n for k, n in written.items() if k.startswith("001"))
    phase.tasks_written = sum(n for k, n in written.items() if k.startswith("00T"))
    phase.rows_read = dict(counters.get("records_read", {}))
    phase.task_rows_read = sum(int(e.get("rows_read", 0)) for e in tasks_read)
    phase.cpu_seconds, phase.peak_mib = cpu, peak
    phase.state_mib = _state_mib(project)
    phase.scored = int(finished[-1].get("scored", 0)) if finished else 0
    phase.calls = dict(counters["calls"])
    jobs = sb.salesforce_app.bulk.jobs
    phase.uploads = upload_figures([jobs[j] for j in list(jobs) if j not in jobs_before])
    if samples:
        phase.memory_by_event = memory_by_event(events, samples)
    return phase


def compile_package() -> None:
    """Byte-compile sfsync as ``pip install`` does for an installed package: an editable
    checkout run with ``PYTHONDONTWRITEBYTECODE`` set (as in CI and the container) would
    otherwise compile every module again in every run (about 0.3 s of CPU each)."""
    import sfsync

    compileall.compile_dir(Path(sfsync.__file__).parent, quiet=1)


def upload_figures(jobs: list) -> dict[str, UploadFigures]:
    """Per object: the ingest jobs of ``jobs`` (the practice org's), their records, the largest
    upload and the parents split across Salesforce's 10,000-record batches."""
    figures: dict[str, UploadFigures] = {}
    for job in jobs:
        if job.kind != "ingest" or job.data is None:
            continue
        rows = list(csv.reader(io.StringIO(job.data)))
        header, data = rows[0], [r for r in rows[1:] if r]
        fig = figures.setdefault(job.object, UploadFigures())
        fig.jobs += 1
        fig.records += len(data)
        fig.largest_bytes = max(fig.largest_bytes, len(job.data.encode("utf-8")))
        column = next((header.index(c) for c in PARENT_COLUMNS if c in header), None)
        if column is None:
            continue
        batches: dict[str, set[int]] = {}
        for number, row in enumerate(data):
            if row[column]:
                batches.setdefault(row[column], set()).add(number // BULK_BATCH_ROWS)
        fig.parents_split += sum(1 for b in batches.values() if len(b) > 1)
    return figures


# -- usage for the months the benchmark runs ------------------------------------------------


def _usage_db(sb) -> Path:
    return Path(sb.data_dir) / "metabase" / "usage.db"


def carry_usage_forward(sb, through: str) -> int:
    """Give every tenant a row for each month up to ``through`` (YYYY-MM) that it lacks,
    copied from its latest month (last login moved by the same number of months). Returns the
    rows added."""
    conn = sqlite3.connect(_usage_db(sb))
    added = 0
    try:
        latest = conn.execute("SELECT MAX(month) FROM tenant_monthly_usage").fetchone()[0]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(tenant_monthly_usage)")]
        moved = {"month": "?", "last_login_on": "date(last_login_on, '+1 month')"}
        copied = [moved.get(name, name) for name in columns]
        while latest < through:
            year, month = map(int, latest.split("-"))
            nxt = f"{year + month // 12}-{month % 12 + 1:02d}"
            cur = conn.execute(
                f"INSERT OR IGNORE INTO tenant_monthly_usage ({', '.join(columns)}) "
                f"SELECT {', '.join(copied)} FROM tenant_monthly_usage WHERE month = ?",
                (nxt, latest),
            )
            added += cur.rowcount
            latest = nxt
        conn.commit()
    finally:
        conn.close()
    return added


def change_usage(sb, month: str, share: float) -> int:
    """Halve the deliveries and login days of every ``1/share``-th tenant in ``month``."""
    step = max(1, round(1 / share))
    conn = sqlite3.connect(_usage_db(sb))
    try:
        tenants = [
            r[0]
            for r in conn.execute(
                "SELECT tenant_id FROM tenant_monthly_usage WHERE month = ? ORDER BY tenant_id",
                (month,),
            )
        ][::step]
        conn.executemany(
            "UPDATE tenant_monthly_usage SET webinars_delivered = webinars_delivered / 2 + 1, "
            "active_login_days = active_login_days / 2 WHERE tenant_id = ? AND month = ?",
            [(t, month) for t in tenants],
        )
        conn.commit()
    finally:
        conn.close()
    return len(tenants)


# -- the two computed comparisons -------------------------------------------------------------


def data_loader_calls(accounts: int) -> int:
    """A Data Loader-style full Bulk 2.0 re-upsert of every account: one ingest job."""
    return BULK_JOB_CALLS + math.ceil(accounts / BULK_PART_ROWS)


def naive_calls(accounts: int, tasks: int) -> int:
    """The naive loop: one PATCH per account, one POST per Task (no reads at all)."""
    return accounts + tasks


# -- report -----------------------------------------------------------------------------------


def _mib(kib: float) -> float:
    return kib / 1024


def _print_phase(p: Phase) -> None:
    read = ", ".join(f"{k} {v}" for k, v in sorted(p.rows_read.items()))
    flag = " (guard flags)" if p.accepted else ""
    print(
        f"  {p.label:<24} {p.as_of}  {p.api_calls:>6} calls  {p.records_written:>7} written "
        f"({p.accounts_written} Accounts, {p.tasks_written} Tasks, "
        f"{p.records_written - p.accounts_written - p.tasks_written} other)  {p.total_read:>8} rows read "
        f"[{read}]  existing-Task rows {p.task_rows_read}  CPU {p.cpu_seconds:.1f} s  "
        f"peak {p.peak_mib:.0f} MiB  state {p.state_mib:.1f} MiB  wall {p.wall_seconds:.0f} s"
        f"{flag}"
    )
    for sobject, fig in sorted(p.uploads.items()):
        print(
            f"      Bulk upload {sobject}: {fig.jobs} job(s), {fig.records} records, largest "
            f"{fig.largest_bytes / 1e6:.1f} MB, {fig.parents_split} parents in more than one "
            f"{BULK_BATCH_ROWS:,}-record batch"
        )
    if p.memory_by_event:
        top = sorted(p.memory_by_event, key=lambda item: -item[1])[:6]
        print("      highest resident MiB after a log event: "
              + ", ".join(f"{name} {mib:.0f}" for name, mib in top))  # fmt: skip
        print("      in order: "
              + " > ".join(f"{name} {mib:.0f}" for name, mib in p.memory_by_event))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12, help="monthly runs after the nights")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--slack", action="store_true", help="let the runs post to Slack")
    parser.add_argument("--changed-share", type=float, default=0.01)
    parser.add_argument("--first-only", action="store_true", help="only the first run")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample each run with py-spy into DIR/<run>.txt (collapsed stacks; CPU and peak "
        "figures then include the profiler)",
    )
    parser.add_argument(
        "--memory-trace",
        action="store_true",
        help="sample sfsync's resident size every 20 ms and print the highest after each log "
        "event (where the peak is)",
    )
    args = parser.parse_args(argv)
    compile_package()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    from sfsync_sandbox import Sandbox

    from sfsync.calendar import add_months, month_text, scoring_month
    from tests.cli_process import make_project

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        project = tmp_path / "project"
        make_project(project)
        started = time.monotonic()
        with Sandbox(
            data_dir=tmp_path / "org", accounts=args.accounts, seed=args.seed, as_of=FIRST
        ) as sb:
            load_seconds = time.monotonic() - started
            env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
            env.update(sb.env())
            if not args.slack:
                env.pop("SFSYNC_SLACK_TOKEN", None)
                env.pop("SFSYNC_SLACK_BASE_URL", None)
            org_after_load = _mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            print(
                f"sfsync nightly benchmark: {args.accounts} accounts (seed {args.seed}), "
                f"practice org loaded in {load_seconds:.0f} s, Slack "
                f"{'on' if args.slack else 'off'}",
                flush=True,
            )
            phases: list[Phase] = []

            def night(label: str, as_of: date) -> Phase:
                carry_usage_forward(sb, month_text(as_of))
                phase = run_night(sb, project, env, label, as_of, args.profile, args.memory_trace)
                phases.append(phase)
                _print_phase(phase)
                sys.stdout.flush()
                return phase

            first = night("first run", FIRST)
            nights: list[Phase] = []
            monthly: list[Phase] = []
            if not args.first_only:
                nights.append(night("re-run, same date", FIRST))
                nights.append(night("next night, unchanged", date(2025, 3, 16)))
                changed_month = month_text(scoring_month(date(2025, 3, 17)))
                tenants = change_usage(sb, changed_month, args.changed_share)
                label = f"{args.changed_share:.0%} changed ({tenants} tenants)"
                nights.append(night(label, date(2025, 3, 17)))
                monthly = [
                    night(f"month {i}", add_months(FIRST, i).replace(day=FIRST.day))
                    for i in range(1, args.months + 1)
                ]
            org_peak = _mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    accounts = first.scored or args.accounts
    first_tasks = first.tasks_written
    print()
    print("  per night                 API calls  records written  rows read")
    print(
        f"  Data Loader full re-upsert {data_loader_calls(accounts):>8}  {accounts:>15}  "
        f"{'(reads nothing; writes every account)':>9}"
    )
    print(
        f"  naive per-record loop      {naive_calls(accounts, first_tasks):>8}  "
        f"{accounts + first_tasks:>15}  (first run: every account + {first_tasks} Tasks; "
        f"each later night at least {naive_calls(accounts, 0)})"
    )
    for p in (first, *nights):
        print(
            f"  sfsync {p.label:<20} {p.api_calls:>8}  {p.records_written:>15}  {p.total_read:>9}"
        )
    if monthly:
        print()
        print("  monthly runs: existing-Task rows read / rows read / records written / state MiB")
        for p in monthly:
            print(
                f"    {p.as_of}  {p.task_rows_read:>7}  {p.total_read:>8}  {p.records_written:>7}"
                f"  {p.state_mib:6.1f}"
            )
    runs = [first, *nights, *monthly]
    peak = max(runs, key=lambda p: p.peak_mib)
    print()
    print(
        f"  sfsync peak memory: {peak.peak_mib:.0f} MiB ({peak.label}); "
        f"{peak.peak_mib * 1024 / accounts:.1f} KiB per account"
    )
    print(
        "  sfsync CPU: " + ", ".join(f"{p.label} {p.cpu_seconds:.1f} s" for p in (first, *nights))
    )
    print(
        f"  practice org (this process) peak memory: {org_peak:.0f} MiB "
        f"({org_after_load:.0f} MiB after loading)"
    )
    growth = [b.state_mib - a.state_mib for a, b in zip(runs, runs[1:], strict=False)]
    if growth:
        print(f"  state store: {runs[-1].state_mib:.1f} MiB after {len(runs)} runs, "
              f"+{max(growth):.2f} MiB at most per run")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
