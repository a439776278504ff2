"""Slack alerts over real HTTP: dedupe across runs, snooze, 429 Retry-After, outages."""

from __future__ import annotations

import json
import socket
from datetime import date, timedelta

import pandas as pd
import pytest
from slack_helpers import (
    ALL,
    DAY0,
    PLAYBOOK,
    SlackServer,  # noqa: F401  (test_kpi_command imports it from here)
    by_kind,
    notifier,
    run,
    signals,
    slack_server,
)

from sfsync.notify.dedupe import decide_alerts
from sfsync.state.alerts import outbox_counts

slack = pytest.fixture(slack_server, name="slack")


def test_one_digest_per_owner_and_none_on_the_next_run(store, slack):
    n = notifier(store, slack.base_url)
    first = run(n, DAY0, ALL, 1, tasks_created=4)
    assert first.error is None
    # three high/medium churn signals of two owners; low severity and upsell signals do not
    # alert: one digest per owner, one escalation message, the run digest
    assert first.alerts == 3 and first.owner_digests == 2 and first.escalations == 1
    posted = slack.messages
    cs = by_kind(posted, "#cs-alerts")
    digests = [m for m in cs if "担当顧客の新着" in m["text"]]
    assert len(digests) == 2
    tsuda = next(m for m in digests if "<@U0TSUDA>" in m["text"])
    blocks = json.dumps(tsuda["blocks"], ensure_ascii=False)
    assert "&lt;Strategic&gt;" in blocks
    assert "60日以上ログインなし" in blocks and "no_login" not in blocks  # labels, not codes
    assert "新規シグナル 2 件（1 社）" in tsuda["text"]
    assert "https://example.my.salesforce.com/lightning/r/Account/001S/view" in blocks
    assert "2025-03-17" in blocks  # due in 48 hours
    beta = next(m for m in digests if "Beta" in json.dumps(m["blocks"], ensure_ascii=False))
    assert "鈴木" in beta["text"]  # no Slack user for this email: the name
    managers = by_kind(posted, "#cs-managers")
    assert len(managers) == 1 and "1 社" in managers[0]["text"]  # S segment, red band
    escalation = json.dumps(managers[0]["blocks"], ensure_ascii=False)
    assert "Acme" in escalation and "<@U0TSUDA>" in escalation
    assert "Beta" not in escalation
    digest = [m for m in cs if "実行サマリー" in m["text"]]
    assert len(digest) == 1 and "新規シグナル 3 件" in digest[0]["text"]
    assert "作成タスク 4 件" in digest[0]["text"]

    slack.clear()
    second = run(n, DAY0 + timedelta(days=1), ALL, 2)
    assert second.alerts == 0 and second.escalations == 0 and second.owner_digests == 0
    assert [m["text"][:6] for m in slack.messages] == ["実行サマリー"]
    assert outbox_counts(store) == {"sent": 5}

    # the same run id again (a re-run after a crash) posts nothing at all
    slack.clear()
    run(n, DAY0 + timedelta(days=1), ALL, 2)
    assert slack.messages == []


def test_cleared_signal_alerts_again_when_it_reappears(store, slack):
    n = notifier(store, slack.base_url, language="en")
    only = signals(("001B", "deliveries_drop"))
    run(n, DAY0, only, 1)
    gone = run(n, DAY0 + timedelta(days=1), signals(("001S", "red_band")), 2)
    assert gone.cleared[["account_id", "code"]].values.tolist() == [["001B", "deliveries_drop"]]
    digest = slack.messages[-1]
    assert "1 cleared" in digest["text"]
    assert "Cleared signals" in json.dumps(digest["blocks"])
    slack.clear()
    back = run(n, DAY0 + timedelta(days=2), only, 3)
    assert back.new[["code", "episode", "reason"]].values.tolist() == [
        ["deliveries_drop", 2, "reappeared"]
    ]
    owner_digests = [m for m in slack.messages if "New for your accounts" in m["text"]]
    assert len(owner_digests) == 1 and "Beta" in json.dumps(owner_digests[0]["blocks"])


def test_snooze_ends_after_the_configured_days(store, slack):
    n = notifier(store, slack.base_url)
    sig = signals(("001B", "deliveries_drop"))
    run(n, DAY0, sig, 1)
    snooze = PLAYBOOK.alerts.snooze_days
    day_before = run(n, DAY0 + timedelta(days=snooze - 1), sig, 2)
    assert day_before.alerts == 0
    on_day = run(n, DAY0 + timedelta(days=snooze), sig, 3)
    assert on_day.new["reason"].tolist() == ["snooze_ended"]
    assert run(n, DAY0 + timedelta(days=snooze + 1), sig, 4).alerts == 0


