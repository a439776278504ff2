"""Delivering the outbox to Slack: each message once, with its mentions, across crashes.

``chat.postMessage`` has no idempotency key, so every attempt is recorded before the call:
the outbox row is *claimed* (``sending``, a claim token naming host and process, the claim
time) and committed, then posted with message metadata
``{"event_type": "sfsync_message", "event_payload": {"dedupe_key": …}}``, then marked ``sent``
with Slack's ``ts`` and channel id. A row found ``sending`` by a later delivery is an attempt
that may have reached Slack: when its process is gone (same host), is this process, or the
claim is older than :data:`STALE_CLAIM`, the channel's history since the claim
(``conversations.history`` with ``oldest`` and ``include_all_metadata``) is searched for the
dedupe key; found, the row is marked ``sent`` with that message's ``ts``; not found, it is
posted again. A claim of another live run is left alone.

HTTP 429 is retried after ``Retry-After`` (Slack did not process the call). Connection errors
and 5xx are *not* retried for ``chat.postMessage`` (the request may have been processed); the
row stays ``sending`` and is checked next time. Without the ``channels:history`` scope the
check cannot be made: the message is posted again and a warning says so (``sfsync doctor``
warns about the missing scope).

Mentions are resolved here (``users.lookupByEmail``, or one ``users.list`` pass when many
owners are mentioned), so a message queued during an outage
mentions its owner when it finally goes out. When Slack is unavailable for a lookup the
message is not posted (it stays queued) rather than posted without its mention.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from sfsync.notify.mentions import fill, render_mention
from sfsync.notify.messages import escape
from sfsync.notify.pacing import Pacer, no_pacing
from sfsync.notify.problems import SlackProblem, classify
from sfsync.state import alerts as ledger
from sfsync.state.db import utcnow

log = structlog.get_logger(__name__)

EVENT_TYPE = "sfsync_message"  # metadata event type of every message sfsync posts
STALE_CLAIM = timedelta(minutes=15)  # an attempt older than this is over, wherever it ran
CLOCK_SKEW_SECONDS = 600  # search history from this long before the claim (clock skew)
HISTORY_PAGE_SIZE = 200
HISTORY_MAX_PAGES = 25
# More owners to look up than this: list the workspace's members (users.list, 200 a page)
# instead of one users.lookupByEmail call each.
LOOKUP_ONE_BY_ONE_MAX = 10
USERS_PAGE_SIZE = 200
USERS_MAX_PAGES = 50
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,}")


def after_post(message: ledger.OutboxMessage, response: Any) -> None:
    """Called between Slack accepting ``message`` and recording it as sent.

    Does nothing; it names the window a crash must not turn into a duplicate (tests replace
    it to "die" there)."""


class SlackCallFailed(Exception):
    """A Slack Web API call failed; ``problem`` says what it means."""

    def __init__(self, problem: SlackProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class Unverifiable(Exception):
    """Whether an earlier attempt posted the message cannot be found out."""


@dataclass
class DeliveryResult:
    """One delivery pass. ``sent`` includes ``recovered`` (messages an earlier, interrupted
    attempt had posted: found in the channel's history and recorded, not posted again);
    ``pending`` are still queued; ``error`` says why (without secrets); ``config_error``
    when it is a configuration problem (a rejected token)."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    recovered: int = 0
    error: str | None = None
    config_error: bool = False
    warnings: list[str] = field(default_factory=list)


def posting_client(client: WebClient) -> WebClient:
    """A copy of ``client`` that retries only HTTP 429 (a request Slack did not process), never
    a connection error or 5xx whose request Slack may have processed."""
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=dict(client.headers),
        retry_handlers=[
            h for h in client.retry_handlers if isinstance(h, RateLimitErrorRetryHandler)
        ],
    )


