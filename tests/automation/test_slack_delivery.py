"""Slack delivery you can rely on, against the sandbox Slack over real HTTP, on SQLite and
PostgreSQL: a run killed between Slack's answer and recording it never posts twice; a message
delivered late keeps its @mention; a rejected token is a plain configuration problem (run
note, doctor row with a fix) and the messages stay queued; the outbox migrates."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest
from pydantic import SecretStr
from slack_helpers import ALL, DAY0, TOKEN, notifier, run, signals, slack_server
from sqlalchemy import select, text, update

from sfsync.notify import delivery
from sfsync.notify.slack import AlertQueueError
from sfsync.ops.doctor import FAIL, OK, WARN, check_slack
from sfsync.report import RunSummary
from sfsync.state import open_store
from sfsync.state.alerts import alert_outbox, outbox_counts
from sfsync.state.db import utcnow

slack = pytest.fixture(slack_server, name="slack")


class Died(BaseException):
    """The process "dies": nothing after the raise runs (not an Exception: nothing catches
    it)."""


def keys_posted(slack) -> Counter:
    """How many times each dedupe key was posted (from the sandbox's recorded metadata)."""
    return Counter(
        m["metadata"]["event_payload"]["dedupe_key"] for m in slack.messages if m.get("metadata")
    )


def outbox_rows(store) -> list[dict]:
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(select(alert_outbox)).mappings().all()]


# --- killed during delivery ----------------------------------------------------------------


def test_killed_between_post_and_marking_sent_posts_once(store, slack, monkeypatch):
    posted = []

    def die_after_second_post(message, response):
        posted.append(message.dedupe_key)
        if len(posted) == 2:
            raise Died  # Slack has the message; the outbox row is still "sending"

    monkeypatch.setattr(delivery, "after_post", die_after_second_post)
    with pytest.raises(Died):
        run(notifier(store, slack.base_url), DAY0, ALL, 1)
    assert outbox_counts(store) == {"sent": 1, "sending": 1, "pending": 2}
    assert len(slack.messages) == 2

    monkeypatch.setattr(delivery, "after_post", lambda message, response: None)
    again = notifier(store, slack.base_url).deliver_pending()
    assert again.recovered == 1 and again.sent == 3 and again.pending == 0
    counts = keys_posted(slack)
    assert len(counts) == 4 and set(counts.values()) == {1}  # every message exactly once
    assert outbox_counts(store) == {"sent": 4}
    # the recovered row carries the ts and channel of the message the dead attempt posted
    row = next(r for r in outbox_rows(store) if r["dedupe_key"] == posted[1])
    message = next(
        m for m in slack.messages if m["metadata"]["event_payload"]["dedupe_key"] == posted[1]
    )
    assert (row["slack_ts"], row["slack_channel"]) == (message["ts"], message["channel"])
    counters = slack.counters()
    assert counters["conversations.history"] == 1


def test_a_process_killed_after_the_post_leaves_no_duplicate(store_url, slack):
    """A real child process posts and dies (os._exit) before recording; the next run checks
    the channel and posts only what is missing."""
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        from slack_helpers import ALL, DAY0, notifier, run
        from sfsync.notify import delivery
        from sfsync.state import open_store

        def die(message, response):
            os._exit(137)

        delivery.after_post = die
        store = open_store({store_url!r})
        run(notifier(store, {slack.base_url!r}), DAY0, ALL, 1)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 137, child.stderr[-3000:]
    assert len(slack.messages) == 1
    store = open_store(store_url)
    try:
        assert outbox_counts(store) == {"sending": 1, "pending": 3}
        result = notifier(store, slack.base_url).deliver_pending()
        assert result.recovered == 1 and result.sent == 4
        assert set(keys_posted(slack).values()) == {1} and len(slack.messages) == 4
        assert outbox_counts(store) == {"sent": 4}
    finally:
        store.dispose()


def test_an_attempt_under_way_elsewhere_is_left_alone(store, slack):
    n = notifier(store, slack.base_url)
    slack.faults(outage="503")
    run(n, DAY0, signals(("001B", "deliveries_drop")), 1)  # 2 messages queued
    slack.faults()
    first = min(r["id"] for r in outbox_rows(store))
    with store.begin() as conn:  # another host is posting it right now
        conn.execute(
            update(alert_outbox)
            .where(alert_outbox.c.id == first)
            .values(status="sending", claim_token="other-host:4242:abc", claimed_at=utcnow())
        )
    busy = notifier(store, slack.base_url).deliver_pending()
    assert busy.sent == 1 and busy.pending == 1 and len(slack.messages) == 1
    with store.begin() as conn:  # that attempt is long over
        conn.execute(
            update(alert_outbox)
            .where(alert_outbox.c.id == first)
            .values(claimed_at=utcnow() - delivery.STALE_CLAIM - timedelta(seconds=1))
        )
    late = notifier(store, slack.base_url).deliver_pending()
    assert late.sent == 1 and late.recovered == 0  # not in the channel: posted now
    assert set(keys_posted(slack).values()) == {1} and len(slack.messages) == 2


