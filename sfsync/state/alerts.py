"""Alert ledger and outbox: Slack alerts are decided once and delivered at least once.
Delivered rows are deleted after a retention period (:func:`prune_sent`, called after every
delivery with ``slack.outbox_retention_days``).

``alert_ledger`` has one row per (account, signal code, episode). An *episode* is a stretch of
days during which a churn signal stays active; it ends (``cleared_on``) at the first run that
no longer sees the signal, and a later re-appearance opens episode + 1. ``last_alerted_on`` is
the as-of date of the latest alert of the episode (for the snooze).

``alert_outbox`` holds every message to post, with a unique ``dedupe_key``. Its status moves
``pending`` → ``sending`` (claimed by one attempt: ``claim_token``, ``claimed_at``, written
*before* the HTTP call) → ``sent`` (with Slack's ``slack_ts`` and channel id). A row left in
``sending`` by a run that died mid-call is checked against the channel's history before it is
posted again (``sfsync.notify.delivery``). Decisions (ledger rows) and the messages they cause
are written in the same transaction, so a crash never loses an alert and never alerts twice.
Mentions are stored as data (``mentions``) and resolved when the message goes out, so a
message delivered days late still mentions its owner.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

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
    delete,
    func,
    select,
    update,
)

from sfsync.log import redact_text
from sfsync.state.db import dumps, metadata, utcnow

PENDING, SENDING, SENT = "pending", "sending", "sent"

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
    # JSON list of {"email", "name", "user_id"}: the people the payload's mention
    # placeholders stand for, resolved to <@U…> when the message is delivered
    Column("mentions", Text),
    Column("claim_token", String(128)),  # "<host>:<pid>:<uuid>" of the attempt under way
    Column("claimed_at", DateTime),  # when that attempt started (UTC)
    Column("slack_channel", String(64)),  # the channel id Slack answered
)

LEDGER_COLUMNS = ["account_id", "code", "episode", "last_alerted_on", "cleared_on"]


@dataclass(frozen=True)
class OutboxMessage:
    """One message to post. ``text``/``blocks`` may hold mention placeholders
    (``sfsync.notify.mentions``) standing for the people in ``mentions``."""

    dedupe_key: str
    kind: str  # signal | escalation | digest | run_failed | kpi
    channel: str
    text: str
    blocks: list[dict]
    run_id: str | None = None
    id: int | None = None
    mentions: tuple[dict, ...] = ()
    status: str = PENDING
    claim_token: str | None = None
    claimed_at: datetime | None = None
    attempts: int = 0


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
                    mentions=dumps(list(m.mentions)) if m.mentions else None,
                    status=PENDING,
                    attempts=0,
                    created_at=now,
                )
            )
            enqueued += 1
    return enqueued


def has_messages(store, prefix: str) -> bool:
    """Whether the outbox holds a message (any status) whose dedupe key starts with
    ``prefix`` (e.g. ``owner_digest:<job>:<as-of>:``: the day's owner digests)."""
    query = select(alert_outbox.c.id).where(
        alert_outbox.c.dedupe_key.startswith(prefix, autoescape=True)
    )
    with store.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None


def pending_messages(store, limit: int | None = None) -> list[OutboxMessage]:
    """Messages not yet sent (``pending``, and ``sending`` ones whose attempt may have died),
    oldest first."""
    query = (
        select(alert_outbox)
        .where(alert_outbox.c.status.in_([PENDING, SENDING]))
        .order_by(alert_outbox.c.id)
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
                mentions=tuple(json.loads(r["mentions"])) if r["mentions"] else (),
                status=r["status"],
                claim_token=r["claim_token"],
                claimed_at=r["claimed_at"],
                attempts=int(r["attempts"] or 0),
            )
        )
    return out


def new_claim_token(host: str, pid: int) -> str:
    """A claim token naming the host and process of the attempt (``host:pid:uuid``)."""
    return f"{host[:80]}:{pid}:{uuid.uuid4().hex[:16]}"


def claim(store, message: OutboxMessage, token: str) -> bool:
    """Mark ``message`` ``sending`` under ``token`` before posting it. Succeeds only if the row
    is still as read (``pending``, or ``sending`` under the same old claim), so two runs never
    post the same row at once. Committed before the HTTP call is made."""
    c = alert_outbox.c
    if message.status == SENDING:
        still = and_(c.status == SENDING, c.claim_token == message.claim_token)
    else:
        still = c.status == PENDING
    with store.begin() as conn:
        done = conn.execute(
            update(alert_outbox)
            .where(and_(c.id == message.id, still))
            .values(status=SENDING, claim_token=token, claimed_at=utcnow())
        )
    return done.rowcount == 1