def test_decide_alerts_boundaries_pure():
    active = pd.DataFrame({"account_id": ["a"], "code": ["x"], "severity": ["high"]})
    led = pd.DataFrame(
        {
            "account_id": ["a"],
            "code": ["x"],
            "episode": [3],
            "last_alerted_on": [date(2025, 3, 1)],
            "cleared_on": [None],
        }
    )
    same = decide_alerts(active, led, as_of=date(2025, 3, 14), snooze_days=14)
    assert same.alert.empty and same.cleared.empty
    ended = decide_alerts(active, led, as_of=date(2025, 3, 15), snooze_days=14)
    assert ended.alert[["episode", "reason"]].values.tolist() == [[3, "snooze_ended"]]
    never = decide_alerts(active, led, as_of=date(2026, 3, 15), snooze_days=0)
    assert never.alert.empty  # snooze 0 = never re-alert while active
    cleared = decide_alerts(active.iloc[0:0], led, as_of=date(2025, 3, 2), snooze_days=14)
    assert cleared.cleared.values.tolist() == [["a", "x", 3]]


def test_rate_limit_429_honours_retry_after(store, slack):
    slept: list[float] = []
    n = notifier(store, slack.base_url, sleep=slept.append)
    n.mention("tsuda@example.com")  # resolve the mentions before the faults start
    n.mention("suzuki@example.com")
    slack.faults(rate_limited=2, retry_after=7)
    result = run(n, DAY0, signals(("001B", "deliveries_drop")), 1)
    assert result.delivery.sent == 2 and result.delivery.pending == 0
    assert len(slept) == 2 and all(7 <= s < 8 for s in slept)
    counters = slack.counters()
    # the first post was answered 429 twice and retried after Retry-After each time; the
    # digest went through at once
    assert counters["faults_ratelimited"] == 2
    assert counters["users.lookupByEmail"] == 2 and counters["chat.postMessage"] == 2 + 2
    assert len(slack.messages) == 2


@pytest.mark.parametrize("outage", ["503", "drop"])
def test_outage_keeps_messages_pending_and_next_run_delivers_them(store, slack, outage):
    slack.faults(outage=outage)
    n = notifier(store, slack.base_url)
    down = run(n, DAY0, ALL, 1)  # must not raise
    assert down.alerts == 3
    assert "Slack is unavailable" in down.error or "unreachable" in down.error
    assert down.delivery.sent == 0 and down.delivery.pending == 4
    assert outbox_counts(store) == {"pending": 4}
    # the first call (the owner's lookup) failed and was retried once; after that sign of an
    # outage nothing else was tried: no posts (a message never goes out without its mention)
    counters = slack.counters()
    assert 1 <= counters["users.lookupByEmail"] <= 2 and counters.get("chat.postMessage", 0) == 0

    slack.faults()
    up = run(notifier(store, slack.base_url), DAY0 + timedelta(days=1), ALL, 2)
    assert up.alerts == 0  # already decided on day 0
    assert up.delivery.sent == 5  # 4 old + today's digest
    assert outbox_counts(store) == {"sent": 5}
    texts = [m["text"] for m in slack.messages]
    assert sum("担当顧客の新着" in t for t in texts) == 2
    # delivered a day late, the digest still mentions its owner
    tsuda = next(t for t in texts if "担当顧客の新着" in t and "U0TSUDA" in t)
    assert "担当：<@U0TSUDA>" in json.dumps(slack.messages, ensure_ascii=False)
    assert "津田" not in tsuda
    assert up.error is None


def test_connection_refused_never_raises(store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    n = notifier(store, f"http://127.0.0.1:{port}/api/")
    result = run(n, DAY0, ALL, 1)
    assert result.delivery.sent == 0
    assert "unreachable" in (result.delivery.error or "")
    assert "unreachable" in result.error  # the run's note
    assert outbox_counts(store) == {"pending": 4}


def test_ok_false_is_not_marked_sent(store, slack):
    n = notifier(store, slack.base_url)
    n.channel = "#general"  # the bot is not a member: ok:false not_in_channel
    result = run(n, DAY0, signals(("001B", "deliveries_drop")), 1)
    assert result.delivery.sent == 0
    assert outbox_counts(store) == {"pending": 2}
    assert "not_in_channel" in result.delivery.error


def test_run_failed_alert_and_band_movements(store, slack):
    n = notifier(store, slack.base_url, language="en")
    prev = pd.DataFrame(
        {"account_id": ["001S", "001B", "001G"], "health_band": ["yellow", "orange", "yellow"]}
    )
    run(n, DAY0, signals(), 1, previous=prev, failures=["Task 00T1: FIELD_CUSTOM_VALIDATION"])
    digest = json.dumps(slack.messages[-1]["blocks"], ensure_ascii=False)
    assert "🟡 caution → 🔴 danger: 1 accounts" in digest
    assert "🟡 caution → 🟢 healthy: 1 accounts" in digest
    assert "FIELD_CUSTOM_VALIDATION" in digest
    failed = n.notify_run_failed(run_id=9, job="nightly", as_of=DAY0, error="SyncError: boom")
    assert failed.delivery.sent == 1
    assert slack.messages[-1]["text"].startswith("Run failed: nightly")
    again = n.notify_run_failed(run_id=9, job="nightly", as_of=DAY0, error="SyncError: boom")
    assert again.enqueued == 0 and again.delivery.sent == 0