def test_without_the_history_scope_the_resend_is_said(store, slack, monkeypatch):
    slack.scopes(["chat:write", "users:read.email", "channels:read"])

    def die(message, response):
        raise Died

    monkeypatch.setattr(delivery, "after_post", die)
    with pytest.raises(Died):
        run(notifier(store, slack.base_url), DAY0, signals(("001B", "deliveries_drop")), 1)
    monkeypatch.setattr(delivery, "after_post", lambda message, response: None)
    n = notifier(store, slack.base_url)
    result = n.deliver_pending()
    assert result.sent == 2 and result.recovered == 0
    assert "channels:history" in result.warnings[0]
    assert len(slack.messages) == 3  # at least once: the unverifiable one went out again


def test_a_dropped_connection_on_post_is_checked_not_retried(store, slack):
    """chat.postMessage is not retried on a dropped connection (Slack may have posted it);
    the row stays "sending" and the next delivery looks before posting."""
    n = notifier(store, slack.base_url)
    n.mention("suzuki@example.com")
    slack.faults(outage="drop")
    result = run(n, DAY0, signals(("001B", "deliveries_drop")), 1)
    assert result.delivery.sent == 0 and result.delivery.pending == 2
    assert slack.counters()["chat.postMessage"] == 1  # one attempt, no blind retry
    assert outbox_counts(store) == {"sending": 1, "pending": 1}
    slack.faults()
    after = notifier(store, slack.base_url).deliver_pending()  # the next run
    assert after.sent == 2 and after.recovered == 0 and len(slack.messages) == 2
    assert slack.counters()["conversations.history"] == 1  # looked before posting again


# --- mentions --------------------------------------------------------------------------------


def test_late_delivery_keeps_the_mention_after_sustained_429(store, slack):
    slack.faults(rate_limited=50, retry_after=1)
    down = run(notifier(store, slack.base_url), DAY0, signals(("001S", "red_band")), 1)
    assert down.delivery.sent == 0 and "429" in down.error
    # stored as data: the owner's email, and a placeholder in the payload (not the name)
    row = next(r for r in outbox_rows(store) if r["kind"] == "owner_digest")
    assert json.loads(row["mentions"])[0]["email"] == "tsuda@example.com"
    assert "<sfsync-mention:0>" in row["payload"] and "津田" not in row["payload"]
    slack.faults()
    up = notifier(store, slack.base_url).deliver_pending()
    assert up.sent == 3 and up.pending == 0
    alert = next(m for m in slack.messages if "担当顧客の新着" in m["text"])
    assert "<@U0TSUDA>" in alert["text"]
    assert "担当：<@U0TSUDA>" in json.dumps(alert["blocks"], ensure_ascii=False)
    escalation = next(m for m in slack.messages if m["channel_name"] == "cs-managers")
    assert "担当：<@U0TSUDA>" in json.dumps(escalation["blocks"], ensure_ascii=False)


def test_an_owner_without_a_slack_account_is_named(store, slack):
    run(notifier(store, slack.base_url), DAY0, signals(("001B", "deliveries_drop")), 1)
    alert = next(m for m in slack.messages if "担当顧客の新着" in m["text"])
    assert "鈴木" in alert["text"] and "sfsync-mention" not in json.dumps(alert)
    assert "担当：鈴木" in json.dumps(alert["blocks"], ensure_ascii=False)


# --- rejected tokens -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["invalid_auth", "account_inactive", "token_revoked"])
def test_a_rejected_token_is_a_config_note_and_messages_stay_queued(store, slack, code):
    slack.faults(auth_error=code)
    result = run(notifier(store, slack.base_url), DAY0, ALL, 1)
    assert result.delivery.config_error and result.delivery.pending == 4
    assert code in result.error and "SFSYNC_SLACK_TOKEN" in result.error
    assert "Traceback" not in result.error and TOKEN not in result.error
    assert "127.0.0.1" not in result.error  # no request URL
    assert outbox_counts(store) == {"pending": 4}
    assert slack.counters().get("chat.postMessage", 0) == 0
    slack.faults()
    assert notifier(store, slack.base_url).deliver_pending().sent == 4


def test_a_wrong_token_is_named_and_fixed(store, slack):
    result = run(notifier(store, slack.base_url, token="xoxb-wrong-value"), DAY0, ALL, 1)
    assert "invalid_auth" in result.error and "Bot User OAuth Token" in result.error
    assert "xoxb-wrong-value" not in result.error


