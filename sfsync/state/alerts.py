"""Alert ledger and outbox: Slack alerts are decided once and delivered at least once.

``alert_ledger`` has one row per (account, signal code, episode). An *episode* is a stretch of
days during which a churn signal stays active; it ends (``cleared_on``) at the first run that
no longer sees the signal, and a later re-appearance opens episode + 1. ``last_alerted_on`` is
the as-of date of the latest alert of the episode (for the snooze).

``alert_outbox`` holds every message to post, with a unique ``dedupe_key``; a message is
``pending`` until Slack accepted it (``ok: true``), then ``sent``. Decisions (ledger rows) and
the messages they cause are written in the same transaction, so a crash never loses an alert
and never alerts twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    select,
    update,
)

from sfsync.log import redact_text
from sfsync.state.db import dumps, metadata, utcnow

alert_ledger = Table(
    "alert_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(18), nullable=False),
    Column("code", String(64), nullable=False),
    Column("episode", Integer, nullable=False),
    Column("severity", String(16)),
    Column("first_alerted_on", Date, nullable=False),
    Column("last_alerted_on", Date, nullable=False),
    Column("alerts", Integer, nullable=False, server_default="1"),
    Column("cleared_on", Date),
    UniqueConstraint("account_id", "code", "episode"),
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("run_id", String(64)),
    Column("kind", String(32), nullable=False),
    Column("channel", String(255), nullable=False),
    Column("payload", Text, nullable=False),  # JSON: {"text": ..., "blocks": [...]}
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    Column("slack_ts", String(64)),
)

LEDGER_COLUMNS = ["account_id", "code", "episode", "last_alerted_on", "cleared_on"]


@dataclass(frozen=True)
class OutboxMessage:
    """One message to post."""

    dedupe_key: str
    kind: str  # signal | escalation | digest | run_failed | kpi
    channel: str
    text: str
    blocks: list[dict]
    run_id: str | None = None
    id: int | None = None


def open_episodes(store) -> pd.DataFrame:
    """The latest episode of every (account, code), open or not (columns LEDGER_COLUMNS)."""
    latest = (
        select(alert_ledger.c.account_id, alert_ledger.c.code, func.max(alert_ledger.c.episode))
        .group_by(alert_ledger.c.account_id, alert_ledger.c.code)
        .subquery()
    )
    query = select(*[alert_ledger.c[c] for c in LEDGER_COLUMNS]).join(
        latest,
        and_(
            alert_ledger.c.account_id == latest.c.account_id,
            alert_ledger.c.code == latest.c.code,
            alert_ledger.c.episode == latest.c[2],
        ),
    )
    with store.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=LEDGER_COLUMNS)


def record_decisions(
    store,
    *,
    as_of: date,
    alerted: pd.DataFrame,
    cleared: pd.DataFrame,
    messages: list[OutboxMessage],
) -> int:
    """In one transaction: upsert ledger rows for ``alerted`` (account_id, code, episode,
    severity), close the ``cleared`` episodes, and enqueue ``messages`` (a message whose
    dedupe key is already in the outbox is skipped). Returns the number of messages enqueued.
    """
    enqueued = 0
    with store.begin() as conn:
        for row in alerted.itertuples(index=False):
            key = and_(
                alert_ledger.c.account_id == row.account_id,
                alert_ledger.c.code == row.code,
                alert_ledger.c.episode == int(row.episode),
            )
            found = conn.execute(select(alert_ledger.c.id).where(key)).first()
            if found:
                conn.execute(
                    update(alert_ledger)
                    .where(key)
                    .values(last_alerted_on=as_of, alerts=alert_ledger.c.alerts + 1)
                )
            else:
                conn.execute(
                    alert_ledger.insert().values(
                        account_id=row.account_id,
                        code=row.code,
                        episode=int(row.episode),
                        severity=getattr(row, "severity", None),
                        first_alerted_on=as_of,
                        last_alerted_on=as_of,
                        alerts=1,
                    )
                )
        for row in cleared.itertuples(index=False):
            conn.execute(
                update(alert_ledger)
                .where(
                    and_(
                        alert_ledger.c.account_id == row.account_id,
                        alert_ledger.c.code == row.code,
                        alert_ledger.c.episode == int(row.episode),
                        alert_ledger.c.cleared_on.is_(None),
                    )
                )
                .values(cleared_on=as_of)
            )
        existing = set()
        keys = [m.dedupe_key for m in messages]
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            existing |= set(
                conn.execute(
                    select(alert_outbox.c.dedupe_key).where(alert_outbox.c.dedupe_key.in_(chunk))
                ).scalars()
            )
        now = utcnow()
        for m in messages:
            if m.dedupe_key in existing:
                continue
            existing.add(m.dedupe_key)
            conn.execute(
                alert_outbox.insert().values(
                    dedupe_key=m.dedupe_key,
                    run_id=m.run_id,
                    kind=m.kind,
                    channel=m.channel,
                    payload=redact_text(dumps({"text": m.text, "blocks": m.blocks})),
                    status="pending",
                    attempts=0,
                    created_at=now,
                )
            )
            enqueued += 1
    return enqueued


def pending_messages(store, limit: int | None = None) -> list[OutboxMessage]:
    """Pending messages, oldest first."""
    query = (
        select(alert_outbox).where(alert_outbox.c.status == "pending").order_by(alert_outbox.c.id)
    )
    if limit:
        query = query.limit(limit)
    with store.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out = []
    for r in rows:
        payload = json.loads(r["payload"])
        out.append(
            OutboxMessage(
                dedupe_key=r["dedupe_key"],
                kind=r["kind"],
                channel=r["channel"],
                text=payload["text"],
                blocks=payload["blocks"],
                run_id=r["run_id"],
                id=r["id"],
            )
        )
    return out


def mark_sent(store, message_id: int, slack_ts: str | None) -> None:
    with store.begin() as conn:
        conn.execute(
            update(alert_outbox)
            .where(alert_outbox.c.id == message_id)
            .values(
                status="sent",
                sent_at=utcnow(),
                slack_ts=slack_ts,
                attempts=alert_outbox.c.attempts + 1,
                last_error=None,
            )
        )


def mark_failed(store, message_id: int, error: str) -> None:
    """Record a failed attempt; the message stays pending for the next run."""
    with store.begin() as conn:
        conn.execute(
            update(alert_outbox)
            .where(alert_outbox.c.id == message_id)
            .values(attempts=alert_outbox.c.attempts + 1, last_error=redact_text(error)[:2000])
        )


def outbox_counts(store) -> dict[str, int]:
    """Messages per status (``{"pending": n, "sent": m}``)."""
    with store.connect() as conn:
        rows = conn.execute(
            select(alert_outbox.c.status, func.count()).group_by(alert_outbox.c.status)
        ).all()
    return {status: int(n) for status, n in rows}
