"""The run lock: two runs of the same job never overlap (SQLite and PostgreSQL alike).

A lock is a row in ``run_locks`` keyed by job, recording its holder: host, host key, process
id and the process's start identity (:mod:`sfsync.state.process`). Taking it is one write
transaction: read the current row (``FOR UPDATE`` on PostgreSQL), then one atomic
``INSERT … ON CONFLICT (job) DO UPDATE … WHERE expires_at < now OR token = <dead holder's>``,
then read back who holds the row: whoever's random token is there owns the lock.

A live run's heartbeat thread pushes ``expires_at`` forward. A holder whose process is gone
(killed with SIGKILL, out of memory, host rebooted) stops doing so; a run **on the same host**
sees at once that the process no longer exists (or that its pid now belongs to a process
started at another time) and takes the lock over, logging ``run_lock_taken_over``. A holder on
another host is judged by the TTL alone. Whoever takes the lock marks the runs the dead holder
left ``running`` as ``abandoned`` (:func:`sfsync.state.runs.abandon_runs`). Time is the UTC
clock of the host.
"""

from __future__ import annotations

import contextvars
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Column, DateTime, Integer, String, Table, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sfsync.errors import LockedError
from sfsync.state import process
from sfsync.state.db import Store, metadata, utcnow
from sfsync.state.runs import abandon_runs

log = structlog.get_logger(__name__)

DEFAULT_TTL_SECONDS = 600

run_locks = Table(
    "run_locks",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("holder", String(300), nullable=False),
    Column("token", String(64), nullable=False),
    Column("acquired_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    # who holds it (nullable: added to existing stores automatically; a row an older sfsync
    # wrote has none of them and is judged by its expiry only)
    Column("host", String(255)),
    Column("host_key", String(300)),
    Column("pid", Integer),
    Column("process_start", String(64)),
)


@dataclass
class RunLock:
    """A held lock. ``lost`` turns True if the heartbeat found the lock taken over."""

    job: str
    holder: str
    token: str
    acquired_at: datetime
    expires_at: datetime
    ttl_seconds: float
    lost: bool = False
    took_over: str | None = None  # "expired", "process_gone" or "pid_reused" after a takeover
    previous_holder: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)


def holder_name() -> str:
    """``host:pid`` of this process, as shown to a run that finds the lock taken."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _insert(store: Store):
    return (postgresql if store.dialect == "postgresql" else sqlite).insert(run_locks)


def _takeover_reason(row, now: datetime) -> str | None:
    """Why the lock ``row`` may be taken now: its expiry passed or its process is gone."""
    if row is None:
        return None
    if row.expires_at < now:
        return "expired"
    return process.holder_gone(row.host_key, row.pid, row.process_start)


def try_acquire(store: Store, job: str, ttl_seconds: float, holder: str | None = None) -> RunLock:
    """Take the lock of ``job`` once, or raise LockedError naming the holder and expiry.

    Takes over a lock whose expiry passed, or whose holder ran on this host and whose process
    is gone (see the module docstring).
    """
    token = secrets.token_hex(16)
    me = process.current()
    holder = holder or holder_name()
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    values = {
        "job": job,
        "holder": holder,
        "token": token,
        "acquired_at": now,
        "expires_at": expires,
        "host": me.host[:255],
        "host_key": me.host_key,
        "pid": me.pid,
        "process_start": me.start,
    }
    current = select(run_locks).where(run_locks.c.job == job)
    with store.begin() as conn:
        before = conn.execute(current.with_for_update()).first()
        reason = _takeover_reason(before, now)
        takeable = run_locks.c.expires_at < now
        if reason is not None and before is not None:
            takeable = or_(takeable, run_locks.c.token == before.token)
        stmt = _insert(store).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[run_locks.c.job],
            set_={k: v for k, v in values.items() if k != "job"},
            where=takeable,
        )
        conn.execute(stmt)
        row = conn.execute(current).one()
    if row.token != token:
        raise _locked_error(job, row)
    lock = RunLock(job, holder, token, now, expires, ttl_seconds)
    if before is not None and reason is not None:
        lock.took_over, lock.previous_holder = reason, before.holder
    return lock


def _locked_error(job: str, row) -> LockedError:
    same_host = bool(row.host_key) and row.host_key == process.host_key()
    if same_host:
        hint = (
            "wait for that run to finish: its process is still running on this host "
            "(if it hangs, stop it with SIGTERM; the next run then starts at once)"
        )
    else:
        hint = (
            "wait for that run to finish; if its process was killed, the lock is taken over "
            "when it expires (at once when the next run is on the same host)"
        )
    return LockedError(
        f"another run of job {job!r} is in progress: the lock is held by {row.holder} "
        f"since {row.acquired_at:%Y-%m-%d %H:%M:%S} UTC and expires at "
        f"{row.expires_at:%Y-%m-%d %H:%M:%S} UTC",
        hint=hint,
    )


def renew(store: Store, lock: RunLock) -> bool:
    """Push the lock's expiry ``ttl_seconds`` ahead; False if the lock is no longer ours."""
    expires = utcnow() + timedelta(seconds=lock.ttl_seconds)
    with store.begin() as conn:
        result = conn.execute(
            update(run_locks)
            .where(run_locks.c.job == lock.job, run_locks.c.token == lock.token)
            .values(expires_at=expires)
        )
    if result.rowcount == 1:
        lock.expires_at = expires
        return True
    return False


