"""Keeping the change-only score snapshots compact and exact: thinning dates (their changes
folded forward), dropping rows that repeat the row before them, and the migration of a store
that kept a row per account and date (schema version 2).

With snapshots stored as changes (:mod:`sfsync.state.snapshot_changes`) a date cannot simply be
deleted: a later date relies on its rows. Removing the dates between two kept dates moves each
account's latest row among them to the next kept date when the account has no row there (its
state on that date), then deletes the rest; the states on every kept date stay what they were.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    Connection,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from sfsync.state.snapshots import (
    drop_repeats,
    latest_rows,
    score_snapshot_dates,
    score_snapshots,
)
from sfsync.state.thinning import doomed_spans

DATE_CHUNK = 200  # dates per DELETE … IN (…) statement


def rows_of(conn: Connection, scorecard: str) -> int:
    """How many snapshot rows ``scorecard`` has."""
    s = score_snapshots
    query = select(func.count()).select_from(s).where(s.c.scorecard == scorecard)
    return int(conn.execute(query).scalar_one())


def remove_dates(conn: Connection, scorecard: str, doomed: list[date]) -> int:
    """Remove the snapshot dates ``doomed`` of ``scorecard`` (the readers then answer as if
    those dates had never been saved); return the rows removed."""
    if not doomed:
        return 0
    s, d = score_snapshots, score_snapshot_dates
    dates = list(conn.execute(select(d.c.as_of).where(d.c.scorecard == scorecard)).scalars())
    kept = sorted(set(dates) - set(doomed))
    before = rows_of(conn, scorecard)
    targets = []
    for low, high in doomed_spans(dates, kept):
        span = [s.c.scorecard == scorecard]
        if low is not None:
            span.append(s.c.as_of > low)
        if high is not None:
            span.append(s.c.as_of < high)
            _carry(conn, scorecard, and_(*span), high)
            targets.append(high)
        conn.execute(delete(s).where(*span))
    for start in range(0, len(doomed), DATE_CHUNK):
        chunk = doomed[start : start + DATE_CHUNK]
        conn.execute(delete(d).where(d.c.scorecard == scorecard, d.c.as_of.in_(chunk)))
    for start in range(0, len(targets), DATE_CHUNK):
        drop_repeats(conn, scorecard, targets[start : start + DATE_CHUNK])
    return before - rows_of(conn, scorecard)


def _carry(conn: Connection, scorecard: str, span, target: date) -> None:
    """Move each account's latest row in ``span`` to ``target`` when it has no row there."""
    s = score_snapshots
    latest = latest_rows(["id", "account_id"], span).subquery()
    there = select(s.c.account_id).where(s.c.scorecard == scorecard, s.c.as_of == target)
    movers = select(latest.c.id).where(latest.c.account_id.not_in(there))
    conn.execute(update(s).where(s.c.id.in_(movers)).values(as_of=target))


def migrate_to_changes(conn: Connection) -> None:
    """Schema version 2: a store with a row per account and date becomes change rows.

    The dates are listed in ``score_snapshot_dates``; an account missing on the date after one
    of its rows gets a tombstone there; then every row equal to the one before it is dropped.
    The readers answer exactly as before."""
    s, d = score_snapshots, score_snapshot_dates
    conn.execute(update(s).where(s.c.gone.is_(None)).values(gone=False))
    counts = select(s.c.scorecard, s.c.as_of, func.count().label("accounts")).group_by(
        s.c.scorecard, s.c.as_of
    )
    conn.execute(insert(d).from_select(["scorecard", "as_of", "accounts"], counts))
    following = select(
        d.c.scorecard,
        d.c.as_of,
        func.lead(d.c.as_of).over(partition_by=d.c.scorecard, order_by=d.c.as_of).label("day"),
    ).subquery()
    other = s.alias("other")
    missing_next = (
        select(s.c.scorecard, s.c.account_id, following.c.day, literal(True))
        .join(
            following, and_(following.c.scorecard == s.c.scorecard, following.c.as_of == s.c.as_of)
        )  # fmt: skip
        .where(
            following.c.day.is_not(None),
            s.c.gone.is_(False),
            ~exists().where(
                other.c.scorecard == s.c.scorecard,
                other.c.account_id == s.c.account_id,
                other.c.as_of == following.c.day,
            ),
        )
    )
    conn.execute(insert(s).from_select(["scorecard", "account_id", "as_of", "gone"], missing_next))
    for scorecard in list(conn.execute(select(d.c.scorecard).distinct()).scalars()):
        drop_repeats(conn, scorecard)
