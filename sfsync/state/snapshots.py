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
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    Date,
    Float,
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
COPY_THRESHOLD = 2000  # rows; above this PostgreSQL loads through COPY
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
    Column("main_contact_id", String(255)),  # compared by the next run (contact_changed)
    Column("category_points", Text),  # JSON object {"usage": 30.0, ...}
    Column("measure_points", Text),  # JSON object {"deliveries": 15.0, ...} (calibration)
    Column("arr", Float),  # the account's ARR on the as-of date (NRR from ARR snapshots)
    UniqueConstraint("scorecard", "account_id", "as_of"),
    Index("ix_score_snapshots_scorecard_as_of", "scorecard", "as_of"),
)

TEXT_COLUMNS = ("health_band", "segment", "lifecycle_phase", "signals", "owner_id",
                "main_contact_id")  # fmt: skip
FRAME_COLUMNS = ["account_id", "as_of", "health_score", "health_band", "health_trend",
                 "segment", "lifecycle_phase", "signals", "owner_id", "arr",
                 "main_contact_id"]  # fmt: skip


def _integers(frame: pd.DataFrame, column: str) -> list:
    if column not in frame.columns:
        return [None] * len(frame)
    values = pd.to_numeric(frame[column], errors="coerce").round().astype("Int64")
    return [None if v is pd.NA else int(v) for v in values]


def _floats(frame: pd.DataFrame, column: str) -> list:
    if column not in frame.columns:
        return [None] * len(frame)
    values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return [None if pd.isna(v) else float(v) for v in values]


def _texts(frame: pd.DataFrame, column: str) -> list:
    if column not in frame.columns:
        return [None] * len(frame)
    values = frame[column].astype("object")
    return [None if pd.isna(v) else str(v) for v in values]


def _points_json(frame: pd.DataFrame) -> list[str]:
    points = frame[
        [c for c in frame.columns if c.endswith(POINTS_SUFFIX) and c != "measure_points"]
    ]
    if points.columns.empty:
        return ["{}"] * len(frame)
    points = points.apply(pd.to_numeric, errors="coerce").astype("float64")
    points.columns = [c.removesuffix(POINTS_SUFFIX) for c in points.columns]
    points = points[sorted(points.columns)].reset_index(drop=True)
    return points.to_json(orient="records", lines=True).splitlines()  # NaN -> null


def _rows(run_id: int | None, scorecard: str, as_of: date, frame: pd.DataFrame) -> Iterator[dict]:
    """One dict per row with the table's columns (vectorised per column, then zipped)."""
    columns = {
        "account_id": [str(a) for a in frame["account_id"]],
        "health_score": _integers(frame, "health_score"),
        "health_trend": _integers(frame, "health_trend"),
        **{c: _texts(frame, c) for c in TEXT_COLUMNS},
        "category_points": _points_json(frame),
        "measure_points": _texts(frame, "measure_points"),
        "arr": _floats(frame, "arr"),
    }
    names = list(columns)
    for values in zip(*columns.values(), strict=True):
        row = dict(zip(names, values, strict=True))
        row.update(run_id=run_id, scorecard=scorecard, as_of=as_of)
        yield row


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
    ``lifecycle_phase``, ``signals``, ``owner_id``, ``arr``, ``main_contact_id`` (each optional) and
    every ``*_points`` column.
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
    rows = _rows(run_id, scorecard, as_of, scores)
    total = 0
    with store.begin() as conn:
        if store.dialect == "postgresql" and len(scores) > COPY_THRESHOLD:
            return _copy_upsert(conn, rows, list(updated))
        for chunk in _chunks(rows, CHUNK_ROWS):
            conn.execute(upsert, chunk)
            total += len(chunk)
    return total