def release(store: Store, lock: RunLock) -> None:
    """Give the lock up (only if it is still ours)."""
    with store.begin() as conn:
        conn.execute(
            delete(run_locks).where(run_locks.c.job == lock.job, run_locks.c.token == lock.token)
        )


def _heartbeat(store: Store, lock: RunLock, interval: float) -> None:
    while not lock._stop.wait(interval):
        try:
            if not renew(store, lock):
                lock.lost = True
                log.error("run_lock_lost", lock_job=lock.job, holder=lock.holder)
                return
        except Exception as exc:  # keep trying: the database may be back before the TTL ends
            log.warning("run_lock_heartbeat_failed", lock_job=lock.job, error=str(exc))


def _abandon_left_runs(store: Store, lock: RunLock) -> None:
    """Mark runs of the job a dead process left ``running`` as abandoned (we hold the lock)."""
    try:
        ids = abandon_runs(store, lock.job, found_by=lock.holder)
    except Exception as exc:  # the ledger's tidiness never stops a run
        log.warning("runs_abandon_failed", lock_job=lock.job, error=str(exc))
        return
    if ids:
        log.warning("runs_abandoned", lock_job=lock.job, run_ids=ids)


@contextmanager
def run_lock(
    store: Store,
    job: str,
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
    heartbeat: bool = True,
    heartbeat_interval: float | None = None,
) -> Iterator[RunLock]:
    """Hold the run lock of ``job`` for the ``with`` block; raise LockedError if taken.

    With ``heartbeat`` a daemon thread renews the lock every ``ttl_seconds / 3`` (or
    ``heartbeat_interval``), so only a crashed run's lock expires.
    """
    lock = try_acquire(store, job, ttl_seconds)
    if lock.took_over:
        log.warning(
            "run_lock_taken_over",
            lock_job=job,
            previous_holder=lock.previous_holder,
            reason=lock.took_over,
        )
    log.info("run_lock_acquired", lock_job=job, holder=lock.holder, ttl_seconds=ttl_seconds)
    _abandon_left_runs(store, lock)
    thread = None
    if heartbeat:
        interval = heartbeat_interval or max(ttl_seconds / 3, 0.05)
        ctx = contextvars.copy_context()
        thread = threading.Thread(
            target=ctx.run,
            args=(_heartbeat, store, lock, interval),
            name=f"sfsync-lock-{job}",
            daemon=True,
        )
        thread.start()
    try:
        yield lock
    finally:
        lock._stop.set()
        if thread is not None:
            thread.join()
        try:
            release(store, lock)
            log.info("run_lock_released", lock_job=job)
        except Exception as exc:  # never hide the run's own error; the lock expires anyway
            log.warning("run_lock_release_failed", lock_job=job, error=str(exc))
