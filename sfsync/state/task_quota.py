"""Which Tasks sfsync creates for which owner on which as-of day (the daily Task limit).

``task_creations`` has one row per Task key a run is about to create: the owner and the run's
as-of date. It is written *before* the Tasks are sent to Salesforce, so a run killed while
writing has already counted them; the re-run keeps those keys without counting them again. The daily limit (``sfsync.automation.task_limit``) counts an owner's rows of
the day, so a second run on the same day (a re-run, a retry) never adds more than the limit.
Rows older than a few days are not needed any more: :func:`prune_task_creations`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import Column, Date, Index, Integer, String, Table, delete, func, select

from sfsync.state.db import metadata

task_creations = Table(
    "task_creations",
    metadata,
    Column("sync_key", String(255), primary_key=True),
    Column("owner_id", String(18), nullable=False),  # "" when Salesforce picked the owner
    Column("as_of", Date, nullable=False),
    Column("run_id", Integer),
    Index("ix_task_creations_as_of_owner", "as_of", "owner_id"),
)


def record_created(
    store, *, as_of: date, run_id: int | None, created: Iterable[tuple[str, str | None]]
) -> int:
    """Store the (sync key, owner id) of the Tasks a run created on ``as_of``; a key already
    stored keeps its first day. Returns how many were new."""
    rows = {str(k): ("" if o is None or o != o else str(o)) for k, o in created}
    if not rows:
        return 0
    added = 0
    with store.begin() as conn:
        known: set[str] = set()
        keys = list(rows)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found = select(task_creations.c.sync_key).where(task_creations.c.sync_key.in_(chunk))
            known |= set(conn.execute(found).scalars())
        new = [
            {"sync_key": k, "owner_id": o, "as_of": as_of, "run_id": run_id}
            for k, o in rows.items()
            if k not in known
        ]
        if new:
            conn.execute(task_creations.insert(), new)
            added = len(new)
    return added


def keys_on(store, as_of: date) -> set[str]:
    """The Task keys recorded for ``as_of``."""
    query = select(task_creations.c.sync_key).where(task_creations.c.as_of == as_of)
    with store.connect() as conn:
        return set(conn.execute(query).scalars())


def created_on(store, as_of: date) -> dict[str, int]:
    """Owner id -> Tasks created for them on ``as_of`` ("" for no owner)."""
    c = task_creations.c
    query = select(c.owner_id, func.count()).where(c.as_of == as_of).group_by(c.owner_id)
    with store.connect() as conn:
        return {str(owner): int(n) for owner, n in conn.execute(query).all()}


def prune_task_creations(store, *, before: date) -> int:
    """Delete the rows of as-of days before ``before``; returns how many."""
    with store.begin() as conn:
        done = conn.execute(delete(task_creations).where(task_creations.c.as_of < before))
        return int(done.rowcount or 0)


def keep_days_before(as_of: date, days: int = 7) -> date:
    """The first as-of day worth keeping when the run of ``as_of`` prunes."""
    return as_of - timedelta(days=days)