def test_the_run_summary_says_alerts_are_queued():
    summary = RunSummary(job="nightly", as_of=DAY0, status="succeeded", scored=3)
    summary.signal_alerts, summary.alerts_sent, summary.alerts_pending = 3, 0, 5
    summary.notes.append("Slack: Slack rejected the token (token_revoked) …")
    text_ = summary.to_text()
    assert "5 not delivered: queued for the next run" in text_
    event = summary.to_event()
    assert event["alerts_pending"] == 5 and "token_revoked" in event["notes"][0]


def test_messages_that_cannot_be_queued_fail_the_run(store, slack, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from sfsync.state import alerts

    def broken(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(alerts, "record_decisions", broken)
    with pytest.raises(AlertQueueError) as info:
        run(notifier(store, slack.base_url), DAY0, ALL, 1)
    assert "could not be queued" in str(info.value) and "disk I/O error" in str(info.value)
    assert slack.messages == []


# --- doctor ----------------------------------------------------------------------------------


def doctor_rows(slack, store_url, token=TOKEN) -> dict[str, tuple[str, str, str]]:
    settings = SimpleNamespace(
        slack=SimpleNamespace(
            token=SecretStr(token) if token else None,
            base_url=slack.base_url,
            channel="#cs-alerts",
            manager_channel="#cs-managers",
            retry=SimpleNamespace(attempts=None, wait_initial_seconds=0, wait_max_seconds=0),
        ),
        state_url=store_url,
    )
    jobs = {"nightly": SimpleNamespace(notify=SimpleNamespace(slack=True))}
    ctx = SimpleNamespace(project=SimpleNamespace(settings=settings), jobs=jobs)
    return {r.name: (r.status, r.detail, r.fix) for r in check_slack(ctx)}


def test_doctor_slack_all_good(store_url, store, slack):
    rows = doctor_rows(slack, store_url)
    for name in ("Slack authentication", "Slack scopes", "Slack channel #cs-alerts",
                 "Slack channel #cs-managers", "Slack outbox"):  # fmt: skip
        assert rows[name][0] == OK, (name, rows)


@pytest.mark.parametrize(
    ("code", "fix"),
    [("invalid_auth", "Bot User OAuth Token"), ("token_revoked", "reinstall the Slack app"),
     ("account_inactive", "reinstall the Slack app"), ("not_authed", "SFSYNC_SLACK_TOKEN")],
)  # fmt: skip
def test_doctor_names_a_rejected_token_with_its_fix(store_url, store, slack, code, fix):
    slack.faults(auth_error=code)
    status, detail, how = doctor_rows(slack, store_url)["Slack authentication"]
    assert status == FAIL and code in detail and fix in how
    assert "SlackApiError" not in detail and "127.0.0.1" not in detail and TOKEN not in detail


def test_doctor_warns_about_missing_scopes_and_queued_messages(store_url, store, slack):
    slack.faults(outage="503")
    run(notifier(store, slack.base_url), DAY0, signals(("001B", "deliveries_drop")), 1)
    slack.faults()
    slack.scopes(["chat:write", "channels:read"])
    rows = doctor_rows(slack, store_url)
    status, detail, fix = rows["Slack scopes"]
    assert status == WARN and "channels:history" in detail and "users:read.email" in detail
    assert "Bot Token Scopes" in fix
    status, detail, _ = rows["Slack outbox"]
    assert status == WARN and detail.startswith("2 messages waiting")
    slack.scopes(["channels:read"])
    assert doctor_rows(slack, store_url)["Slack scopes"][0] == FAIL  # no chat:write


def test_doctor_unreachable_slack(store_url, store, slack):
    slack.close()
    status, detail, fix = doctor_rows(slack, store_url)["Slack authentication"]
    assert status == FAIL and "unreachable" in detail and "reachable from this host" in fix


# --- migration -------------------------------------------------------------------------------


def test_an_outbox_of_an_older_version_migrates_and_delivers(store_url, slack):
    old = open_store(store_url)
    with old.begin() as conn:
        for column in ("mentions", "claim_token", "claimed_at", "slack_channel"):
            conn.execute(text(f"ALTER TABLE alert_outbox DROP COLUMN {column}"))
        conn.execute(
            text(
                "INSERT INTO alert_outbox (dedupe_key, run_id, kind, channel, payload, status, "
                "attempts, created_at) VALUES ('digest:nightly:1', '1', 'digest', '#cs-alerts', "
                ":payload, 'pending', 0, :now)"
            ),
            {"payload": json.dumps({"text": "old digest", "blocks": []}), "now": utcnow()},
        )
    old.dispose()
    store = open_store(store_url)  # adds the new columns
    try:
        result = notifier(store, slack.base_url).deliver_pending()
        assert result.sent == 1 and [m["text"] for m in slack.messages] == ["old digest"]
        row = outbox_rows(store)[0]
        assert row["status"] == "sent" and row["slack_channel"] == "C0CSALERTS"
    finally:
        store.dispose()
