"""Slack notifications: a digest per owner, batched escalations, the run digest, run
failures, KPIs.

A run posts one digest per owner with something new (their new churn signals, the Tasks
created for them and the ones the daily limit deferred; ``sfsync.notify.owner_digest``), one
message with the run's escalations in the manager channel and the run digest — never one
message per signal, so a first run of 10,000 accounts makes a few dozen Slack calls. Each
owner's digest ends with their ranked worklist (today's top accounts by CS priority,
``sfsync.notify.worklist``); with the playbook's ``touch_model.worklist_in_digest: always``
the first run of a day also gives every owner without new signals a digest of the worklist
alone (a calm morning list), once a day: a later run of the same day sees the day's owner
digests in the outbox and sends calm ones no more. Many owners share messages
(``alerts.owner_messages_max``), so the count of messages stays bounded. Posts to
a channel are paced (``slack.pace_seconds``, ``sfsync.notify.pacing``); delivered messages are
pruned from the outbox after ``slack.outbox_retention_days``.

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
from sfsync.automation.person_capacity import owner_load_lines
from sfsync.automation.playbook import Playbook
from sfsync.catalogue import BANDS
from sfsync.errors import SfsyncError
from sfsync.log import redact_text
from sfsync.notify.dedupe import alerting_signals, decide_alerts
from sfsync.notify.delivery import DeliveryResult, SlackSession, deliver
from sfsync.notify.mentions import mention_spec, placeholder
from sfsync.notify.messages import MessageBuilder, escape
from sfsync.notify.owner_digest import escalation_items, owner_digests
from sfsync.notify.pacing import DEFAULT_INTERVAL, Pacer
from sfsync.notify.retry import retry_handlers
from sfsync.notify.worklist import WorklistItem, owner_worklist_items
from sfsync.state import alerts as ledger
from sfsync.templates import TemplateSet

log = structlog.get_logger(__name__)

BAND_ORDER = list(BANDS)
DEFAULT_RETENTION_DAYS = 30
OWNERS_PER_MESSAGE_MAX = 45  # owners in one packed digest (a header, a rule, a section each)
PACKED_TOP = 5  # accounts listed per owner in a packed digest


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
    pruned: int = 0  # delivered messages deleted from the outbox (retention)
    owner_digests: int = 0
    worklists: int = 0  # owner digests that carry the owner's worklist
    escalation_digests: int = 0

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
        pacer: Pacer | None = None,
        outbox_retention_days: int | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.playbook = playbook
        self.channel = channel
        self.manager_channel = manager_channel
        self.messages = MessageBuilder(templates, instance_url)
        self.session = SlackSession(client, pacer=pacer) if client is not None else None
        self.outbox_retention_days = outbox_retention_days

    @property
    def api_calls(self) -> int:
        """Slack Web API calls made (lookups, history checks and posts; retries not counted)."""
        return self.session.api_calls if self.session is not None else 0

    @classmethod
    def from_settings(
        cls, slack_settings, store, templates: TemplateSet, playbook: Playbook, **kw
    ) -> SlackNotifier:
        """From ``settings.slack`` (token, base_url, channel, manager_channel, pace_seconds,
        outbox_retention_days)."""
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
            pacer=Pacer(getattr(slack_settings, "pace_seconds", DEFAULT_INTERVAL)),
            outbox_retention_days=getattr(
                slack_settings, "outbox_retention_days", DEFAULT_RETENTION_DAYS
            ),
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
        result.pruned = self._prune()
        if result.delivery.pending and result.delivery.error:
            reasons = [result.delivery.error, *result.delivery.warnings]
            result.error = redact_text("; ".join(reasons))

    def _prune(self) -> int:
        """Delete delivered messages older than the retention (never raises: the run's
        messages are out; a failed clean-up is tried again next run)."""
        if not self.outbox_retention_days:
            return 0
        try:
            return ledger.prune_sent(self.store, older_than_days=self.outbox_retention_days)
        except Exception as exc:  # noqa: BLE001
            log.warning("slack_outbox_prune_failed", error=redact_text(f"{type(exc).__name__}"))
            return 0

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
        reassignments: list[dict[str, str]] | None = None,
        escalations: list[dict] | None = None,
        tasks: pd.DataFrame | None = None,
        deferred: pd.DataFrame | None = None,
        task_limit: int | None = None,
        worklist: pd.DataFrame | None = None,
    ) -> NotifyResult:
        """Decide the new alerts and post one digest per owner (their new signals, the Tasks
        created for them — ``tasks``: account_id, owner_id, subject — and the Tasks the daily
        limit of ``task_limit`` deferred, ``deferred``), one batched escalation message to the
        manager channel and the run digest; deliver.

        ``worklist``: the run's touch columns (``account_id``, ``owner_id``, ``cs_priority``;
        ``sfsync.pipeline.Computed.touch``): each digest lists the owner's top accounts, and
        owners without new signals get a calm digest per the playbook's
        ``touch_model.worklist_in_digest`` (module doc). None: no worklist.

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
                tasks,
                deferred,
                task_limit,
                reassignments or [],
                worklist,
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
        tasks=None,
        deferred=None,
        task_limit=None,
        reassignments=(),
        worklist=None,
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
        out: list[ledger.OutboxMessage] = []
        top = pb.digest_top
        worklists, calm = self._worklists(job, as_of, worklist, signals, info)
        digests = owner_digests(
            decision.alert, info, tasks=tasks, deferred=deferred, worklists=worklists,
            calm_owners=calm,
        )  # fmt: skip
        if len(digests) <= pb.owner_messages_max:
            for digest in digests:
                mentions = self._mentions(
                    [(digest.owner_email, digest.owner_name or digest.owner_id)]
                )
                owner = placeholder(0) if mentions else _owner_text(digest)
                text, blocks = self.messages.owner_digest(
                    {"as_of": str(as_of), "due_date": due, "owner": owner, "digest": digest,
                     "top": top, "limit": task_limit,
                     "worklist_top": self.playbook.touch_model.worklist_size}
                )  # fmt: skip
                out.append(
                    ledger.OutboxMessage(
                        f"owner_digest:{job}:{as_of}:{digest.owner_id or '-'}:{run_id}",
                        "owner_digest",
                        self.channel,
                        text,
                        blocks,
                        str(run_id),
                        mentions=mentions,
                    )
                )
        else:
            out.extend(self._packed_digests(digests, job, as_of, run_id, due, task_limit))
        result.owner_digests = len(digests)
        result.worklists = sum(1 for d in digests if d.worklist)
        result.alerts = len(decision.alert)
        if self.manager_channel:
            escalated = escalation_items(
                decision.alert, info, segments=pb.escalate_segments, bands=pb.escalate_bands
            )
            if escalated:
                people: list[tuple] = []
                index: dict[str, int] = {}
                items = []
                for item, reasons, owner_id in escalated:
                    key = str(owner_id or "")
                    email = _cell(info, item.account_id, "owner_email")
                    name = _cell(info, item.account_id, "owner_name") or owner_id
                    if email and key not in index:
                        index[key] = len(people)
                        people.append((email, name))
                    owner = placeholder(index[key]) if email else escape(name or "-")
                    items.append((item, reasons, owner))
                text, blocks = self.messages.escalation_digest(
                    {"as_of": str(as_of), "items": items, "top": max(top, 25)}
                )
                out.append(
                    ledger.OutboxMessage(
                        f"escalations:{job}:{as_of}:{run_id}",
                        "escalation",
                        self.manager_channel,
                        text,
                        blocks,
                        str(run_id),
                        mentions=self._mentions(people),
                    )
                )
                result.escalations = len(escalated)
                result.escalation_digests += 1
        digest = self._digest_ctx(
            job, as_of, decision, info, scores, previous, tasks_created, failures, capacity,
            reassignments,
        )  # fmt: skip
        digest["deferred_count"] = 0 if deferred is None else len(deferred)
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
    def _worklists(
        self, job, as_of, worklist, signals, info
    ) -> tuple[dict[str, list[WorklistItem]], bool]:
        """The owners' worklists and whether owners without new signals get a digest: with
        ``always``, on the first run of the day only (no owner digest of ``job`` and ``as_of``
        in the outbox yet)."""
        policy = self.playbook.touch_model
        if worklist is None or worklist.empty or policy.worklist_in_digest == "never":
            return {}, False
        items = owner_worklist_items(
            worklist,
            signals,
            info,
            as_of=as_of,
            top=policy.worklist_size,
            renewal_lead_months=self.playbook.renewal.lead_months,
        )
        calm = policy.worklist_in_digest == "always" and not ledger.has_messages(
            self.store, f"owner_digest:{job}:{as_of}:"
        )
        return items, calm

    def _packed_digests(self, digests, job, as_of, run_id, due, task_limit):
        """Many owners' digests packed into at most ``alerts.owner_messages_max`` messages (at
        most :data:`OWNERS_PER_MESSAGE_MAX` owners each: Slack takes 50 blocks a message)."""
        per = min(
            -(-len(digests) // self.playbook.alerts.owner_messages_max), OWNERS_PER_MESSAGE_MAX
        )
        groups = [digests[i : i + per] for i in range(0, len(digests), per)]
        out = []
        for part, group in enumerate(groups, start=1):
            people = [(d.owner_email, d.owner_name or d.owner_id) for d in group]
            mentions = self._mentions(people)
            entries = []
            index = 0
            for digest in group:
                if digest.owner_email:
                    entries.append((placeholder(index), digest))
                    index += 1
                else:
                    entries.append((_owner_text(digest), digest))
            text, blocks = self.messages.owners_digest(
                {"as_of": str(as_of), "due_date": due, "part": part, "parts": len(groups),
                 "entries": entries, "top": PACKED_TOP, "limit": task_limit}
            )  # fmt: skip
            out.append(
                ledger.OutboxMessage(
                    f"owner_digest:{job}:{as_of}:part{part}:{run_id}",
                    "owner_digest",
                    self.channel,
                    text,
                    blocks,
                    str(run_id),
                    mentions=mentions,
                )
            )
        return out

    @staticmethod
    def _mentions(people: list[tuple[Any, Any]]) -> tuple[dict, ...]:
        """Mention specs of (email, name) pairs, in order; () when the first has no email."""
        return tuple(mention_spec(email, name) for email, name in people if email)

    def _account_info(self, accounts, scores, users) -> pd.DataFrame:
        wanted = ("account_id", "name", "owner_id", "renewal_date")
        info = accounts[[c for c in wanted if c in accounts]].copy()
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

    def _digest_ctx(
        self, job, as_of, decision, info, scores, previous, tasks_created, failures, capacity,
        reassignments=(),
    ) -> dict[str, Any]:  # fmt: skip
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
            "overloaded": [line for line in owner_load_lines(capacity) if line["over"] == "true"]
            if capacity is not None
            else [],
            "reassignments": [
                {**move, "segment": self.messages.segment_label(move["segment"])}
                for move in reassignments
            ],
        }


def _owner_text(digest) -> str:
    return escape(digest.owner_name or digest.owner_id or "-")


def _cell(info: pd.DataFrame, account_id: Any, column: str) -> Any:
    if column not in info.columns or account_id not in info.index:
        return None
    value = info.at[account_id, column]
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


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
