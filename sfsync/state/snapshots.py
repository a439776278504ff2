"""Score snapshots: each account's score per scorecard and as-of date (trends and history).

One row per (scorecard, account_id, as_of); saving again for the same key replaces the row
(a re-run on the same day). Category points (every ``<category>_points`` column of the scores
frame, whatever the scorecard's categories are) are kept in a JSON column and come back as
columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from sfsync.state.db import Store, metadata

CHUNK_ROWS = 5000
POINTS_SUFFIX = "_points"

score_snapshots = Table(
    "score_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("scorecard", String(100), nullable=False),
    Column("account_id", String(18), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("health_score", Integer),
    Column("health_band", String(20)),
    Column("health_trend", Integer),
    Column("segment", String(5)),
    Column("lifecycle_phase", String(20)),
    Column("signals", Text),
    Column("owner_id", String(18)),
    Column("category_points", Text),  # JSON object {"usage": 30.0, ...}
    UniqueConstraint("scorecard", "account_id", "as_of"),
    Index("ix_score_snapshots_scorecard_as_of", "scorecard", "as_of"),
)

TEXT_COLUMNS = ("health_band", "segment", "lifecycle_phase", "signals", "owner_id")
FRAME_COLUMNS = ["account_id", "as_of", "health_score", "health_band", "health_trend",
                 "segment", "lifecycle_phase", "signals", "owner_id"]  # fmt: skip


def _clean(value):
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if value is pd.NaT:
        return None
    return value.item() if hasattr(value, "item") else value


def _rows(run_id: int | None, scorecard: str, as_of: date, frame: pd.DataFrame) -> Iterator[dict]:
    points_cols = [c for c in frame.columns if c.endswith(POINTS_SUFFIX)]
    records = frame.to_dict("records")
    for rec in records:
        points = {c.removesuffix(POINTS_SUFFIX): _clean(rec[c]) for c in points_cols}
        score = _clean(rec.get("health_score"))
        trend = _clean(rec.get("health_trend"))
        yield {
            "run_id": run_id,
            "scorecard": scorecard,
            "account_id": str(rec["account_id"]),
            "as_of": as_of,
            "health_score": None if score is None else int(score),
            "health_trend": None if trend is None else int(round(trend)),
            **{c: (None if (v := _clean(rec.get(c))) is None else str(v)) for c in TEXT_COLUMNS},
            "category_points": json.dumps(points, sort_keys=True),
        }


def _chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def save_snapshots(
    store: Store, run_id: int | None, scorecard: str, as_of: date, scores: pd.DataFrame
) -> int:
    """Insert or replace one snapshot per row of ``scores`` (needs ``account_id``); return rows.

    Used columns: ``health_score``, ``health_band``, ``health_trend``, ``segment``,
    ``lifecycle_phase``, ``signals``, ``owner_id`` (each optional) and every ``*_points`` column.
    Written in chunks with executemany in one transaction: all rows or none.
    """
    if "account_id" not in scores.columns:
        raise ValueError("the scores frame needs an account_id column")
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    stmt = dialect.insert(score_snapshots)
    updated = {
        c.name: stmt.excluded[c.name]
        for c in score_snapshots.columns
        if c.name not in ("id", "scorecard", "account_id", "as_of")
    }
    upsert = stmt.on_conflict_do_update(
        index_elements=["scorecard", "account_id", "as_of"], set_=updated
    )
    total = 0
    with store.begin() as conn:
        for chunk in _chunks(_rows(run_id, scorecard, as_of, scores), CHUNK_ROWS):
            conn.execute(upsert, chunk)
            total += len(chunk)
    return total


def _frame(rows: list) -> pd.DataFrame:
    frame = pd.DataFrame(
        [tuple(r) for r in rows], columns=[*FRAME_COLUMNS, "scorecard", "category_points"]
    )
    points = [json.loads(p) if p else {} for p in frame["category_points"]]
    points_frame = pd.DataFrame.from_records(points, index=frame.index)
    points_frame = points_frame.astype("float64").add_suffix(POINTS_SUFFIX)
    frame = pd.concat([frame.drop(columns=["category_points"]), points_frame], axis=1)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    frame["health_score"] = frame["health_score"].astype("Int64")
    frame["health_trend"] = frame["health_trend"].astype("Int64")
    return frame


def _select_columns():
    return [*(score_snapshots.c[c] for c in FRAME_COLUMNS), score_snapshots.c.scorecard,
            score_snapshots.c.category_points]  # fmt: skip


def previous_scores(store: Store, scorecard: str, as_of: date) -> pd.DataFrame:
    """Each account's latest snapshot of ``scorecard`` strictly before ``as_of``.

    Columns: account_id, as_of, health_score (Int64), health_band, health_trend, segment,
    lifecycle_phase, signals, owner_id, scorecard, ``<category>_points`` (float64).
    Empty (with those base columns) when there is no earlier snapshot.
    """
    s = score_snapshots
    ranked = (
        select(
            *_select_columns(),
            func.row_number()
            .over(partition_by=s.c.account_id, order_by=s.c.as_of.desc())
            .label("recency"),
        )
        .where(s.c.scorecard == scorecard, s.c.as_of < as_of)
        .subquery()
    )
    names = [*FRAME_COLUMNS, "scorecard", "category_points"]
    query = (
        select(*(ranked.c[n] for n in names))
        .where(ranked.c.recency == 1)
        .order_by(ranked.c.account_id)
    )
    with store.connect() as conn:
        return _frame(conn.execute(query).all())


def history(
    store: Store,
    date_from: date,
    date_to: date,
    *,
    scorecard: str | None = None,
    account_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Every snapshot with ``date_from <= as_of <= date_to`` (optionally one scorecard or some
    accounts), ordered by account and date; the columns of :func:`previous_scores`."""
    s = score_snapshots
    query = select(*_select_columns()).where(s.c.as_of >= date_from, s.c.as_of <= date_to)
    if scorecard is not None:
        query = query.where(s.c.scorecard == scorecard)
    if account_ids is not None:
        query = query.where(s.c.account_id.in_(list(account_ids)))
    with store.connect() as conn:
        return _frame(conn.execute(query.order_by(s.c.account_id, s.c.as_of)).all())


def snapshot_dates(store: Store, scorecard: str) -> list[date]:
    """The as-of dates that have snapshots for ``scorecard``, oldest first."""
    s = score_snapshots
    query = select(s.c.as_of).where(s.c.scorecard == scorecard).distinct().order_by(s.c.as_of)
    with store.connect() as conn:
        return list(conn.execute(query).scalars())