class SlackSession:
    """One run's use of Slack: clients, API-call count, the user and channel caches, and
    whether Slack became unavailable (``problem``), after which nothing more is tried."""

    def __init__(
        self, client: WebClient, post_client: WebClient | None = None, pacer: Pacer | None = None
    ) -> None:
        self.client = client
        self.post_client = post_client or posting_client(client)
        self.pacer = pacer or no_pacing()  # posts per channel spaced (Slack: ~1 per second)
        self.api_calls = 0  # Slack Web API calls made (retries not counted)
        self.problem: SlackProblem | None = None
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._users: dict[str, str | None] = {}
        self._channels: dict[str, str | None] = {}

    @property
    def down(self) -> bool:
        return self.problem is not None

    def reset(self) -> None:
        """A new run tries Slack again."""
        self.problem = None

    def call(self, method, **kwargs) -> Any:
        """Call a WebClient method; failures raise :class:`SlackCallFailed`, and one that makes
        Slack unavailable is remembered."""
        self.api_calls += 1
        try:
            return method(**kwargs)
        except Exception as exc:  # noqa: BLE001 - classified below
            problem = classify(exc)
            if problem.unavailable and self.problem is None:
                self.problem = problem
            raise SlackCallFailed(problem) from exc

    # --- mentions -------------------------------------------------------------------------
    def user_id(self, email: str | None) -> str | None:
        """The Slack user id of ``email``, or None (no such user, no scope, Slack down)."""
        if not email or self.down:
            return None
        if email not in self._users:
            try:
                resp = self.call(self.client.users_lookupByEmail, email=email)
            except SlackCallFailed as failed:
                log.info("slack_user_lookup_failed", error=failed.problem.message)
                if failed.problem.unavailable:
                    return None  # not remembered: try again when Slack is back
                self._users[email] = None
                return None
            self._users[email] = resp["user"]["id"]
        return self._users[email]

    def prefetch_users(self, emails) -> int:
        """Resolve many emails at once: when more than :data:`LOOKUP_ONE_BY_ONE_MAX` are
        unknown, page through ``users.list`` and remember the id of each wanted email (an email
        no member has is remembered as None). Returns the ``users.list`` calls made. Any
        failure (missing scope, a huge workspace) leaves the rest to ``users.lookupByEmail``."""
        wanted = {e.lower(): e for e in emails if e and e not in self._users}
        if len(wanted) <= LOOKUP_ONE_BY_ONE_MAX or self.down:
            return 0
        found: dict[str, str] = {}
        cursor = None
        calls = 0
        saw_email = False
        for _ in range(USERS_MAX_PAGES):
            try:
                page = self.call(self.client.users_list, limit=USERS_PAGE_SIZE, cursor=cursor)
            except SlackCallFailed as failed:
                log.info("slack_users_list_failed", error=failed.problem.message)
                return calls + 1
            calls += 1
            for member in page.get("members") or []:
                email = ((member.get("profile") or {}).get("email") or "").lower()
                saw_email = saw_email or bool(email)
                if email in wanted and not member.get("deleted") and email not in found:
                    found[email] = member["id"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        else:
            return calls  # not every page read: the rest are looked up one by one
        if not saw_email:
            return calls  # no emails visible (no users:read.email): look them up one by one
        for lower, email in wanted.items():
            self._users[email] = found.get(lower)
        return calls

    def render(self, message: ledger.OutboxMessage) -> tuple[str, list[dict]] | None:
        """The message's text and blocks with its mentions filled in; None when Slack became
        unavailable while looking them up (the message then waits, mentions intact)."""
        if not message.mentions:
            return message.text, message.blocks
        values = []
        for spec in message.mentions:
            uid = spec.get("user_id") or self.user_id(spec.get("email"))
            if self.down:
                return None
            values.append(render_mention(spec, uid, escape))
        return fill(message.text, values), fill(message.blocks, values)

    # --- history --------------------------------------------------------------------------
    def channel_id(self, channel: str, store) -> str | None:
        """The id of a configured channel (``#cs-alerts``, ``cs-alerts`` or an id)."""
        if _CHANNEL_ID.fullmatch(channel):
            return channel
        if channel not in self._channels:
            known = ledger.known_channel_ids(store).get(channel)
            self._channels[channel] = known or self._list_channel(channel.lstrip("#"))
        return self._channels[channel]

    def _list_channel(self, name: str) -> str | None:
        cursor = None
        for _ in range(50):
            page = self.call(
                self.client.conversations_list,
                cursor=cursor,
                limit=200,
                types="public_channel,private_channel",
                exclude_archived=True,
            )
            for found in page.get("channels", []):
                if found.get("name") == name:
                    return found["id"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def find_posted(self, message: ledger.OutboxMessage, store) -> tuple[str, str] | None:
        """(ts, channel id) of the message an earlier attempt posted, or None if there is none
        in the channel's history since the attempt. Raises :class:`Unverifiable` or
        :class:`SlackCallFailed`."""
        try:
            channel_id = self.channel_id(message.channel, store)
        except SlackCallFailed as failed:
            if failed.problem.unavailable:
                raise
            raise Unverifiable(f"cannot find the channel {message.channel}: {failed}") from None
        if channel_id is None:
            raise Unverifiable(f"the channel {message.channel} is not visible to the bot")
        claimed = (message.claimed_at or utcnow()).replace(tzinfo=UTC)
        oldest = max(claimed.timestamp() - CLOCK_SKEW_SECONDS, 0)
        cursor = None
        for _ in range(HISTORY_MAX_PAGES):
            try:
                page = self.call(
                    self.client.conversations_history,
                    channel=channel_id,
                    oldest=f"{oldest:.6f}",
                    limit=HISTORY_PAGE_SIZE,
                    include_all_metadata=True,
                    cursor=cursor,
                )
            except SlackCallFailed as failed:
                if failed.problem.unavailable:
                    raise
                raise Unverifiable(
                    f"cannot read the history of {message.channel}: {failed}"
                ) from None
            for posted in page.get("messages") or []:
                if _dedupe_key(posted) == message.dedupe_key:
                    return str(posted["ts"]), channel_id
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return None
        raise Unverifiable(f"too many messages in {message.channel} since the attempt")

    # --- posting --------------------------------------------------------------------------
    def post(self, message: ledger.OutboxMessage, text: str, blocks: list[dict]) -> Any:
        """chat.postMessage with the dedupe key as message metadata, paced per channel."""
        self.pacer.wait(message.channel)
        return self.call(
            self.post_client.chat_postMessage,
            channel=message.channel,
            text=text,
            blocks=blocks,
            metadata={
                "event_type": EVENT_TYPE,
                "event_payload": {"dedupe_key": message.dedupe_key, "kind": message.kind},
            },
        )


def _dedupe_key(posted: dict) -> str | None:
    metadata = posted.get("metadata") or {}
    if metadata.get("event_type") != EVENT_TYPE:
        return None
    return (metadata.get("event_payload") or {}).get("dedupe_key")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a killed process not yet reaped by its parent is a zombie: gone
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def claim_abandoned(
    message: ledger.OutboxMessage, host: str, pid: int, now: datetime | None = None
) -> bool:
    """Whether the ``sending`` claim of ``message`` belongs to an attempt that is over: older
    than :data:`STALE_CLAIM`, or made on this host by this process or by one that is gone."""
    now = now or utcnow()
    if message.claimed_at is None or now - message.claimed_at >= STALE_CLAIM:
        return True
    parts = (message.claim_token or "").rsplit(":", 2)
    if len(parts) != 3:
        return True
    claim_host, claim_pid, _ = parts
    if claim_host != host[:80]:
        return False
    try:
        owner = int(claim_pid)
    except ValueError:
        return True
    return owner == pid or not _pid_alive(owner)


def deliver(store, session: SlackSession) -> DeliveryResult:
    """Post every queued message, oldest first. Never raises for Slack failures; once Slack is
    unavailable the rest stay queued."""
    result = DeliveryResult()
    pending = ledger.pending_messages(store)
    session.prefetch_users(
        spec.get("email") for m in pending for spec in m.mentions if not spec.get("user_id")
    )
    for message in pending:
        if session.down:
            result.pending += 1
            continue
        _deliver_one(store, session, message, result)
    if session.problem is not None:
        result.error = session.problem.text()
        result.config_error = session.problem.config
    log.info(
        "slack_delivered",
        sent=result.sent,
        recovered=result.recovered,
        pending=result.pending,
        failed=result.failed,
    )
    return result


def _deliver_one(store, session: SlackSession, message, result: DeliveryResult) -> None:
    if message.status == ledger.SENDING:
        if not claim_abandoned(message, session.host, session.pid):
            result.pending += 1  # another run is posting it right now
            return
        try:
            found = session.find_posted(message, store)
        except SlackCallFailed:
            result.pending += 1  # Slack unavailable: check again next time
            return
        except Unverifiable as exc:
            found = None
            warning = (
                f"could not check whether an interrupted attempt had posted {message.kind} "
                f"message {message.dedupe_key} ({exc}); posting it again. Give the Slack app "
                "the channels:history scope (groups:history for private channels)"
            )
            result.warnings.append(warning)
            log.warning("slack_resend_unverified", kind=message.kind, reason=str(exc))
        if found is not None:
            ts, channel_id = found
            ledger.mark_sent(store, message.id, ts, channel_id)
            result.sent += 1
            result.recovered += 1
            log.info("slack_message_found_posted", kind=message.kind, ts=ts)
            return
    rendered = session.render(message)
    if rendered is None:
        result.pending += 1
        return
    token = ledger.new_claim_token(session.host, session.pid)
    if not ledger.claim(store, message, token):
        result.pending += 1  # another run claimed it meanwhile
        return
    try:
        response = session.post(message, *rendered)
    except SlackCallFailed as failed:
        problem = failed.problem
        if problem.maybe_delivered:
            ledger.mark_failed(store, message.id, problem.message)  # stays sending: checked
        else:
            ledger.release(store, message.id, token, problem.message)
        result.failed += 1
        result.pending += 1
        result.error = problem.text()
        log.warning("slack_post_failed", kind=message.kind, error=problem.message)
        return
    after_post(message, response)
    ledger.mark_sent(store, message.id, response.get("ts"), response.get("channel"))
    result.sent += 1
