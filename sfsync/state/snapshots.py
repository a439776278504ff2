"""Score snapshots: each account's score per scorecard and as-of date (trends and history).

Stored as changes (:mod:`sfsync.state.snapshot_changes`): a save writes a row only for the
accounts whose stored values differ from their latest row before the date, and a tombstone
(``gone``) for an account scored before but not now; ``score_snapshot_dates`` lists the dates
that have snapshots. The readers give what a row per account and date would: an account's
snapshot on a date is its latest row on or before it. Saving again for the same date is an
upsert per account (a re-run on the same day). Category points (every ``<category>_points``
column of the scores frame, whatever the scorecard's categories are) are kept in a JSON column
and come back as columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite

from sfsync.state.db import Store, metadata
from sfsync.state.reads import days as day_values
from sfsync.state.reads import fetch_columns
from sfsync.state.snapshot_changes import (
    STATE_COLUMNS,
    VALUE_COLUMNS,
    SavePlan,
    kept_rows,
    plan_save,
    snapshot_day,
    spread,
    state_columns,
)

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
    Column("gone", Boolean),  # true: not scored from this date on (a tombstone, no values)
    UniqueConstraint("scorecard", "account_id", "as_of"),
    Index("ix_score_snapshots_scorecard_as_of", "scorecard", "as_of"),
)

# The dates that have snapshots, per scorecard (a date whose rows all equal the day before's
# has no row in score_snapshots).
score_snapshot_dates = Table(
    "score_snapshot_dates",
    metadata,
    Column("scorecard", String(100), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("accounts", Integer, nullable=False),  # accounts with a snapshot on the date
)

TEXT_COLUMNS = ("health_band", "segment", "lifecycle_phase", "signals", "owner_id",
                "main_contact_id")  # fmt: skip
FRAME_COLUMNS = ["account_id", "as_of", "health_score", "health_band", "health_trend",
                 "segment", "lifecycle_phase", "signals", "owner_id", "arr",
                 "main_contact_id"]  # fmt: skip


def _nones(n: int) -> np.ndarray:
    return np.full(n, None, dtype=object)


def _with_nones(values: list, missing: np.ndarray) -> np.ndarray:
    """``values`` (Python objects) as an object array, None where ``missing``."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    out[missing] = None
    return out


