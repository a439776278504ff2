# The state store's row-by-row readers and writers that the column-wise ones replaced (issue 14
# item 6), kept verbatim as the reference the equivalence tests (test_state_equivalence.py) and
# bench/bench_state_columns.py compare against. Not used by sfsync. The tables are sfsync's.
# ruff: noqa
"""Reference copies of sfsync/state/snapshot_changes.py, snapshots.py and signals.py (readers
and writers) as they were before the column-wise rewrite."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite

from sfsync.frames import isin
from sfsync.state.db import Store
from sfsync.state.signals import KEY, SIGNAL_COLUMNS, signal_ledger
from sfsync.state.snapshots import (
    CHUNK_ROWS,
    COPY_THRESHOLD,
    POINTS_SUFFIX,
    score_snapshot_dates,
    score_snapshots,
)

# ---- sfsync/state/snapshot_changes.py

# What a snapshot row holds besides its key; a row is stored when one of these changed.
VALUE_COLUMNS = ("health_score", "health_band", "health_trend", "segment", "lifecycle_phase",
                 "signals", "owner_id", "main_contact_id", "category_points", "measure_points",
                 "arr")  # fmt: skip
STATE_COLUMNS = ("gone", "run_id", *VALUE_COLUMNS)


def empty_states() -> pd.DataFrame:
    """A state frame without accounts."""
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in STATE_COLUMNS})
    return frame.rename_axis("account_id")


def states(rows: list | pd.DataFrame) -> pd.DataFrame:
    """A state frame from rows of (account_id, *STATE_COLUMNS) (tuples or a frame)."""
    if isinstance(rows, pd.DataFrame):
        frame = rows.reindex(columns=["account_id", *STATE_COLUMNS])
    else:
        frame = pd.DataFrame([tuple(r) for r in rows], columns=["account_id", *STATE_COLUMNS])
    if frame.empty:
        return empty_states()
    frame = frame.astype("object")
    frame = frame.where(frame.notna(), None).set_index("account_id")  # NaN -> None (as stored)
    frame["gone"] = frame["gone"].map(lambda v: v is True or v == 1)
    return frame


def overlay(base: pd.DataFrame, top: pd.DataFrame) -> pd.DataFrame:
    """``base`` with the accounts of ``top`` replaced by (or added from) ``top``."""
    if top.empty:
        return base
    if base.empty:
        return top
    return pd.concat([base.drop(index=top.index, errors="ignore"), top])


def present(frame: pd.DataFrame) -> pd.DataFrame:
    """The accounts of a state frame that have a snapshot (not tombstones)."""
    return frame[~frame["gone"].astype(bool)]


def differs(frame: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """Per row of ``frame``: true when ``reference`` has no row for the account or its stored
    values differ (None equals None; run_id and gone are not compared)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    known = frame.index.isin(reference.index)
    out = ~known
    if known.any():
        mine = frame.loc[known, list(VALUE_COLUMNS)].to_numpy(dtype=object)
        theirs = reference.loc[frame.index[known], list(VALUE_COLUMNS)].to_numpy(dtype=object)
        out[known] = ~(mine == theirs).all(axis=1)  # element-wise Python ==: None == None
    return out


@dataclass(frozen=True)
class SavePlan:
    """The rows a save stores: on its date (replacing every row there) and, when a later
    snapshot date exists, the states carried to it (accounts that had no row there)."""

    on_date: pd.DataFrame  # state frame
    on_next: pd.DataFrame  # state frame
    accounts: int  # accounts with a snapshot on the date after the save


def plan_save(
    new: pd.DataFrame,
    before: pd.DataFrame,
    here: pd.DataFrame,
    *,
    date_known: bool,
    run_id: int | None,
    next_accounts: set[str] | None,
) -> SavePlan:
    """What to store when the snapshot ``new`` (indexed by account_id, :data:`VALUE_COLUMNS`)
    is saved on a date.

    ``before``: each account's latest row before the date; ``here``: the rows on the date;
    ``date_known``: the date already has snapshots (a re-run: accounts not in ``new`` keep their
    snapshot of that date, as an upsert would); ``next_accounts``: the accounts with a row on
    the next snapshot date (None: no later date).
    """
    old = overlay(before, here)  # each account's state on the date before this save
    fresh = new.assign(gone=False, run_id=run_id).reindex(columns=list(STATE_COLUMNS))
    state = overlay(present(old), fresh) if date_known else fresh
    prior = present(before)
    stored = state[differs(state, prior)]
    ended = prior.index.difference(state.index)
    on_date = pd.concat([stored, _tombstones(ended)]) if len(ended) else stored
    if next_accounts is None:
        return SavePlan(on_date, empty_states(), len(state))
    was = present(old)
    moved = state.index[differs(state, was)].union(was.index.difference(state.index))
    carried = moved.difference(pd.Index(list(next_accounts), dtype="object"))
    kept = was.loc[was.index.intersection(carried)]
    on_next = pd.concat([kept, _tombstones(carried.difference(kept.index))])
    return SavePlan(on_date, on_next, len(state))


