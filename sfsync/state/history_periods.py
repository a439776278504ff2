"""Which periodic score-history snapshots the nightly job has written (one row per job and
period: the as-of date and run that wrote it). The schedule is
:mod:`sfsync.automation.history_schedule`; a period is marked only when every one of its
history records was written, so a failed write is written again by the next run."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Column, Date, DateTime, Integer, String, Table, UniqueConstraint, select
from sqlalchemy.dialects import postgresql, sqlite

from sfsync.state.db import Store, metadata, utcnow

history_periods = Table(
    "history_periods",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(200), nullable=False),
    Column("period", String(20), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("run_id", Integer),
    Column("records", Integer),
    Column("written_at", DateTime, nullable=False),
    UniqueConstraint("job", "period"),
)


def period_written_on(store: Store, job: str, period: str) -> date | None:
    """The as-of date whose run wrote ``job``'s snapshot of ``period`` (None: not written)."""
    t = history_periods
    query = select(t.c.as_of).where(t.c.job == job, t.c.period == period)
    with store.connect() as conn:
        return conn.execute(query).scalar_one_or_none()


def mark_period_written(
    store: Store, job: str, period: str, as_of: date, run_id: int | None, records: int
) -> None:
    """Record that ``job``'s snapshot of ``period`` was written by the run as of ``as_of``."""
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    values = {"job": job, "period": period, "as_of": as_of, "run_id": run_id,
              "records": records, "written_at": utcnow()}  # fmt: skip
    stmt = dialect.insert(history_periods).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["job", "period"],
        set_={k: v for k, v in values.items() if k not in ("job", "period")},
    )
    with store.begin() as conn:
        conn.execute(stmt)