def _integers(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return _nones(len(frame))
    values = pd.to_numeric(frame[column], errors="coerce").round().astype("Int64")
    missing = values.isna().to_numpy(dtype=bool)
    return _with_nones(values.to_numpy(dtype="int64", na_value=0).tolist(), missing)  # ints


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return _nones(len(frame))
    values = pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy()
    return _with_nones(values.tolist(), np.isnan(values))  # Python floats


def _texts(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return _nones(len(frame))
    return _strings(frame[column])


def _strings(column: pd.Series) -> np.ndarray:
    """Each value as ``str`` (None where missing), converting only values that are not
    ``str`` already."""
    values = column.astype("object").to_numpy()
    missing = pd.isna(values)
    out = values.copy()
    out[missing] = None
    present = out[~missing]
    if set(map(type, present)) - {str}:
        out[~missing] = [str(v) for v in present]
    return out


def _points_json(frame: pd.DataFrame) -> np.ndarray:
    points = frame[
        [c for c in frame.columns if c.endswith(POINTS_SUFFIX) and c != "measure_points"]
    ]
    if points.columns.empty:
        return np.full(len(frame), "{}", dtype=object)
    points = points.apply(pd.to_numeric, errors="coerce").astype("float64")
    points.columns = [c.removesuffix(POINTS_SUFFIX) for c in points.columns]
    points = points[sorted(points.columns)].reset_index(drop=True)
    return _with_nones(  # NaN -> null
        points.to_json(orient="records", lines=True).splitlines(), np.zeros(len(frame), bool)
    )


def stored_values(frame: pd.DataFrame) -> pd.DataFrame:
    """The values a snapshot row stores for each row of ``frame`` (Python ints, floats, texts,
    the points as JSON; None for missing), indexed by account_id (the last row of an account
    wins), columns :data:`VALUE_COLUMNS` (vectorised per column)."""
    columns = {
        "health_score": _integers(frame, "health_score"),
        "health_trend": _integers(frame, "health_trend"),
        **{c: _texts(frame, c) for c in TEXT_COLUMNS},
        "category_points": _points_json(frame),
        "measure_points": _texts(frame, "measure_points"),
        "arr": _floats(frame, "arr"),
    }
    ids = frame["account_id"].astype("object").to_numpy()
    if set(map(type, ids)) - {str}:
        ids = np.array([str(a) for a in ids] or [], dtype=object)
    index = pd.Index(ids, name="account_id", dtype="object")
    values = pd.DataFrame(columns, index=index, dtype="object")[list(VALUE_COLUMNS)]
    return values[~values.index.duplicated(keep="last")]


def save_snapshots(
    store: Store, run_id: int | None, scorecard: str, as_of: date, scores: pd.DataFrame
) -> int:
    """Store the snapshot of every row of ``scores`` (needs ``account_id``) as of ``as_of``;
    return the rows written (only changes are: an unchanged night writes none).

    Used columns: ``health_score``, ``health_band``, ``health_trend``, ``segment``,
    ``lifecycle_phase``, ``signals``, ``owner_id``, ``arr``, ``main_contact_id`` (each optional) and
    every ``*_points`` column. An account scored before but not in ``scores`` has no snapshot on
    ``as_of`` (a new date) or keeps its snapshot of that date (a date saved before: a re-run).
    A date saved before a later one (a backfill) carries the later date's states forward.
    A row already on ``as_of`` with the values to store is kept as it is (with the run that
    stored it): a re-run of an unchanged date rewrites nothing. Everything is written in one
    transaction: all rows or none. An empty frame stores nothing.
    """
    if "account_id" not in scores.columns:
        raise ValueError("the scores frame needs an account_id column")
    new = stored_values(scores)
    if new.empty:
        return 0
    s, d = score_snapshots, score_snapshot_dates
    mine = s.c.scorecard == scorecard
    with store.begin() as conn:
        known = conn.execute(
            select(d.c.as_of).where(d.c.scorecard == scorecard, d.c.as_of == as_of)
        ).first()
        following = conn.execute(
            select(func.min(d.c.as_of)).where(d.c.scorecard == scorecard, d.c.as_of > as_of)
        ).scalar()
        query = _states_query(scorecard, as_of, store.dialect)
        before = state_columns(fetch_columns(conn, query))
        here = state_columns(fetch_columns(conn, _state_rows().where(mine, s.c.as_of == as_of)))
        at_next = None
        if following is not None:
            query = select(s.c.account_id).where(mine, s.c.as_of == following)
            at_next = set(conn.execute(query).scalars())
        plan = plan_save(
            new, before, here, date_known=known is not None, run_id=run_id, next_accounts=at_next
        )
        kept = kept_rows(plan.on_date, here)  # a re-run: rows it would write again as they are
        stale = here.index.difference(kept)
        on_date = s.c.as_of == as_of
        if len(stale) == len(here):
            conn.execute(delete(s).where(mine, on_date))
        else:
            for start in range(0, len(stale), CHUNK_ROWS):
                chunk = stale[start : start + CHUNK_ROWS].tolist()
                conn.execute(delete(s).where(mine, on_date, s.c.account_id.in_(chunk)))
        fresh = plan.on_date.loc[~plan.on_date.index.isin(kept)]
        written = _insert(conn, store.dialect, scorecard, as_of, fresh)
        if following is not None:
            written += _insert(conn, store.dialect, scorecard, following, plan.on_next)
            drop_repeats(conn, scorecard, [following])  # rows there may now repeat these
        _record_date(conn, store.dialect, scorecard, as_of, plan)
    return written


def drop_repeats(conn: Connection, scorecard: str, on_dates: list[date] | None = None) -> int:
    """Delete the rows (dated ``on_dates``, or any) that say nothing new: a row equal to the
    account's previous row, a tombstone after a tombstone, a tombstone with no earlier row.
    Return how many."""
    s = score_snapshots
    window = {"partition_by": s.c.account_id, "order_by": s.c.as_of}
    lagged = select(
        s.c.id,
        s.c.as_of,
        s.c.gone,
        *(s.c[c] for c in VALUE_COLUMNS),
        func.lag(s.c.id).over(**window).label("prev_id"),
        func.lag(s.c.gone).over(**window).label("prev_gone"),
        *(func.lag(s.c[c]).over(**window).label(f"prev_{c}") for c in VALUE_COLUMNS),
    ).where(s.c.scorecard == scorecard)
    if on_dates is not None:
        touched = select(s.c.account_id).where(s.c.scorecard == scorecard, s.c.as_of.in_(on_dates))
        lagged = lagged.where(s.c.account_id.in_(touched))
    row = lagged.subquery().c
    same = and_(*(row[c].is_not_distinct_from(row[f"prev_{c}"]) for c in VALUE_COLUMNS))
    repeat = or_(
        and_(row.prev_id.is_(None), row.gone.is_(True)),
        and_(row.prev_id.is_not(None), row.gone == row.prev_gone, or_(row.gone.is_(True), same)),
    )
    redundant = select(row.id).where(repeat)
    if on_dates is not None:
        redundant = redundant.where(row.as_of.in_(on_dates))
    return int(conn.execute(delete(s).where(s.c.id.in_(redundant))).rowcount or 0)


def _state_rows():
    s = score_snapshots
    return select(s.c.account_id, *(s.c[c] for c in STATE_COLUMNS))


def latest_rows(names: list[str], *where: Any):
    """A select of each account's latest row (by as_of) among the snapshot rows matching
    ``where`` (value or tombstone): the columns ``names``."""
    s = score_snapshots
    ranked = (
        select(
            *(s.c[n] for n in names),
            func.row_number()
            .over(partition_by=s.c.account_id, order_by=s.c.as_of.desc())
            .label("recency"),
        )
        .where(*where)
        .subquery()
    )
    return select(*(ranked.c[n] for n in names)).where(ranked.c.recency == 1)


def _newest(table, scorecard: str, upto: Any, *also: Any):
    """The conditions of a row of ``table`` (score_snapshots or an alias) that is its
    account's latest row of ``scorecard`` with ``upto(as_of)`` and ``also(table)``:
    no later such row exists (an anti-join on the unique (scorecard, account_id, as_of) index,
    cheaper than ranking every row with a window function, on SQLite and PostgreSQL)."""
    later = score_snapshots.alias("later")
    newer = select(later.c.id).where(
        later.c.scorecard == table.c.scorecard,
        later.c.account_id == table.c.account_id,
        later.c.as_of > table.c.as_of,
        upto(later.c.as_of),
        *(condition(later) for condition in also),
    )
    return [
        table.c.scorecard == scorecard,
        upto(table.c.as_of),
        *(condition(table) for condition in also),
        ~newer.exists(),
    ]


def _states_query(scorecard: str, as_of: date, dialect: str):
    """Each account's latest row (value or tombstone) of ``scorecard`` before ``as_of``
    (SQLite: an anti-join; PostgreSQL, whose planner may pick a nested loop for it on
    unanalysed tables: ranked by a window function, on the server)."""
    s = score_snapshots
    names = ["account_id", *STATE_COLUMNS]
    if dialect == "postgresql":
        return latest_rows(names, s.c.scorecard == scorecard, s.c.as_of < as_of)
    return select(*(s.c[n] for n in names)).where(*_newest(s, scorecard, lambda c: c < as_of))


def _record_date(conn, dialect: str, scorecard: str, as_of: date, plan: SavePlan) -> None:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(score_snapshot_dates)
    values = {"scorecard": scorecard, "as_of": as_of, "accounts": plan.accounts}
    conn.execute(
        insert.values(**values).on_conflict_do_update(
            index_elements=["scorecard", "as_of"], set_={"accounts": plan.accounts}
        )
    )


def _insert(conn, dialect: str, scorecard: str, as_of: date, frame: pd.DataFrame) -> int:
    """Insert a state frame's rows dated ``as_of`` (none of them exists yet)."""
    if frame.empty:
        return 0
    n = len(frame)
    columns = ["scorecard", "account_id", "as_of", *STATE_COLUMNS]
    day: Any = as_of.isoformat() if dialect == "sqlite" else as_of  # SQLite: as SQLAlchemy stores
    values = {
        "scorecard": [scorecard] * n,
        "account_id": frame.index.tolist(),
        "as_of": [day] * n,
        "gone": frame["gone"].astype(bool).tolist(),
        **{c: frame[c].tolist() for c in ("run_id", *VALUE_COLUMNS)},  # Python objects
    }
    rows = list(zip(*(values[c] for c in columns), strict=True))
    names = ", ".join(columns)
    if dialect == "postgresql" and n > COPY_THRESHOLD:
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY score_snapshots ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return n
    cursor = conn.connection.driver_connection.cursor()
    marks = ", ".join(["?" if dialect == "sqlite" else "%s"] * len(columns))
    sql = f"INSERT INTO score_snapshots ({names}) VALUES ({marks})"
    for start in range(0, n, CHUNK_ROWS):
        cursor.executemany(sql, rows[start : start + CHUNK_ROWS])
    return n


save_scores = save_snapshots  # the name the pipeline uses


def with_arr(scores: pd.DataFrame, accounts: pd.DataFrame | None) -> pd.DataFrame:
    """``scores`` plus each account's ``arr`` from ``accounts`` (kept in the snapshot, so the
    monthly KPI job can compute NRR from ARR snapshots); unchanged when either lacks it."""
    if accounts is None or "arr" in scores.columns or "arr" not in accounts.columns:
        return scores
    arr = accounts[["account_id", "arr"]].drop_duplicates("account_id")
    return scores.merge(arr, on="account_id", how="left")


def with_measure_points(scores: pd.DataFrame, points: pd.DataFrame | None) -> pd.DataFrame:
    """``scores`` plus a ``measure_points`` column: each account's points per measure as JSON
    (null for a measure that did not apply), from the scoring result's
    :attr:`~sfsync.scoring.result.ScoreResult.measure_points` (index ``account_id``, a float
    column per measure)."""
    if points is None or points.empty or not len(points.columns):
        return scores
    wide = points[sorted(points.columns)].astype("float64")
    texts = pd.Series(
        wide.to_json(orient="records", lines=True).splitlines(), index=wide.index, dtype="object"
    )
    out = scores.copy()
    out["measure_points"] = out["account_id"].map(texts)
    return out


def _frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Stored rows (:data:`FRAME_COLUMNS`, scorecard, category_points) -> the readers' frame."""
    frame = raw.reset_index(drop=True)
    points_frame = pd.DataFrame.from_records(_points(frame["category_points"]), index=frame.index)
    points_frame = points_frame.astype("float64").add_suffix(POINTS_SUFFIX)
    frame = pd.concat([frame.drop(columns=["category_points"]), points_frame], axis=1)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    frame["health_score"] = frame["health_score"].astype("Int64")
    frame["health_trend"] = frame["health_trend"].astype("Int64")
    frame["arr"] = pd.to_numeric(frame["arr"], errors="coerce").astype("float64")
    return frame


def _points(texts: pd.Series) -> list[dict]:
    """The category points JSON of each row as a dict (``{}`` for none), decoded in one go
    (one JSON array); row by row with :mod:`json` when that fails (e.g. ``NaN`` written by an
    old version), which reads what orjson rejects."""
    values = texts.astype("object").tolist()
    parts = [p if p else "{}" for p in values]
    try:
        decoded = orjson.loads("[" + ",".join(parts) + "]")
    except (orjson.JSONDecodeError, TypeError):
        return [json.loads(p) if p else {} for p in values]
    if len(decoded) != len(parts):  # a text holding more than one value
        return [json.loads(p) if p else {} for p in values]
    return decoded


READ_COLUMNS = [*FRAME_COLUMNS, "scorecard", "category_points"]


def _raw(rows: list, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


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
    return _latest(store, str(scorecard), as_of, inclusive=False)


def scores_on_or_before(store: Store, scorecard: str, day: date) -> pd.DataFrame:
    """Each account's latest snapshot of ``scorecard`` on or before ``day`` (the trend
    baseline: ``day`` = as-of − the trend window); the columns of :func:`previous_scores`."""
    return _latest(store, scorecard, day, inclusive=True)


def _latest(store: Store, scorecard: str, day: Any, *, inclusive: bool) -> pd.DataFrame:
    """Each account's latest non-tombstone row up to ``day``, dated the last snapshot date
    before the row that ended it (a tombstone) or, when none did, the last one up to ``day``."""
    s, d = score_snapshots, score_snapshot_dates
    upto = (lambda c: c <= day) if inclusive else (lambda c: c < day)
    nxt = score_snapshots.alias("next")
    ended = (  # the date of the row after it (a tombstone), if any
        select(func.min(nxt.c.as_of))
        .where(
            nxt.c.scorecard == s.c.scorecard,
            nxt.c.account_id == s.c.account_id,
            nxt.c.as_of > s.c.as_of,
            upto(nxt.c.as_of),
        )
        .scalar_subquery()
        .label("ended")
    )
    alive = (lambda table: table.c.gone.is_not(True),)
    query = (
        select(*(s.c[c] for c in READ_COLUMNS), ended)
        .where(*_newest(s, scorecard, upto, *alive))
        .order_by(s.c.account_id)
    )
    if store.dialect == "postgresql":
        query = _ranked_latest(scorecard, upto)
    days_query = select(d.c.as_of).where(d.c.scorecard == scorecard, upto(d.c.as_of))
    with store.connect() as conn:
        columns = fetch_columns(conn, query)
        days = list(conn.execute(days_query.order_by(d.c.as_of)).scalars())
    if columns["account_id"]:  # per column: the dtypes _raw infers from rows
        raw = pd.DataFrame({n: list(columns[n]) for n in READ_COLUMNS})
    else:
        raw = _raw([], READ_COLUMNS)
    raw["as_of"] = snapshot_day(days, day_values(columns["as_of"]), day_values(columns["ended"]))
    return _frame(raw)


def _ranked_latest(scorecard: str, upto: Any):
    """The query of :func:`_latest` with window functions (PostgreSQL, on the server)."""
    s = score_snapshots
    window = {"partition_by": s.c.account_id}
    rows = (
        select(
            *(s.c[c] for c in READ_COLUMNS),
            s.c.gone,
            func.lead(s.c.as_of).over(**window, order_by=s.c.as_of).label("ended"),
        )
        .where(s.c.scorecard == scorecard, upto(s.c.as_of))
        .subquery()
    )
    ranked = (
        select(
            rows,
            func.row_number()
            .over(partition_by=rows.c.account_id, order_by=rows.c.as_of.desc())
            .label("recency"),
        )
        .where(rows.c.gone.is_not(True))
        .subquery()
    )
    dated = {  # as ISO text: parsed per column, not into a date object per row
        n: func.to_char(ranked.c[n], "YYYY-MM-DD").label(n) for n in ("as_of", "ended")
    }
    return (
        select(*(dated.get(n, ranked.c.get(n)) for n in [*READ_COLUMNS, "ended"]))
        .where(ranked.c.recency == 1)
        .order_by(ranked.c.account_id)
    )


def history(
    store: Store,
    date_from: date,
    date_to: date,
    *,
    scorecard: str | None = None,
    account_ids: Iterable[str] | None = None,
    with_measure_points: bool = False,
) -> pd.DataFrame:
    """Every snapshot with ``date_from <= as_of <= date_to`` (optionally one scorecard or some
    accounts), ordered by account and date; the columns of :func:`previous_scores`, and the
    per-measure points as JSON text (``measure_points``) with ``with_measure_points``.

    The change rows in force on the first date of the range and those after it are read, then
    spread over the snapshot dates (:func:`sfsync.state.snapshot_changes.spread`)."""
    d = score_snapshot_dates
    dates = select(d.c.scorecard, d.c.as_of).where(d.c.as_of >= date_from, d.c.as_of <= date_to)
    if scorecard is not None:
        dates = dates.where(d.c.scorecard == scorecard)
    names = [*READ_COLUMNS, "gone", *(["measure_points"] if with_measure_points else [])]
    ids = None if account_ids is None else [str(a) for a in account_ids]
    with store.connect() as conn:
        days: dict[str, list[date]] = {}
        for card, day in conn.execute(dates.order_by(d.c.scorecard, d.c.as_of)).all():
            days.setdefault(card, []).append(day)
        parts = [q for card, own in days.items() for q in _range_rows(card, own, names, ids)]
        rows = []
        if parts:
            both = union_all(*parts).subquery()
            query = select(*(both.c[n] for n in names)).order_by(
                both.c.account_id, both.c.scorecard, both.c.as_of
            )
            rows = conn.execute(query).all()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    at = dict(zip(names, columns, strict=True))
    picked, on = spread(at["account_id"], at["scorecard"], at["as_of"], at["gone"], days)
    moment = names.index("as_of")
    spread_rows = [  # built from the rows like a table read, so the frame's dtypes are the same
        (*rows[i][:moment], day, *rows[i][moment + 1 :])
        for i, day in zip(picked.tolist(), on.astype(object).tolist(), strict=True)
    ]
    return _frame(_raw(spread_rows, names).drop(columns="gone"))


def _range_rows(scorecard: str, days: list[date], names: list[str], ids: list[str] | None):
    """The rows of ``scorecard`` in force on ``days[0]`` and those up to ``days[-1]``."""
    s = score_snapshots
    chosen = [s.c.scorecard == scorecard]
    if ids is not None:
        chosen.append(s.c.account_id.in_(ids))
    first = latest_rows(names, *chosen, s.c.as_of <= days[0])
    later = select(*(s.c[n] for n in names)).where(
        *chosen, s.c.as_of > days[0], s.c.as_of <= days[-1]
    )
    return [first, later]


def snapshot_dates(store: Store, scorecard: str) -> list[date]:
    """The as-of dates that have snapshots for ``scorecard``, oldest first."""
    d = score_snapshot_dates
    query = select(d.c.as_of).where(d.c.scorecard == scorecard).order_by(d.c.as_of)
    with store.connect() as conn:
        return list(conn.execute(query).scalars())