def _copy_upsert(conn, rows: Iterable[dict], updated: list[str]) -> int:
    """PostgreSQL: COPY into a temporary table, then one INSERT … ON CONFLICT from it."""
    columns = ["scorecard", "account_id", "as_of", *updated]
    cursor = conn.connection.driver_connection.cursor()
    cursor.execute(
        "CREATE TEMP TABLE score_snapshots_load "
        "(LIKE score_snapshots INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    total = 0
    names = ", ".join(columns)
    with cursor.copy(f"COPY score_snapshots_load ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
            total += 1
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    cursor.execute(
        f"INSERT INTO score_snapshots ({names}) SELECT {names} FROM score_snapshots_load "
        f"ON CONFLICT (scorecard, account_id, as_of) DO UPDATE SET {assignments}"
    )
    cursor.execute("DROP TABLE score_snapshots_load")
    return total


save_scores = save_snapshots  # the name the pipeline uses


def with_arr(scores: pd.DataFrame, accounts: pd.DataFrame | None) -> pd.DataFrame:
    """``scores`` plus each account's ``arr`` from ``accounts`` (kept in the snapshot, so the
    monthly KPI job can compute NRR from ARR snapshots); unchanged when either lacks it."""
    if accounts is None or "arr" in scores.columns or "arr" not in accounts.columns:
        return scores
    arr = accounts[["account_id", "arr"]].drop_duplicates("account_id")
    return scores.merge(arr, on="account_id", how="left")


def with_measure_points(scores: pd.DataFrame, explanations: pd.DataFrame | None) -> pd.DataFrame:
    """``scores`` plus a ``measure_points`` column: each account's points per measure as JSON
    (null for a measure that did not apply), from the scoring result's long explanations."""
    if explanations is None or explanations.empty or "measure" not in explanations.columns:
        return scores
    wide = explanations.pivot_table(
        index="account_id", columns="measure", values="points", aggfunc="first", dropna=False
    )
    wide = wide.apply(pd.to_numeric, errors="coerce").astype("float64")
    wide = wide[sorted(wide.columns)]
    texts = pd.Series(
        wide.to_json(orient="records", lines=True).splitlines(), index=wide.index, dtype="object"
    )
    out = scores.copy()
    out["measure_points"] = out["account_id"].map(texts)
    return out


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
    frame["arr"] = pd.to_numeric(frame["arr"], errors="coerce").astype("float64")
    return frame


def _select_columns():
    return [*(score_snapshots.c[c] for c in FRAME_COLUMNS), score_snapshots.c.scorecard,
            score_snapshots.c.category_points]  # fmt: skip


def previous_scores(
    store: Store, as_of: date | str, scorecard: str | date = "default"
) -> pd.DataFrame:
    """Each account's latest snapshot of ``scorecard`` strictly before ``as_of``.

    Called as ``previous_scores(store, as_of, scorecard="default")``; the order
    ``previous_scores(store, scorecard, as_of)`` is accepted too.

    Columns: account_id, as_of, health_score (Int64), health_band, health_trend, segment,
    lifecycle_phase, signals, owner_id, arr (float64), main_contact_id, scorecard,
    ``<category>_points`` (float64).
    Empty (with those base columns) when there is no earlier snapshot.
    """
    if isinstance(as_of, str) and isinstance(scorecard, date):
        as_of, scorecard = scorecard, as_of
    return _latest(store, str(scorecard), score_snapshots.c.as_of < as_of)


def scores_on_or_before(store: Store, scorecard: str, day: date) -> pd.DataFrame:
    """Each account's latest snapshot of ``scorecard`` on or before ``day`` (the trend
    baseline: ``day`` = as-of − the trend window); the columns of :func:`previous_scores`."""
    return _latest(store, scorecard, score_snapshots.c.as_of <= day)


def _latest(store: Store, scorecard: str, when: Any) -> pd.DataFrame:
    s = score_snapshots
    ranked = (
        select(
            *_select_columns(),
            func.row_number()
            .over(partition_by=s.c.account_id, order_by=s.c.as_of.desc())
            .label("recency"),
        )
        .where(s.c.scorecard == scorecard, when)
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
