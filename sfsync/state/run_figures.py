"""Run figures: what each run read and was about to write, the baseline of the guards.

One row per run and kind: ``input:<role>`` (a source's figures, ``sfsync.guards.inputs``) or
``output`` (the plan's figures, ``sfsync.guards.outputs``). Only runs that finished
(``succeeded`` or ``partial``, not dry runs) count as a baseline; a run stopped by a guard
records nothing, so the next night is compared with the last good one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, Index, Integer, String, Table, and_, select

from sfsync.state.db import Store, metadata, utcnow
from sfsync.state.runs import runs

GOOD_STATUSES = ("succeeded", "partial")

run_figures = Table(
    "run_figures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("job", String(200), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("figures", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_run_figures_job_kind", "job", "kind", "run_id"),
)


@dataclass(frozen=True)
class StoredFigures:
    """The figures of one earlier run."""

    run_id: int
    as_of: date
    figures: dict[str, Any]

    @property
    def label(self) -> str:
        return f"the last successful run ({self.run_id}, as of {self.as_of.isoformat()})"


def record_figures(
    store: Store, run_id: int, job: str, as_of: date, kind: str, figures: dict[str, Any]
) -> None:
    """Keep a run's figures of one kind (replacing any the same run recorded before)."""
    with store.begin() as conn:
        conn.execute(
            run_figures.delete().where(
                and_(run_figures.c.run_id == run_id, run_figures.c.kind == kind)
            )
        )
        conn.execute(
            run_figures.insert().values(
                run_id=run_id,
                job=job,
                as_of=as_of,
                kind=kind,
                figures=figures,
                created_at=utcnow(),
            )
        )


def _good_runs(job: str, kind: str):
    f = run_figures
    return (
        select(f.c.run_id, f.c.as_of, f.c.figures)
        .join(runs, runs.c.id == f.c.run_id)
        .where(
            f.c.job == job,
            f.c.kind == kind,
            runs.c.status.in_(GOOD_STATUSES),
            runs.c.dry_run.is_not(True),
        )
    )


def last_good_figures(
    store: Store, job: str, kind: str, *, before_run: int | None = None
) -> StoredFigures | None:
    """The figures of the latest finished run of ``job`` (before run ``before_run``), or None."""
    query = _good_runs(job, kind)
    if before_run is not None:
        query = query.where(run_figures.c.run_id < before_run)
    with store.connect() as conn:
        row = conn.execute(query.order_by(run_figures.c.run_id.desc()).limit(1)).first()
    return StoredFigures(row.run_id, row.as_of, dict(row.figures)) if row else None


def recent_figures(
    store: Store, job: str, kind: str, as_of: date, *, days: int
) -> list[StoredFigures]:
    """The figures of the finished runs of ``job`` as of the ``days`` days up to ``as_of``."""
    query = _good_runs(job, kind).where(
        run_figures.c.as_of >= as_of - timedelta(days=days), run_figures.c.as_of <= as_of
    )
    with store.connect() as conn:
        rows = conn.execute(query.order_by(run_figures.c.run_id)).all()
    return [StoredFigures(r.run_id, r.as_of, dict(r.figures)) for r in rows]
