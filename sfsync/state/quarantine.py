"""Quarantine: input rows a run could not use, with the reason, kept for the admin to fix."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, func, select

from sfsync.log import redact_text
from sfsync.state.db import Store, dumps, metadata

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True),
    Column("source", String(200), nullable=False),
    Column("row_ref", String(200)),
    Column("reason", Text, nullable=False),
    Column("data", Text),  # the row's values as JSON
)


def record_quarantine(store: Store, run_id: int | None, source: str, rows: pd.DataFrame) -> int:
    """Store the rejected ``rows`` of ``source`` (a file, card or query name); return how many.

    ``rows`` needs a ``reason`` column; an optional ``row_ref`` column says where the row came
    from (e.g. "line 12"), otherwise the frame's index is used. Every other column is kept as
    JSON in ``data``.
    """
    if rows.empty:
        return 0
    if "reason" not in rows.columns:
        raise ValueError("quarantined rows need a reason column")
    data_cols = [c for c in rows.columns if c not in ("reason", "row_ref")]
    refs = rows["row_ref"] if "row_ref" in rows.columns else pd.Series(rows.index, index=rows.index)
    records = rows[data_cols].astype("object").where(rows[data_cols].notna(), None)
    values = [
        {
            "run_id": run_id,
            "source": source,
            "row_ref": None if pd.isna(ref) else str(ref),
            "reason": redact_text(str(reason)),
            "data": redact_text(dumps(record)),
        }
        for ref, reason, record in zip(
            refs, rows["reason"], records.to_dict("records"), strict=True
        )
    ]
    with store.begin() as conn:
        conn.execute(quarantine.insert(), values)
    return len(values)


def record(store: Store, run_id: int | None, rows: pd.DataFrame) -> int:
    """Store quarantined rows of several sources at once (``rows`` has a ``source`` column)."""
    if rows.empty:
        return 0
    if "source" not in rows.columns:
        raise ValueError("quarantined rows need a source column")
    total = 0
    for source, group in rows.groupby("source", sort=True):
        total += record_quarantine(store, run_id, str(source), group.drop(columns="source"))
    return total


def quarantine_counts(store: Store, run_id: int) -> dict[str, int]:
    """Number of quarantined rows of one run per source."""
    q = quarantine
    query = (
        select(q.c.source, func.count())
        .where(q.c.run_id == run_id)
        .group_by(q.c.source)
        .order_by(q.c.source)
    )
    with store.connect() as conn:
        return {source: int(n) for source, n in conn.execute(query)}


def quarantined_rows(store: Store, run_id: int) -> pd.DataFrame:
    """The quarantined rows of one run: source, row_ref, reason, data (JSON text)."""
    q = quarantine
    query = select(q.c.source, q.c.row_ref, q.c.reason, q.c.data).where(q.c.run_id == run_id)
    with store.connect() as conn:
        rows = conn.execute(query.order_by(q.c.id)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["source", "row_ref", "reason", "data"])
