"""The run ledger: one row per job run (as-of date, start/end, status, counts, API calls)."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    or_,
    select,
)

from sfsync.log import bind_run, redact_text
from sfsync.ports import Store
from sfsync.state.process import pid_alive
from sfsync.state.schema import json_default, metadata, utcnow

RUN_STATUSES = ("running", "succeeded", "failed", "partial", "abandoned")
FINAL_STATUSES = ("succeeded", "failed", "partial")
# "abandoned": the run's process ended without recording an end (killed, host lost); set by a
# later run of the job (:func:`abandon_runs`), never by the run itself.

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(200), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", String(20), nullable=False),
    Column("counts", JSON),
    Column("api_calls", Integer),
    Column("error", Text),
    Column("dry_run", Boolean),
    Column("host", String(255)),
    Column("pid", Integer),
    Index("ix_runs_job_started", "job", "started_at"),
)


@dataclass(frozen=True)
class RunRecord:
    """One row of the run ledger. Timestamps are naive UTC."""

    id: int
    job: str
    as_of: date
    started_at: datetime
    finished_at: datetime | None
    status: str
    counts: dict[str, Any]
    api_calls: int | None
    error: str | None
    dry_run: bool
    host: str | None
    pid: int | None


def start_run(store: Store, job: str, as_of: date, *, dry_run: bool = False) -> int:
    """Record that a run of ``job`` for ``as_of`` started; return its run id.

    Also binds ``run_id`` and ``job`` to the log context (:func:`sfsync.log.bind_run`), so every
    log line of the run carries them until :func:`finish_run`.
    """
    with store.begin() as conn:
        result = conn.execute(
            runs.insert().values(
                job=job,
                as_of=as_of,
                started_at=utcnow(),
                status="running",
                counts={},
                api_calls=0,
                dry_run=dry_run,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        )
        run_id = int(result.inserted_primary_key[0])
    bind_run(run_id, job)
    return run_id


def finish_run(
    store: Store,
    run_id: int,
    status: str,
    counts: dict[str, Any] | None = None,
    api_calls: int = 0,
    error: str | None = None,
) -> None:
    """Record the end of a run: ``status`` is succeeded, failed or partial.

    ``counts`` may hold numpy/pandas numbers; ``error`` is redacted before it is stored.
    """
    if status not in FINAL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}")

    clean_counts = json.loads(json.dumps(counts or {}, default=json_default))
    with store.begin() as conn:
        result = conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(
                finished_at=utcnow(),
                status=status,
                counts=clean_counts,
                api_calls=int(api_calls),
                error=redact_text(error) if error else None,
            )
        )
        if result.rowcount != 1:
            raise KeyError(f"no run with id {run_id}")
    if structlog.contextvars.get_contextvars().get("run_id") == run_id:
        structlog.contextvars.unbind_contextvars("run_id", "job")


def abandon_runs(store: Store, job: str, *, found_by: str, locked: bool = True) -> list[int]:
    """Mark runs of ``job`` (and of ``backfill:<job>``) still ``running`` as ``abandoned``.

    Call it while holding the job's run lock (``locked``): no other run of the job can then
    be writing, so every non-dry run left ``running`` belongs to a process that died or lost
    its lock. Dry runs take no lock; one is abandoned only if it ran on this host and its
    process is gone. ``found_by`` (``host:pid`` of the caller) goes into the run's error.
    Returns the ids marked, oldest first.
    """
    host = socket.gethostname()
    jobs = (job, f"backfill:{job}")
    query = select(runs.c.id, runs.c.host, runs.c.pid, runs.c.dry_run).where(
        runs.c.job.in_(jobs), runs.c.status == "running"
    )
    marked: list[tuple[int, str | None, int | None]] = []
    with store.begin() as conn:
        for row in conn.execute(query.order_by(runs.c.id)):
            needs_dead_pid = row.dry_run or not locked
            if needs_dead_pid and (
                row.host != host or row.pid is None or pid_alive(row.pid) is not False
            ):
                continue
            marked.append((row.id, row.host, row.pid))
        now = utcnow()
        for run_id, run_host, run_pid in marked:
            conn.execute(
                runs.update()
                .where(and_(runs.c.id == run_id, runs.c.status == "running"))
                .values(
                    status="abandoned",
                    finished_at=now,
                    error=(
                        f"abandoned: its process {run_host}:{run_pid} ended without finishing "
                        f"the run (found by the run of {found_by})"
                    ),
                )
            )
    return [run_id for run_id, _, _ in marked]


def running_runs(store: Store, job: str | None = None) -> list[RunRecord]:
    """Runs still marked ``running`` (of ``job``, or of every job), oldest first."""
    query = select(runs).where(runs.c.status == "running")
    if job is not None:
        query = query.where(or_(runs.c.job == job, runs.c.job == f"backfill:{job}"))
    with store.connect() as conn:
        return [_record(row) for row in conn.execute(query.order_by(runs.c.id))]


def _record(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        job=row.job,
        as_of=row.as_of,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        counts=row.counts or {},
        api_calls=row.api_calls,
        error=row.error,
        dry_run=bool(row.dry_run),
        host=row.host,
        pid=row.pid,
    )


def get_run(store: Store, run_id: int) -> RunRecord | None:
    """The run with this id, or None."""
    with store.connect() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return _record(row) if row else None


def last_runs(store: Store, job: str, n: int = 10) -> list[RunRecord]:
    """The ``n`` most recent runs of ``job``, newest first."""
    query = (
        select(runs).where(runs.c.job == job).order_by(runs.c.started_at.desc(), runs.c.id.desc())
    )
    with store.connect() as conn:
        return [_record(row) for row in conn.execute(query.limit(n))]
