"""The run lock: two runs of the same job never overlap (SQLite and PostgreSQL alike).

A lock is a row in ``run_locks`` keyed by job. Taking it is one atomic statement,
``INSERT … ON CONFLICT (job) DO UPDATE … WHERE run_locks.expires_at < now``, inside a write
transaction, followed by reading back who holds the row: whoever's random token is there owns
the lock. A live run's heartbeat thread pushes ``expires_at`` forward; a crashed run stops
doing so and its lock expires after ``ttl_seconds``. Time is the UTC clock of the host.
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
from sqlalchemy import Column, DateTime, String, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sfsync.errors import LockedError
from sfsync.state.db import Store, metadata, utcnow

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
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)


def holder_name() -> str:
    """``host:pid`` of this process, as shown to a run that finds the lock taken."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _insert(store: Store):
    return (postgresql if store.dialect == "postgresql" else sqlite).insert(run_locks)


def try_acquire(store: Store, job: str, ttl_seconds: float, holder: str | None = None) -> RunLock:
    """Take the lock of ``job`` once, or raise LockedError naming the holder and expiry."""
    token = secrets.token_hex(16)
    holder = holder or holder_name()
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    values = {
        "job": job,
        "holder": holder,
        "token": token,
        "acquired_at": now,
        "expires_at": expires,
    }
    stmt = _insert(store).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[run_locks.c.job],
        set_={k: v for k, v in values.items() if k != "job"},
        where=run_locks.c.expires_at < now,
    )
    with store.begin() as conn:
        conn.execute(stmt)
        row = conn.execute(select(run_locks).where(run_locks.c.job == job)).one()
    if row.token != token:
        raise LockedError(
            f"another run of job {job!r} is in progress: the lock is held by {row.holder} "
            f"since {row.acquired_at:%Y-%m-%d %H:%M:%S} UTC and expires at "
            f"{row.expires_at:%Y-%m-%d %H:%M:%S} UTC",
            hint="wait for that run to finish; if it crashed, its lock expires by itself",
        )
    return RunLock(job, holder, token, now, expires, ttl_seconds)


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
    log.info("run_lock_acquired", lock_job=job, holder=lock.holder, ttl_seconds=ttl_seconds)
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