def _tombstones(accounts: pd.Index) -> pd.DataFrame:
    frame = pd.DataFrame(index=pd.Index(accounts, name="account_id"), columns=list(STATE_COLUMNS))
    frame = frame.astype("object")
    frame["gone"] = True
    frame.loc[:, ["run_id", *VALUE_COLUMNS]] = None
    return frame


def snapshot_day(days: list[date], as_of: pd.Series, ended: pd.Series) -> np.ndarray:
    """The date each account's latest snapshot carries (datetime64[D]): the last snapshot date
    (of ``days``, sorted) before the row that ended its state (``ended``; missing: nothing
    ended it, the last of ``days``), never earlier than the row's own date ``as_of``."""
    starts = pd.to_datetime(as_of).to_numpy().astype("datetime64[D]")
    if not days:
        return starts
    ordered = np.array(days, dtype="datetime64[D]")
    ends = pd.to_datetime(ended).to_numpy().astype("datetime64[D]")
    index = np.searchsorted(ordered, ends, side="left") - 1
    index = np.where(np.isnat(ends), len(ordered) - 1, index)
    chosen = np.where(index >= 0, ordered[np.clip(index, 0, None)], starts)
    return np.maximum(chosen, starts)


def spread(
    account_ids: list, scorecards: list, as_of: list, gone: list, days: dict[str, list[date]]
) -> tuple[np.ndarray, np.ndarray]:
    """Change rows -> which row gives each account's snapshot on each snapshot date.

    The rows (given column by column) are ordered by account, scorecard and date and hold, for
    each account, the latest row on or before the first of ``days[scorecard]`` and every later
    row up to the last of them; ``days``: each scorecard's snapshot dates in the range, sorted.
    Returns (row position, snapshot date as datetime64[D]) per snapshot, ordered by account (in
    the rows' order), date and scorecard; tombstones give none.
    """
    n = len(account_ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype="datetime64[D]")
    cards = list(days)
    offsets = dict(zip(cards, np.cumsum([0] + [len(days[c]) for c in cards])[:-1], strict=True))
    all_days = np.array([d for c in cards for d in days[c]], dtype="datetime64[D]")
    dated = np.array(as_of, dtype="datetime64[D]")
    card_of = np.array(scorecards, dtype=object)
    account = np.array(account_ids, dtype=object)
    start = np.zeros(n, dtype=np.int64)
    stop = np.zeros(n, dtype=np.int64)
    for card in cards:
        mine = card_of == card
        first = offsets[card]
        own = all_days[first : first + len(days[card])]
        start[mine] = first + np.searchsorted(own, dated[mine], side="left")
        stop[mine] = first + len(own)
    same_next = (account[:-1] == account[1:]) & (card_of[:-1] == card_of[1:])
    stop[:-1] = np.where(same_next, start[1:], stop[:-1])
    counts = np.maximum(stop - start, 0)
    counts[np.array([g is True or g == 1 for g in gone], dtype=bool)] = 0
    picked = np.repeat(np.arange(n), counts)
    first_of = np.repeat(start - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    on = all_days[first_of + np.arange(len(picked))]
    rank = np.concatenate([[0], np.cumsum(account[1:] != account[:-1])])[picked]
    order = np.lexsort((card_of[picked].astype(str), on, rank))
    return picked[order], on[order]


# ---- sfsync/state/snapshots.py

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
    index = pd.Index([str(a) for a in frame["account_id"]], name="account_id", dtype="object")
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
    Everything is written in one transaction: all rows or none. An empty frame stores nothing.
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
        before = states(conn.execute(_states_query(scorecard, s.c.as_of < as_of)).all())
        here = states(conn.execute(_state_rows().where(mine, s.c.as_of == as_of)).all())
        at_next = None
        if following is not None:
            query = select(s.c.account_id).where(mine, s.c.as_of == following)
            at_next = set(conn.execute(query).scalars())
        plan = plan_save(
            new, before, here, date_known=known is not None, run_id=run_id, next_accounts=at_next
        )
        conn.execute(delete(s).where(mine, s.c.as_of == as_of))
        written = _insert(conn, store.dialect, scorecard, as_of, plan.on_date)
        written -= _rows_already_there(plan.on_date, here)  # a re-run does not count them
        if following is not None:
            written += _insert(conn, store.dialect, scorecard, following, plan.on_next)
            drop_repeats(conn, scorecard, [following])  # rows there may now repeat these
        _record_date(conn, store.dialect, scorecard, as_of, plan)
    return written


def _rows_already_there(rows: pd.DataFrame, here: pd.DataFrame) -> int:
    """How many of ``rows`` the date held already with the same gone flag and values."""
    same = 0
    for account, row in rows.iterrows():
        if account in here.index:
            there = here.loc[account]
            if bool(there["gone"]) == bool(row["gone"]) and all(
                there[c] == row[c] for c in VALUE_COLUMNS
            ):
                same += 1
    return same


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


def _states_query(scorecard: str, when: Any):
    """Each account's latest row (value or tombstone) of ``scorecard`` satisfying ``when``."""
    s = score_snapshots
    return latest_rows(["account_id", *STATE_COLUMNS], s.c.scorecard == scorecard, when)


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
    rows = frame.reset_index().assign(scorecard=scorecard, as_of=as_of)
    rows["gone"] = rows["gone"].astype(bool)
    columns = ["scorecard", "account_id", "as_of", *STATE_COLUMNS]
    values = zip(*(rows[c].tolist() for c in columns), strict=True)  # Python objects
    records = [dict(zip(columns, row, strict=True)) for row in values]
    if dialect == "postgresql" and len(records) > COPY_THRESHOLD:
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY score_snapshots ({', '.join(columns)}) FROM STDIN") as copy:
            for record in records:
                copy.write_row([record[c] for c in columns])
        return len(records)
    for start in range(0, len(records), CHUNK_ROWS):
        conn.execute(score_snapshots.insert(), records[start : start + CHUNK_ROWS])
    return len(records)


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
    points = [json.loads(p) if p else {} for p in frame["category_points"]]
    points_frame = pd.DataFrame.from_records(points, index=frame.index)
    points_frame = points_frame.astype("float64").add_suffix(POINTS_SUFFIX)
    frame = pd.concat([frame.drop(columns=["category_points"]), points_frame], axis=1)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    frame["health_score"] = frame["health_score"].astype("Int64")
    frame["health_trend"] = frame["health_trend"].astype("Int64")
    frame["arr"] = pd.to_numeric(frame["arr"], errors="coerce").astype("float64")
    return frame


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
    names = [*READ_COLUMNS, "ended"]
    query = (
        select(*(ranked.c[n] for n in names))
        .where(ranked.c.recency == 1)
        .order_by(ranked.c.account_id)
    )
    days_query = select(d.c.as_of).where(d.c.scorecard == scorecard, upto(d.c.as_of))
    with store.connect() as conn:
        raw = _raw(conn.execute(query).all(), names)
        days = list(conn.execute(days_query.order_by(d.c.as_of)).scalars())
    raw["as_of"] = snapshot_day(days, raw["as_of"], raw["ended"])
    return _frame(raw.drop(columns="ended"))


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


# ---- sfsync/state/signals.py


class SignalChanges(NamedTuple):
    """Result of :func:`sync_signals`; each frame has account_id, code, kind, severity,
    first_seen (and cleared_at for ``cleared``), sorted by account and code."""

    new: pd.DataFrame
    still_active: pd.DataFrame
    cleared: pd.DataFrame


def _active(conn) -> pd.DataFrame:
    s = signal_ledger
    query = select(s.c.id, s.c.account_id, s.c.code, s.c.kind, s.c.severity, s.c.first_seen)
    rows = conn.execute(query.where(s.c.active)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["id", *SIGNAL_COLUMNS, "first_seen"])
    frame["id"] = frame["id"].astype("int64")
    return frame


def _normalise(signals: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in SIGNAL_COLUMNS if c not in signals.columns]
    if missing and len(signals):
        raise ValueError(f"the signals frame lacks column(s) {', '.join(missing)}")
    frame = signals.reindex(columns=SIGNAL_COLUMNS).astype("object")
    frame = frame.dropna(subset=KEY).drop_duplicates(subset=KEY, keep="last")
    if frame["kind"].isna().any():
        raise ValueError("every signal needs a kind (churn or upsell)")
    return frame.astype({"account_id": "str", "code": "str"})


def _out(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    frame = frame.reindex(columns=columns).sort_values(KEY).reset_index(drop=True)
    for col in ("first_seen", "cleared_at"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return frame


def sync_signals(
    store: Store, as_of: date, signals: pd.DataFrame, scope: Iterable[str] | None = None
) -> SignalChanges:
    """Record the signals computed for ``as_of``; return (new, still_active, cleared).

    ``signals`` has account_id, code, kind (churn|upsell), severity. ``scope`` limits clearing
    to these account ids (a run that evaluated only some accounts must not clear the others);
    None means every account was evaluated. Running twice for the same date changes nothing
    the second time (everything is still active, nothing new).
    """
    current = _normalise(signals)
    scope_set = None if scope is None else {str(a) for a in scope}
    with store.begin() as conn:
        active = _active(conn)
        merged = current.merge(
            active, on=KEY, how="outer", suffixes=("", "_ledger"), indicator=True
        )
        new = merged[merged["_merge"] == "left_only"].copy()
        still = merged[merged["_merge"] == "both"].copy()
        gone = merged[merged["_merge"] == "right_only"].copy()
        if scope_set is not None:
            gone = gone[isin(gone["account_id"], scope_set)].copy()
        for col in ("kind", "severity"):
            gone[col] = gone[f"{col}_ledger"]
        s = signal_ledger
        if len(gone):
            conn.execute(
                s.update()
                .where(s.c.id == bindparam("row_id"))
                .values(active=False, cleared_at=as_of),
                [{"row_id": int(i)} for i in gone["id"]],
            )
        if len(still):
            conn.execute(
                s.update()
                .where(s.c.id == bindparam("row_id"))
                .values(last_seen=as_of, kind=bindparam("new_kind"), severity=bindparam("new_sev")),
                [
                    {"row_id": int(i), "new_kind": k, "new_sev": _none(v)}
                    for i, k, v in zip(still["id"], still["kind"], still["severity"], strict=True)
                ],
            )
        if len(new):
            conn.execute(
                s.insert(),
                [
                    {
                        "account_id": a,
                        "code": c,
                        "kind": k,
                        "severity": _none(v),
                        "first_seen": as_of,
                        "last_seen": as_of,
                        "active": True,
                    }  # fmt: skip
                    for a, c, k, v in zip(
                        new["account_id"], new["code"], new["kind"], new["severity"], strict=True
                    )
                ],
            )
    new["first_seen"] = as_of
    gone["cleared_at"] = as_of
    base = [*SIGNAL_COLUMNS, "first_seen"]
    return SignalChanges(_out(new, base), _out(still, base), _out(gone, [*base, "cleared_at"]))


def _none(value):
    return None if pd.isna(value) else value


def active_signals(store: Store) -> pd.DataFrame:
    """Every active signal: account_id, code, kind, severity, first_seen, last_seen."""
    s = signal_ledger
    query = select(s.c.account_id, s.c.code, s.c.kind, s.c.severity, s.c.first_seen,
                   s.c.last_seen).where(s.c.active)  # fmt: skip
    with store.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=[*SIGNAL_COLUMNS, "first_seen",
                                                            "last_seen"])  # fmt: skip
    return _out(frame, list(frame.columns))


def signals_first_seen(store: Store, date_from: date, date_to: date) -> pd.DataFrame:
    """Every ledger row (active or cleared) first seen in ``[date_from, date_to]``: account_id,
    code, kind, severity, first_seen (the 48-hour KPIs)."""
    s = signal_ledger
    query = select(s.c.account_id, s.c.code, s.c.kind, s.c.severity, s.c.first_seen).where(
        s.c.first_seen >= date_from, s.c.first_seen <= date_to
    )
    with store.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=[*SIGNAL_COLUMNS, "first_seen"])
