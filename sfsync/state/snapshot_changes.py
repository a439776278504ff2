"""Score snapshots stored as changes (pure: frames in, frames out).

The state store keeps a snapshot row only where an account's stored values changed from its
previous row: an account's state on a snapshot date is its latest row on or before that date.
A row with ``gone`` set (a *tombstone*, no values) says that the account was not scored from
that date on. Read this way, the change rows give exactly the snapshots a row per account and
date would hold (see :mod:`sfsync.state.snapshots`):

* the account has a snapshot on date ``d`` when its latest row on or before ``d`` is not a
  tombstone, with that row's values;
* its latest snapshot before ``D`` is its latest non-tombstone row before ``D``, dated the last
  snapshot date before the row that ended it (or the last one before ``D``).

A *state* frame is indexed by account_id with the columns ``gone``, ``run_id`` and
:data:`VALUE_COLUMNS`; an account missing from it has no state (never scored so far).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

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


def state_columns(columns: dict[str, Sequence]) -> pd.DataFrame:
    """A state frame from columns of driver values (``account_id`` and :data:`STATE_COLUMNS`,
    e.g. :func:`sfsync.state.reads.fetch_columns`): the frame :func:`states` builds from the
    same rows (object columns, NaN as None, ``gone`` true for True or 1), built per column."""
    if not len(columns["account_id"]):
        return empty_states()
    data = {}
    for name in STATE_COLUMNS:
        values = np.empty(len(columns[name]), dtype=object)
        values[:] = columns[name]
        values[pd.isna(values)] = None  # NaN -> None (as stored)
        data[name] = values
    gone = np.asarray(data["gone"] == 1, dtype=bool)
    index = np.empty(len(columns["account_id"]), dtype=object)
    index[:] = columns["account_id"]
    index = pd.Index(index, name="account_id", dtype="object")
    frame = pd.DataFrame(data, index=index, dtype="object")  # no inference of text columns
    frame["gone"] = gone
    return frame


def overlay(base: pd.DataFrame, top: pd.DataFrame) -> pd.DataFrame:
    """``base`` with the accounts of ``top`` replaced by (or added from) ``top``."""
    if top.empty:
        return base
    if base.empty:
        return top
    out = pd.concat([base.drop(index=top.index, errors="ignore"), top])
    out.index = out.index.astype("object")  # concat infers a str index; lookups stay hashed
    return out


def present(frame: pd.DataFrame) -> pd.DataFrame:
    """The accounts of a state frame that have a snapshot (not tombstones)."""
    return frame[~frame["gone"].astype(bool)]


def differs(frame: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """Per row of ``frame``: true when ``reference`` has no row for the account or its stored
    values differ (None equals None; run_id and gone are not compared)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    ids = frame.index.astype("object")  # an Arrow-backed index would test one id at a time
    reference_ids = reference.index.astype("object")
    known = ids.isin(reference_ids)
    out = ~known
    if known.any():
        mine = frame.loc[known, list(VALUE_COLUMNS)].to_numpy(dtype=object)
        rows = reference_ids.get_indexer(ids[known])
        theirs = reference[list(VALUE_COLUMNS)].to_numpy(dtype=object)[rows]
        out[known] = ~(mine == theirs).all(axis=1)  # element-wise Python ==: None == None
    return out


def kept_rows(rows: pd.DataFrame, stored: pd.DataFrame) -> pd.Index:
    """The accounts whose row in the state frame ``rows`` is already in ``stored`` (the rows
    on the same date) as it is: same ``gone`` and values (the run that stored it may differ)."""
    if rows.empty or stored.empty:
        return pd.Index([], name="account_id", dtype="object")
    ids = rows.index.astype("object")
    known = ids.isin(stored.index.astype("object"))
    same = known & ~differs(rows, stored)
    if same.any():
        theirs = stored["gone"].reindex(ids[same]).to_numpy(dtype=bool)
        same[same] = rows["gone"].to_numpy(dtype=bool)[same] == theirs
    return ids[same]


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
