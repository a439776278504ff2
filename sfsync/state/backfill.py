"""Backfill progress: which as-of dates of a backfill are done, so that a re-run resumes.

One row per (job, range, as-of date). ``range_key`` names the backfill (``<from>..<to>/<every>``)
so that two different backfills of the same job keep separate progress. A date is ``done``
only when its snapshots are stored and every history record was written; a date that failed
(or was interrupted while ``running``) runs again on the next attempt.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from sfsync.state.db import Store, metadata, utcnow

STATUSES = ("running", "done", "failed")

backfill_progress = Table(
    "backfill_progress",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(200), nullable=False),
    Column("range_key", String(100), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("status", String(20), nullable=False),
    Column("run_id", Integer),
    Column("accounts", Integer),
    Column("history_written", Integer),
    Column("history_failed", Integer),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    Column("error", Text),
    UniqueConstraint("job", "range_key", "as_of"),
)


def range_key(date_from: date, date_to: date, every: str) -> str:
    """The name of one backfill range, e.g. ``2024-04-01..2025-03-01/month``."""
    return f"{date_from.isoformat()}..{date_to.isoformat()}/{every}"


def _upsert(store: Store, values: dict) -> None:
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    stmt = dialect.insert(backfill_progress).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["job", "range_key", "as_of"],
        set_={k: v for k, v in values.items() if k not in ("job", "range_key", "as_of")},
    )
    with store.begin() as conn:
        conn.execute(stmt)


def mark_started(store: Store, job: str, key: str, as_of: date, run_id: int | None) -> None:
    """The date is being computed now (left ``running`` if the process dies)."""
    _upsert(
        store,
        {
            "job": job,
            "range_key": key,
            "as_of": as_of,
            "status": "running",
            "run_id": run_id,
            "started_at": utcnow(),
            "finished_at": None,
            "error": None,
        },
    )


def mark_finished(
    store: Store,
    job: str,
    key: str,
    as_of: date,
    *,
    status: str,
    accounts: int = 0,
    written: int = 0,
    failed: int = 0,
    error: str | None = None,
) -> None:
    """The date finished: ``done`` (all written) or ``failed`` (runs again on resume)."""
    if status not in STATUSES:
        raise ValueError(f"unknown backfill status {status!r}")
    _upsert(
        store,
        {
            "job": job,
            "range_key": key,
            "as_of": as_of,
            "status": status,
            "accounts": accounts,
            "history_written": written,
            "history_failed": failed,
            "finished_at": utcnow(),
            "error": error,
        },
    )


def completed_dates(store: Store, job: str, key: str) -> set[date]:
    """The as-of dates of this backfill that are done."""
    t = backfill_progress
    query = select(t.c.as_of).where(t.c.job == job, t.c.range_key == key, t.c.status == "done")
    with store.connect() as conn:
        return set(conn.execute(query).scalars())


def progress_rows(store: Store, job: str, key: str) -> list[dict]:
    """Every row of this backfill, oldest date first (for reports and tests)."""
    t = backfill_progress
    query = select(t).where(t.c.job == job, t.c.range_key == key).order_by(t.c.as_of)
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
