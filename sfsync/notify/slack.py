"""Slack notifications: new churn signals, escalations, the run digest, run failures, KPIs.

Every message goes through the state store's outbox (``sfsync.state.alerts``): the decision
to alert and the message are stored in one transaction, then delivered
(``sfsync.notify.delivery``: claimed before the call, recorded with Slack's ``ts``, never
posted twice after a crash); owners' mentions are stored as data and resolved when the message
goes out. Slack being unreachable, failing with 5xx, answering ``ok: false`` or rejecting the
token never raises out of :meth:`SlackNotifier.notify_run` — the messages stay queued, the
result's ``error`` says why, and the next run delivers them. Only a failure to *queue* them
(the state store) raises :class:`AlertQueueError`: the run must not look successful then.
HTTP 429 is retried after the ``Retry-After`` the server sent (``sfsync.notify.retry``,
configured by ``slack.retry``).

Usage (the pipeline)::

    notifier = SlackNotifier.from_settings(settings.slack, store, templates, playbook,
                                           instance_url=client_instance_url)
    result = notifier.notify_run(run_id=…, job="nightly", as_of=…, scores=result.scores,
                                 signals=result.signals, accounts=accounts, users=users,
                                 previous=previous_scores, tasks_created=n, failures=[…],
                                 capacity=owner_capacity(…))
    notifier.notify_run_failed(run_id=…, job=…, as_of=…, error=str(exc))
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
import structlog
from slack_sdk import WebClient

from sfsync.automation.capacity import capacity_lines
from sfsync.automation.playbook import Playbook
from sfsync.catalogue import BANDS
from sfsync.errors import SfsyncError
from sfsync.log import redact_text
from sfsync.notify.dedupe import alerting_signals, decide_alerts
from sfsync.notify.delivery import DeliveryResult, SlackSession, deliver
from sfsync.notify.mentions import mention_spec, placeholder
from sfsync.notify.messages import MessageBuilder
from sfsync.notify.retry import retry_handlers
from sfsync.state import alerts as ledger
from sfsync.templates import TemplateSet

log = structlog.get_logger(__name__)

BAND_ORDER = list(BANDS)


def make_client(
    token: str,
    base_url: str | None = None,
    *,
    ca_bundle: str | None = None,
    timeout: int = 15,
    rate_limit_retries: int = 3,
    retry: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WebClient:
    """A slack_sdk WebClient that honours 429 ``Retry-After`` and retries 5xx/connection
    errors once (for reads; messages are posted through a copy that retries only 429, see
    ``sfsync.notify.delivery.posting_client``); ``retry`` is ``slack.retry`` (see
    ``sfsync.notify.retry``). TLS is verified against ``ca_bundle``, else
    ``REQUESTS_CA_BUNDLE``, else the system store."""
    cafile = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or None
    context = ssl.create_default_context(cafile=cafile)
    return WebClient(
        token=token,
        base_url=base_url or "https://slack.com/api/",
        ssl=context,
        timeout=timeout,
        retry_handlers=retry_handlers(retry, rate_limit_retries=rate_limit_retries, sleep=sleep),
    )


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


class AlertQueueError(SfsyncError):
    """Slack messages could not be stored in the outbox: they are neither sent nor queued."""


@dataclass
class NotifyResult:
    """What one run notified. ``new``/``cleared``: account_id, code (+ episode, reason).

    ``error`` says why messages stayed queued (Slack unavailable, token rejected, …), without
    secrets; the messages are in the outbox and the next run delivers them.
    """

    alerts: int = 0
    escalations: int = 0
    enqueued: int = 0
    new: pd.DataFrame = field(default_factory=pd.DataFrame)
    cleared: pd.DataFrame = field(default_factory=pd.DataFrame)
    delivery: DeliveryResult = field(default_factory=DeliveryResult)
    skipped: str | None = None
    error: str | None = None

    def counts(self) -> dict[str, Any]:
        return {
            "slack_sent": self.delivery.sent,  # the pipeline's names
            "slack_pending": self.delivery.pending,
            "alerts": self.alerts,
            "escalations": self.escalations,
            "enqueued": self.enqueued,
            "sent": self.delivery.sent,
            "pending": self.delivery.pending,
            "cleared": len(self.cleared),
        }


class SlackNotifier:
    """Decides, records and delivers the Slack messages of runs."""

    def __init__(
        self,
        store,
        client: WebClient | None,
        templates: TemplateSet,
        playbook: Playbook,
        *,
        channel: str,
        manager_channel: str | None = None,
        instance_url: str = "",
    ) -> None:
        self.store = store
        self.client = client
        self.playbook = playbook
        self.channel = channel
        self.manager_channel = manager_channel
        self.messages = MessageBuilder(templates, instance_url)
        self.session = SlackSession(client) if client is not None else None

    @property
    def api_calls(self) -> int:
        """Slack Web API calls made (lookups, history checks and posts; retries not counted)."""
        return self.session.api_calls if self.session is not None else 0

    @classmethod
    def from_settings(
        cls, slack_settings, store, templates: TemplateSet, playbook: Playbook, **kw
    ) -> SlackNotifier:
        """From ``settings.slack`` (token, base_url, channel, manager_channel)."""
        token = _secret(getattr(slack_settings, "token", None))
        client = (
            make_client(
                token,
                getattr(slack_settings, "base_url", None),
                retry=getattr(slack_settings, "retry", None),
            )
            if token
            else None
        )
        return cls(
            store,
            client,
            templates,
            playbook,
            channel=getattr(slack_settings, "channel", None) or "#cs-alerts",
            manager_channel=getattr(slack_settings, "manager_channel", None),
            **kw,
        )

    # --- owner mentions -------------------------------------------------------------------
    def mention(self, email: str | None) -> str | None:
        """``<@U…>`` for the Slack user with this email, or None (not found / Slack down)."""
        if self.session is None:
            return None
        uid = self.session.user_id(email)
        return f"<@{uid}>" if uid else None

    # --- delivery -------------------------------------------------------------------------
    def deliver_pending(self) -> DeliveryResult:
        """Post every queued message, oldest first (see ``sfsync.notify.delivery``). Never
        raises for Slack failures; stops at the first sign that Slack is unavailable (the rest
        stay queued)."""
        if self.session is None:
            return DeliveryResult(pending=len(ledger.pending_messages(self.store)))
        try:
            result = deliver(self.store, self.session)
        except Exception as exc:  # noqa: BLE001 - e.g. the store failed while recording
            error = redact_text(f"{type(exc).__name__}: {exc}")
            log.error("slack_delivery_failed", error=error)
            try:
                pending = len(ledger.pending_messages(self.store))
            except Exception:  # noqa: BLE001
                pending = 0
            return DeliveryResult(pending=pending, error=f"delivery interrupted: {error}")
        if result.error:
            result.error = redact_text(result.error)
        return result

    def _finish(self, result: NotifyResult) -> None:
        """Deliver, and say in ``result.error`` why messages stayed queued (with any warning
        of the pass, e.g. a resend that could not be checked)."""
        result.delivery = self.deliver_pending()
        if result.delivery.pending and result.delivery.error:
            reasons = [result.delivery.error, *result.delivery.warnings]
            result.error = redact_text("; ".join(reasons))

    def _enqueue(self, *, as_of, alerted, cleared, messages) -> int:
        """Store decisions and messages in one transaction, or raise AlertQueueError."""
        try:
            return ledger.record_decisions(
                self.store, as_of=as_of, alerted=alerted, cleared=cleared, messages=messages
            )
        except Exception as exc:
            raise AlertQueueError(
                "Slack alerts could not be queued in the state store "
                f"({redact_text(f'{type(exc).__name__}: {exc}')}); nothing was sent or recorded",
                hint="check the state store (sfsync doctor); the next run decides and sends "
                "these alerts again",
            ) from exc

    # --- runs -----------------------------------------------------------------------------
    def notify_run(
        self,
        *,
        run_id: Any,
        job: str,
        as_of: date,
        scores: pd.DataFrame,
        signals: pd.DataFrame | None,
        accounts: pd.DataFrame,
        users: pd.DataFrame | None = None,
        previous: pd.DataFrame | None = None,
        tasks_created: int = 0,
        failures: list[str] | None = None,
        capacity: pd.DataFrame | None = None,
        escalations: list[dict] | None = None,
    ) -> NotifyResult:
        """Alert new churn signals, escalate, post the digest, deliver.

        ``escalations``: the run's escalation Tasks of overdue signal Tasks (``sync_key``,
        ``account_id``, ``owner_id`` = the manager, ``subject``, ``due_date``); each gets one
        notice, deduplicated by its key in the outbox, so a re-run never sends it again.

        Never raises for Slack: undelivered messages stay queued and ``result.error`` says why.
        Raises :class:`AlertQueueError` when the messages could not be queued at all.
        """
        result = NotifyResult()
        if self.session is None:
            result.skipped = "slack is not configured (set SFSYNC_SLACK_TOKEN)"
            log.info("slack_skipped", reason=result.skipped)
            return result
        self.session.reset()  # every run tries again
        try:
            decision, out = self._compose(
                result,
                run_id,
                job,
                as_of,
                scores,
                signals,
                accounts,
                users,
                previous,
                tasks_created,
                failures or [],
                capacity,
            )
            overdue = self._overdue_notices(run_id, escalations or [], accounts, users)
            out[-1:-1] = overdue  # before the digest
            result.escalations += len(overdue)
        except Exception as exc:
            raise AlertQueueError(
                "Slack alerts could not be prepared "
                f"({redact_text(f'{type(exc).__name__}: {exc}')}); nothing was queued",
                hint="run again with -v and report the traceback",
            ) from exc
        result.enqueued = self._enqueue(
            as_of=as_of, alerted=decision.alert, cleared=decision.cleared, messages=out
        )
        log.info(
            "slack_enqueued",
            alerts=result.alerts,
            escalations=result.escalations,
            cleared=len(decision.cleared),
            enqueued=result.enqueued,
        )
        self._finish(result)
        return result

    def _compose(
        self,
        result,
        run_id,
        job,
        as_of,
        scores,
        signals,
        accounts,
        users,
        previous,
        tasks_created,
        failures,
        capacity,
    ) -> tuple[Any, list[ledger.OutboxMessage]]:
        """The alert decision and the messages of a run (no Slack call, nothing stored)."""
        pb = self.playbook.alerts
        active = alerting_signals(signals, pb.severities)
        decision = decide_alerts(
            active, ledger.open_episodes(self.store), as_of=as_of, snooze_days=pb.snooze_days
        )
        result.new, result.cleared = decision.alert, decision.cleared
        info = self._account_info(accounts, scores, users)
        due = (as_of + timedelta(hours=pb.due_hours)).isoformat() if isinstance(as_of, date) else ""
        active_codes = active.groupby("account_id")["code"].apply(sorted).to_dict()
        out: list[ledger.OutboxMessage] = []
        for row in decision.alert.itertuples(index=False):
            ctx = self._alert_ctx(info, row.account_id, [row.code], active_codes, due)
            text, blocks = self.messages.signal_alert(ctx)
            out.append(
                ledger.OutboxMessage(
                    f"signal:{row.account_id}:{row.code}:{row.episode}:{as_of}",
                    "signal",
                    self.channel,
                    text,
                    blocks,
                    str(run_id),
                    mentions=ctx["mentions"],
                )
            )
            result.alerts += 1
        if self.manager_channel:
            for account_id, group in decision.alert.groupby("account_id", sort=True):
                ctx = self._alert_ctx(info, account_id, list(group["code"]), active_codes, due)
                reasons = []
                if ctx.get("segment") in pb.escalate_segments:
                    reasons.append("segment")
                if ctx.get("band") in pb.escalate_bands:
                    reasons.append("band")
                if not reasons:
                    continue
                text, blocks = self.messages.escalation(ctx, reasons)
                out.append(
                    ledger.OutboxMessage(
                        f"escalation:{account_id}:{as_of}",
                        "escalation",
                        self.manager_channel,
                        text,
                        blocks,
                        str(run_id),
                        mentions=ctx["mentions"],
                    )
                )
                result.escalations += 1
        digest = self._digest_ctx(
            job, as_of, decision, info, scores, previous, tasks_created, failures, capacity
        )
        text, blocks = self.messages.digest(digest)
        out.append(
            ledger.OutboxMessage(
                f"digest:{job}:{run_id}", "digest", self.channel, text, blocks, str(run_id)
            )
        )
        return decision, out

    def _overdue_notices(self, run_id, escalations, accounts, users) -> list[ledger.OutboxMessage]:
        """One notice per escalation of an overdue signal Task, to the manager channel (else
        the CS channel), mentioning the manager; dedupe key ``overdue:<signal Task key>``."""
        if not escalations:
            return []
        info = self._account_info(accounts, None, None)
        emails, names = {}, {}
        if users is not None and not users.empty:
            for rec in users.to_dict(orient="records"):
                uid = str(rec.get("user_id") or "")[:15]
                emails[uid] = rec.get("email") if isinstance(rec.get("email"), str) else None
                names[uid] = rec.get("name") if isinstance(rec.get("name"), str) else ""
        out = []
        for esc in escalations:
            manager = str(esc.get("owner_id") or "")[:15]
            email, name = emails.get(manager), names.get(manager) or ""
            mentions = (mention_spec(email, name),) if email else ()
            account_id = esc["account_id"]
            account = account_id
            if account_id in info.index and isinstance(info.at[account_id, "name"], str):
                account = info.at[account_id, "name"]
            text, blocks = self.messages.overdue_escalation(
                {
                    "account_id": account_id,
                    "account_name": account,
                    "subject": esc.get("subject", ""),
                    "due_date": esc.get("due_date", ""),
                    "manager": placeholder(0) if mentions else (name or "-"),
                }
            )
            key = esc["sync_key"].split(":", 1)[1]
            out.append(
                ledger.OutboxMessage(
                    f"overdue:{key}",
                    "escalation",
                    self.manager_channel or self.channel,
                    text,
                    blocks,
                    str(run_id),
                    mentions=mentions,
                )
            )
        return out

    def notify_run_failed(self, *, run_id: Any, job: str, as_of: Any, error: str) -> NotifyResult:
        """Alert the CS channel that a run failed (``error`` must be redacted). Never raises
        (the run's own error matters more)."""
        result = NotifyResult()
        if self.session is None:
            result.skipped = "slack is not configured"
            return result
        try:
            text, blocks = self.messages.run_failed(
                job=job, as_of=str(as_of), run_id=str(run_id), error=error
            )
            msg = ledger.OutboxMessage(
                f"run_failed:{job}:{run_id}", "run_failed", self.channel, text, blocks, str(run_id)
            )
            result.enqueued = self._enqueue(
                as_of=as_of, alerted=pd.DataFrame(), cleared=pd.DataFrame(), messages=[msg]
            )
            self._finish(result)
        except Exception as exc:  # noqa: BLE001
            result.error = redact_text(f"{type(exc).__name__}: {exc}")
            log.error("slack_notify_failed", error=result.error)
        return result

    def post_kpi_summary(self, month: str, rows: list[dict[str, Any]]) -> NotifyResult:
        """Post the monthly KPI summary once per month (re-runs find it in the outbox).
        Raises :class:`AlertQueueError` when it cannot be queued; Slack failures leave it
        queued (``result.error``)."""
        result = NotifyResult()
        if self.session is None:
            result.skipped = "slack is not configured"
            return result
        self.session.reset()
        text, blocks = self.messages.kpi_summary(month, rows)
        channel = self.manager_channel or self.channel
        msg = ledger.OutboxMessage(f"kpi:{month}", "kpi", channel, text, blocks, None)
        result.enqueued = self._enqueue(
            as_of=date.today(), alerted=pd.DataFrame(), cleared=pd.DataFrame(), messages=[msg]
        )
        self._finish(result)
        return result

    # --- helpers --------------------------------------------------------------------------
    def _account_info(self, accounts, scores, users) -> pd.DataFrame:
        info = accounts[[c for c in ("account_id", "name", "owner_id") if c in accounts]].copy()
        if scores is not None and not scores.empty:
            cols = [
                c for c in ("account_id", "health_score", "health_band", "segment") if c in scores
            ]
            info = info.merge(scores[cols], on="account_id", how="left")
        if users is not None and not users.empty:
            u = users.rename(
                columns={"user_id": "owner_id", "name": "owner_name", "email": "owner_email"}
            )
            u = u[[c for c in ("owner_id", "owner_name", "owner_email") if c in u]]
            info = info.merge(u, on="owner_id", how="left")
        return info.drop_duplicates("account_id").set_index("account_id")

    def _alert_ctx(self, info, account_id, codes, active_codes, due) -> dict[str, Any]:
        row = info.loc[account_id] if account_id in info.index else pd.Series(dtype=object)

        def get(name):
            v = row.get(name)
            return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v

        others = [c for c in active_codes.get(account_id, []) if c not in codes]
        owner_name = get("owner_name") or get("owner_id")
        email = get("owner_email")
        mentions = (mention_spec(email, owner_name),) if email else ()
        return {
            "account_id": account_id,
            "account_name": get("name"),
            "segment": get("segment"),
            "score": get("health_score"),
            "band": get("health_band"),
            "codes": list(codes) + others,
            "owner_mention": placeholder(0) if mentions else None,  # filled in when delivered
            "owner_name": owner_name,
            "mentions": mentions,
            "due_date": due,
        }

    def _digest_ctx(
        self, job, as_of, decision, info, scores, previous, tasks_created, failures, capacity
    ) -> dict[str, Any]:
        def name(account_id):
            if account_id in info.index and isinstance(info.at[account_id, "name"], str):
                return info.at[account_id, "name"]
            return account_id

        def by_account(frame):
            return [
                {"account_name": name(a), "signals": self.messages.signals_text(sorted(g["code"]))}
                for a, g in frame.groupby("account_id", sort=True)
            ]

        return {
            "job": job,
            "as_of": str(as_of),
            "new_count": len(decision.alert),
            "cleared_count": len(decision.cleared),
            "new": by_account(decision.alert) if not decision.alert.empty else [],
            "cleared": by_account(decision.cleared) if not decision.cleared.empty else [],
            "bands": band_movements(scores, previous, self.messages),
            "tasks_created": tasks_created,
            "failures": list(failures),
            "capacity": capacity_lines(capacity, self.playbook) if capacity is not None else [],
        }


def band_movements(
    scores: pd.DataFrame | None, previous: pd.DataFrame | None, messages: MessageBuilder | None
) -> list[dict[str, Any]]:
    """Counts of accounts per (previous band -> current band) where the band changed."""
    if scores is None or previous is None or scores.empty or previous.empty:
        return []
    if "health_band" not in previous:
        return []
    merged = scores[["account_id", "health_band"]].merge(
        previous[["account_id", "health_band"]], on="account_id", suffixes=("", "_prev")
    )
    moved = merged[
        merged["health_band"].notna()
        & merged["health_band_prev"].notna()
        & (merged["health_band"] != merged["health_band_prev"])
    ]
    counts = moved.groupby(["health_band_prev", "health_band"]).size()
    rank = {b: i for i, b in enumerate(BAND_ORDER)}
    rows = sorted(counts.items(), key=lambda kv: (-rank.get(kv[0][1], -1), rank.get(kv[0][0], 9)))
    label = messages.band_label if messages else str
    return [{"from_band": label(a), "to_band": label(b), "count": int(n)} for (a, b), n in rows]
