"""The run lock: no overlap on SQLite and PostgreSQL, expiry after a crash, release."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from sfsync.errors import ExitCode, LockedError
from sfsync.state import open_store, run_lock
from sfsync.state.lock import run_locks, try_acquire

ROOT = Path(__file__).parents[2]
HOLDER = Path(__file__).with_name("lock_holder.py")


def spawn(url: str, job: str, ttl: float, hold: float, mode: str = "hold", start_at: float = 0):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "START_AT": str(start_at)}
    return subprocess.Popen(
        [sys.executable, str(HOLDER), url, job, str(ttl), str(hold), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def test_a_held_lock_refuses_a_second_run_and_names_the_holder(store):
    with run_lock(store, "nightly", ttl_seconds=60) as held:
        with pytest.raises(LockedError) as info, run_lock(store, "nightly"):
            pass
        message = str(info.value)
        assert "'nightly'" in message and held.holder in message and "expires at" in message
        assert info.value.exit_code == ExitCode.LOCKED
        with run_lock(store, "weekly"):  # other jobs are independent
            pass
    with run_lock(store, "nightly"):  # released on exit
        pass
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(run_locks)).scalar() == 0


def test_lock_is_released_when_the_run_raises(store):
    with pytest.raises(RuntimeError), run_lock(store, "nightly"):
        raise RuntimeError("run failed")
    with run_lock(store, "nightly"):
        pass


def test_racing_threads_get_exactly_one_lock(store):
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def contender():
        barrier.wait()
        try:
            try_acquire(store, "nightly", 60)
            outcomes.append("won")
        except LockedError:
            outcomes.append("locked")

    threads = [threading.Thread(target=contender) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["locked"] * 5 + ["won"]


def test_racing_processes_get_exactly_one_lock(store_url):
    open_store(store_url).dispose()  # schema first, so the race is about the lock only
    start_at = time.time() + 2.5  # every process is up and waiting by then
    procs = [spawn(store_url, "nightly", 30, 2.0, start_at=start_at) for _ in range(3)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(o.split(":")[0] for o in outputs) == ["locked", "locked", "won"], outputs


def test_a_crashed_runs_lock_expires_after_its_ttl(store):
    url = store.engine.url.render_as_string(hide_password=False)
    proc = spawn(url, "nightly", ttl=2.0, hold=0, mode="crash")
    assert proc.communicate(timeout=60)[0].strip() == "won"
    with pytest.raises(LockedError, match="expires at"):
        try_acquire(store, "nightly", 60)
    time.sleep(2.2)
    with run_lock(store, "nightly", ttl_seconds=60):
        pass


def test_heartbeat_keeps_a_long_run_locked_beyond_its_ttl(store):
    url = store.engine.url.render_as_string(hide_password=False)
    proc = spawn(url, "nightly", ttl=1.0, hold=3.0)
    assert proc.stdout.readline().strip() == "won"
    time.sleep(1.8)  # past the TTL: only the heartbeat keeps the lock alive
    with pytest.raises(LockedError):
        try_acquire(store, "nightly", 60)
    proc.communicate(timeout=60)
    with run_lock(store, "nightly"):  # released at the end of the run
        pass


def test_a_taken_over_lock_is_reported_as_lost(store):
    with run_lock(store, "nightly", ttl_seconds=60, heartbeat_interval=0.05) as held:
        with store.begin() as conn:  # simulate expiry and a takeover by another run
            conn.execute(run_locks.update().values(token="someone-else"))
        deadline = time.time() + 5
        while not held.lost and time.time() < deadline:
            time.sleep(0.02)
        assert held.lost


def test_a_failing_release_never_hides_the_runs_own_error(sqlite_store, monkeypatch):
    from sfsync.state import lock as lock_module

    def broken_release(store, lock):
        raise OSError("database went away")

    monkeypatch.setattr(lock_module, "release", broken_release)
    with pytest.raises(RuntimeError, match="the run's error"), run_lock(sqlite_store, "nightly"):
        raise RuntimeError("the run's error")
