"""The run lock: no overlap on SQLite and PostgreSQL, takeover of a dead holder on this host,
expiry of another host's, release; runs a dead process left ``running`` become ``abandoned``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from sfsync.errors import ExitCode, LockedError
from sfsync.state import finish_run, get_run, open_store, process, run_lock, start_run
from sfsync.state.db import migrate, utcnow
from sfsync.state.lock import run_locks, try_acquire
from sfsync.state.runs import abandon_runs, running_runs, runs

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
    # every process is up and waiting by start_at, and the winner holds the lock long enough
    # for a contender that starts late on a loaded machine to still find it taken
    start_at = time.time() + 4.0
    procs = [spawn(store_url, "nightly", 30, 8.0, start_at=start_at) for _ in range(3)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(o.split(":")[0] for o in outputs) == ["locked", "locked", "won"], outputs


def _crash(store, mode: str = "crash", ttl: float = 60.0) -> list[str]:
    """A child process takes the lock (and with "crash_run" starts a run), then dies hard."""
    url = store.engine.url.render_as_string(hide_password=False)
    proc = spawn(url, "nightly", ttl=ttl, hold=0, mode=mode)
    out, err = proc.communicate(timeout=60)  # also reaps it: no zombie left behind
    lines = out.split()
    assert lines and lines[0] == "won", (out, err)
    return lines


def _lock_row(store):
    with store.connect() as conn:
        return conn.execute(sa.select(run_locks).where(run_locks.c.job == "nightly")).first()


def test_the_lock_records_its_holders_host_pid_and_process_start(store):
    with run_lock(store, "nightly", ttl_seconds=60, heartbeat=False):
        row = _lock_row(store)
    assert row.host == socket.gethostname() and row.pid == os.getpid()
    assert row.holder == f"{socket.gethostname()}:{os.getpid()}"
    assert row.host_key == process.host_key()
    assert row.process_start == process.process_start(os.getpid())
    if sys.platform.startswith("linux"):
        assert row.process_start  # /proc/<pid>/stat starttime


def test_a_dead_holders_lock_on_this_host_is_taken_over_at_once(store):
    _, run_id = _crash(store, "crash_run")  # its TTL (60 s) is far from over
    dead = _lock_row(store)
    assert dead.expires_at > utcnow() + timedelta(seconds=30)
    with capture_logs() as logs, run_lock(store, "nightly", ttl_seconds=60, heartbeat=False):
        row = _lock_row(store)
        assert (row.pid, row.token) != (dead.pid, dead.token)
    taken = [e for e in logs if e["event"] == "run_lock_taken_over"]
    assert taken and taken[0]["reason"] == "process_gone"
    assert taken[0]["previous_holder"] == dead.holder
    # the run the dead process left "running" is abandoned, not running forever
    left = get_run(store, int(run_id))
    assert left.status == "abandoned" and left.finished_at is not None
    assert f"{dead.host}:{dead.pid}" in left.error and "ended without finishing" in left.error
    assert any(e["event"] == "runs_abandoned" and e["run_ids"] == [int(run_id)] for e in logs)
    assert running_runs(store, "nightly") == []


def test_a_live_holders_lock_still_blocks(store):
    url = store.engine.url.render_as_string(hide_password=False)
    proc = spawn(url, "nightly", ttl=60, hold=60)
    try:
        assert proc.stdout.readline().strip() == "won"
        with pytest.raises(LockedError) as info:
            try_acquire(store, "nightly", 60)
        assert f":{proc.pid} " in str(info.value)
        assert "still running on this host" in str(info.value)
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    with run_lock(store, "nightly", heartbeat=False) as held:  # and once it is dead: at once
        assert held.took_over == "process_gone"


def test_a_reused_pid_does_not_keep_a_dead_holders_lock(store):
    first = try_acquire(store, "nightly", 60)
    with store.begin() as conn:  # same host and pid, but a process started at another time
        conn.execute(run_locks.update().values(process_start="0:1"))
    second = try_acquire(store, "nightly", 60)
    assert second.took_over == "pid_reused" and second.token != first.token


@pytest.mark.parametrize(
    "holder",
    [
        pytest.param({"host_key": "elsewhere|0123|pid:[4026531836]"}, id="other-host"),
        pytest.param(
            {"host_key": None, "host": None, "pid": None, "process_start": None},
            id="older-sfsync",
        ),
    ],
)
def test_a_holder_on_another_host_blocks_until_its_ttl(store, holder):
    _, run_id = _crash(store, "crash_run", ttl=2.0)
    with store.begin() as conn:
        conn.execute(run_locks.update().values(**holder))
    with pytest.raises(LockedError, match="expires at") as info:
        try_acquire(store, "nightly", 60)
    assert "when it expires" in str(info.value)
    assert get_run(store, int(run_id)).status == "running"
    expires = _lock_row(store).expires_at
    while utcnow() <= expires:
        time.sleep(0.1)
    with capture_logs() as logs, run_lock(store, "nightly", ttl_seconds=60, heartbeat=False):
        pass
    assert [e["reason"] for e in logs if e["event"] == "run_lock_taken_over"] == ["expired"]
    assert get_run(store, int(run_id)).status == "abandoned"


def test_a_store_from_before_holder_columns_is_migrated(store):
    with store.begin() as conn:
        conn.execute(sa.text("DROP TABLE run_locks"))
        conn.execute(
            sa.text(
                "CREATE TABLE run_locks (job VARCHAR(200) PRIMARY KEY, holder VARCHAR(300) "
                "NOT NULL, token VARCHAR(64) NOT NULL, acquired_at TIMESTAMP NOT NULL, "
                "expires_at TIMESTAMP NOT NULL)"
            )
        )
    migrate(store)
    with store.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("run_locks")}
    assert {"host", "host_key", "pid", "process_start"} <= columns
    with run_lock(store, "nightly", heartbeat=False):
        assert _lock_row(store).pid == os.getpid()


def test_abandon_runs_leaves_live_dry_runs_and_other_jobs_alone(sqlite_store):
    store = sqlite_store
    day = date(2025, 3, 15)
    live_dry = start_run(store, "nightly", day, dry_run=True)
    dead_dry = start_run(store, "nightly", day, dry_run=True)
    left = start_run(store, "nightly", day)
    backfill = start_run(store, "backfill:nightly", day)
    other = start_run(store, "weekly", day)
    done = start_run(store, "nightly", day)
    finish_run(store, done, "succeeded")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with store.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == dead_dry).values(pid=gone.pid))
    marked = abandon_runs(store, "nightly", found_by="host:1")
    assert marked == [dead_dry, left, backfill]
    status = {i: get_run(store, i).status for i in (live_dry, other, done, *marked)}
    assert status == {
        live_dry: "running",
        other: "running",
        done: "succeeded",
        dead_dry: "abandoned",
        left: "abandoned",
        backfill: "abandoned",
    }


def test_process_probes(tmp_path):
    me = os.getpid()
    assert process.pid_alive(me) is True
    start = process.process_start(me)
    assert start == process.process_start(me)  # stable
    assert process.holder_gone(process.host_key(), me, start) is None
    assert process.holder_gone("another|host", me, "x") is None  # not ours to judge
    assert process.holder_gone(None, me, start) is None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process.pid_alive(child.pid) is False
    assert process.holder_gone(process.host_key(), child.pid, None) == "process_gone"
    if start is not None:
        assert process.holder_gone(process.host_key(), me, start + "0") == "pid_reused"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="zombies read from /proc")
def test_an_unreaped_zombie_counts_as_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while process._proc_stat(child.pid)[0] != "Z" and time.time() < deadline:
        time.sleep(0.02)
    assert process.pid_alive(child.pid) is False
    child.wait()


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
