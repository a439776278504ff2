"""The failure ledger: Salesforce writes that failed, kept until a later run succeeds.

A record that failed to write (a validation rule, a deleted record, lock contention that
outlasted the retries, Salesforce unavailable) is recorded here with the Salesforce error and
the fields it should have received. The next plan includes it again even if the diff alone
would not (:class:`sfsync.plan.PendingWrite`); when it is written, or no longer needs a write,
its entry is resolved. Nothing is silently skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    select,
    tuple_,
    update,
)

from sfsync.log import redact_text
from sfsync.plan import PendingWrite
from sfsync.state.db import Store, metadata, utcnow

write_failures = Table(
    "write_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sobject", String(80), nullable=False),
    Column("record_key", String(255), nullable=False),
    Column("fields", Text, nullable=False),  # JSON list of the field names to write
    Column("error_code", String(80), nullable=True),
    Column("message", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=1),
    Column("first_run_id", Integer, nullable=True),
    Column("last_run_id", Integer, nullable=True),
    Column("first_failed_at", DateTime, nullable=False),
    Column("last_failed_at", DateTime, nullable=False),
    Column("resolved_at", DateTime, nullable=True),
    Column("resolved_run_id", Integer, nullable=True),
    UniqueConstraint("sobject", "record_key"),
)


@dataclass(frozen=True)
class FailedWrite:
    """One record that could not be written in this run."""

    sobject: str
    key: str
    fields: tuple[str, ...]
    error_code: str | None
    message: str | None


def record_failures(store: Store, run_id: int | None, failures: Iterable[FailedWrite]) -> int:
    """Add or re-open ledger entries for ``failures``; returns how many were recorded."""
    failures = list({(f.sobject, f.key): f for f in failures}.values())
    if not failures:
        return 0
    now = utcnow()
    with store.begin() as conn:
        keys = [(f.sobject, f.key) for f in failures]
        existing: dict[tuple[str, str], dict[str, Any]] = {}
        for chunk in _chunks(keys, 500):
            rows = conn.execute(
                select(write_failures).where(
                    tuple_(write_failures.c.sobject, write_failures.c.record_key).in_(chunk)
                )
            ).mappings()
            existing.update({(r["sobject"], r["record_key"]): dict(r) for r in rows})
        for f in failures:
            old = existing.get((f.sobject, f.key))
            if old is None:
                conn.execute(
                    write_failures.insert().values(
                        sobject=f.sobject,
                        record_key=f.key,
                        fields=json.dumps(sorted(f.fields)),
                        error_code=f.error_code,
                        message=redact_text(f.message or "")[:2000],
                        attempts=1,
                        first_run_id=run_id,
                        last_run_id=run_id,
                        first_failed_at=now,
                        last_failed_at=now,
                    )
                )
                continue
            fields = set(f.fields)
            if old["resolved_at"] is None:
                fields |= set(json.loads(old["fields"]))
            conn.execute(
                update(write_failures)
                .where(write_failures.c.id == old["id"])
                .values(
                    fields=json.dumps(sorted(fields)),
                    error_code=f.error_code,
                    message=redact_text(f.message or "")[:2000],
                    attempts=old["attempts"] + 1,
                    last_run_id=run_id,
                    last_failed_at=now,
                    resolved_at=None,
                    resolved_run_id=None,
                )
            )
    return len(failures)


def pending_writes(store: Store, sobject: str | None = None) -> list[PendingWrite]:
    """Unresolved failures, as the plan's ``pending`` input."""
    query = select(write_failures).where(write_failures.c.resolved_at.is_(None))
    if sobject is not None:
        query = query.where(write_failures.c.sobject == sobject)
    with store.connect() as conn:
        rows = conn.execute(query.order_by(write_failures.c.id)).mappings().all()
    return [
        PendingWrite(r["sobject"], r["record_key"], tuple(json.loads(r["fields"]))) for r in rows
    ]


def open_failures(store: Store) -> list[dict[str, Any]]:
    """Unresolved ledger entries with their errors (for run summaries and ``doctor``)."""
    query = select(write_failures).where(write_failures.c.resolved_at.is_(None))
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(query.order_by(write_failures.c.id)).mappings()]


def resolve_failures(store: Store, run_id: int | None, keys: Iterable[tuple[str, str]]) -> int:
    """Mark the entries of ``(sobject, key)`` as resolved; returns how many were open."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return 0
    now = utcnow()
    resolved = 0
    with store.begin() as conn:
        for chunk in _chunks(keys, 500):
            result = conn.execute(
                update(write_failures)
                .where(
                    and_(
                        tuple_(write_failures.c.sobject, write_failures.c.record_key).in_(chunk),
                        write_failures.c.resolved_at.is_(None),
                    )
                )
                .values(resolved_at=now, resolved_run_id=run_id)
            )
            resolved += result.rowcount or 0
    return resolved


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