def mark_sent(store, message_id: int, slack_ts: str | None, channel_id: str | None = None) -> None:
    """Slack accepted the message (``ts`` in channel ``channel_id``): it is ``sent``."""
    with store.begin() as conn:
        conn.execute(
            update(alert_outbox)
            .where(alert_outbox.c.id == message_id)
            .values(
                status=SENT,
                sent_at=utcnow(),
                slack_ts=slack_ts,
                slack_channel=channel_id,
                attempts=alert_outbox.c.attempts + 1,
                last_error=None,
                claim_token=None,
            )
        )


def release(store, message_id: int, token: str, error: str) -> None:
    """Slack certainly did not post it (it answered ``ok: false`` or 429): back to
    ``pending`` for the next attempt, with the error."""
    with store.begin() as conn:
        conn.execute(
            update(alert_outbox)
            .where(and_(alert_outbox.c.id == message_id, alert_outbox.c.claim_token == token))
            .values(
                status=PENDING,
                claim_token=None,
                attempts=alert_outbox.c.attempts + 1,
                last_error=error[:2000],
            )
        )


def mark_failed(store, message_id: int, error: str) -> None:
    """Record a failed attempt whose outcome is unknown (no answer from Slack): the row keeps
    its status (``sending`` stays ``sending`` and is checked against the channel's history
    before the next attempt)."""
    with store.begin() as conn:
        conn.execute(
            update(alert_outbox)
            .where(alert_outbox.c.id == message_id)
            .values(attempts=alert_outbox.c.attempts + 1, last_error=redact_text(error)[:2000])
        )


def prune_sent(store, *, older_than_days: int, now: datetime | None = None) -> int:
    """Delete the messages delivered (``sent``) more than ``older_than_days`` days before
    ``now`` (UTC; default: now); returns how many. Pending and ``sending`` rows are never
    deleted: they are still to be delivered or checked. Their dedupe keys carry the as-of date
    or run id, so a pruned key is never decided again. The newest sent row of each channel is
    kept: it remembers the channel's id for the crash check (:func:`known_channel_ids`)."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    return prune_sent_before(store, cutoff, False)[1]


def prune_sent_before(store, cutoff: datetime, dry_run: bool) -> tuple[str, int]:
    """The outbox's pruner for ``sfsync state prune``: the sent messages delivered before
    ``cutoff`` (naive UTC), the newest of each channel kept; ``("alert_outbox", rows)`` deleted
    (or, with ``dry_run``, that would be)."""
    c = alert_outbox.c
    newest = select(func.max(c.id)).where(c.status == SENT).group_by(c.channel)
    with store.begin() as conn:
        keep = list(conn.execute(newest).scalars())
        conditions = [c.status == SENT, c.sent_at < cutoff]
        if keep:
            conditions.append(c.id.not_in(keep))
        if dry_run:
            count = select(func.count()).select_from(alert_outbox).where(and_(*conditions))
            return "alert_outbox", int(conn.execute(count).scalar_one())
        query = delete(alert_outbox).where(and_(*conditions))
        return "alert_outbox", int(conn.execute(query).rowcount or 0)


def known_channel_ids(store) -> dict[str, str]:
    """Channel as configured (``#cs-alerts``) -> the channel id Slack answered for it."""
    c = alert_outbox.c
    query = (
        select(c.channel, func.max(c.slack_channel))
        .where(c.slack_channel.is_not(None))
        .group_by(c.channel)
    )
    with store.connect() as conn:
        return {channel: cid for channel, cid in conn.execute(query).all() if cid}


def outbox_counts(store) -> dict[str, int]:
    """Messages per status (``{"pending": n, "sending": k, "sent": m}``)."""
    with store.connect() as conn:
        rows = conn.execute(
            select(alert_outbox.c.status, func.count()).group_by(alert_outbox.c.status)
        ).all()
    return {status: int(n) for status, n in rows}


@dataclass(frozen=True)
class Backlog:
    """Messages not yet sent: how many, since when, and the latest error."""

    count: int
    oldest: datetime | None
    last_error: str | None


def outbox_backlog(store) -> Backlog:
    """The unsent messages of the outbox (for ``sfsync doctor``)."""
    c = alert_outbox.c
    unsent = c.status.in_([PENDING, SENDING])
    with store.connect() as conn:
        count, oldest = conn.execute(
            select(func.count(), func.min(c.created_at)).where(unsent)
        ).one()
        error = conn.execute(
            select(c.last_error)
            .where(and_(unsent, c.last_error.is_not(None)))
            .order_by(c.id.desc())
            .limit(1)
        ).scalar()
    return Backlog(int(count or 0), oldest, error)
