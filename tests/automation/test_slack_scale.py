"""Slack at scale over real HTTP (the sandbox's Slack Web API): calls grow with owners, not
signals; posts to a channel are paced; 429 waits the Retry-After; the outbox is pruned."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from slack_helpers import PLAYBOOK, TOKEN, SlackServer, slack_server
from sqlalchemy import update

from sfsync.config import SlackSettings
from sfsync.notify.pacing import Pacer
from sfsync.notify.slack import SlackNotifier, make_client
from sfsync.state.alerts import alert_outbox, outbox_counts, prune_sent
from sfsync.templates import load_templates

slack = pytest.fixture(slack_server, name="slack")
DAY0 = date(2025, 3, 15)
OWNERS = 12


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def book(accounts: int, owners: int = OWNERS):
    """``accounts`` accounts spread over ``owners`` owners, each with two new churn signals."""
    ids = [f"001{i:06d}" for i in range(accounts)]
    frame = pd.DataFrame(
        {"account_id": ids, "name": [f"Co {i}" for i in range(accounts)],
         "owner_id": [f"005{i % owners:03d}" for i in range(accounts)]}
    )  # fmt: skip
    users = pd.DataFrame(
        {"user_id": [f"005{o:03d}" for o in range(owners)],
         "name": [f"CSM {o}" for o in range(owners)],
         "email": [f"csm{o}@example.com" for o in range(owners)]}
    )  # fmt: skip
    scores = pd.DataFrame(
        {"account_id": ids, "health_score": [i % 100 for i in range(accounts)],
         "health_band": ["red" if i % 10 == 0 else "orange" for i in range(accounts)],
         "segment": ["S" if i % 25 == 0 else "B" for i in range(accounts)]}
    )  # fmt: skip
    signals = pd.DataFrame(
        {"account_id": ids * 2, "code": ["no_login_60d"] * accounts + ["deliveries_drop"] * accounts,
         "kind": "churn", "severity": ["high"] * accounts + ["medium"] * accounts}
    )  # fmt: skip
    return frame, users, scores, signals


def make_notifier(store, server: SlackServer, pacer: Pacer | None = None, **kw) -> SlackNotifier:
    return SlackNotifier(
        store,
        make_client(TOKEN, server.base_url, sleep=lambda _s: None),
        load_templates("mappings/templates", "ja"),
        PLAYBOOK,
        channel="#cs-alerts",
        manager_channel="#cs-managers",
        pacer=pacer,
        **kw,
    )


def notify(n: SlackNotifier, accounts, users, scores, signals, as_of=DAY0, run_id=1, **kw):
    return n.notify_run(
        run_id=run_id, job="nightly", as_of=as_of, scores=scores, signals=signals,
        accounts=accounts, users=users, **kw,
    )  # fmt: skip


def test_calls_grow_with_owners_not_with_signals(store, slack):
    accounts, users, scores, signals = book(120)
    tasks = pd.DataFrame(
        {"account_id": accounts["account_id"], "owner_id": accounts["owner_id"],
         "subject": "【解約予兆】対応"}
    )  # fmt: skip
    n = make_notifier(store, slack)
    result = notify(n, accounts, users, scores, signals, tasks=tasks)
    assert result.error is None and result.alerts == 240 and result.owner_digests == OWNERS
    counters = slack.counters()
    # one digest per owner, one escalation message, the run digest
    assert counters["chat.postMessage"] == OWNERS + 2 == len(slack.messages)
    # the owners' Slack ids come from one users.list page, not a lookup each
    assert counters["users.list"] == 1 and counters.get("users.lookupByEmail", 0) == 0
    assert n.api_calls == OWNERS + 3


def test_a_large_team_gets_its_digests_packed_into_a_few_messages(store, slack):
    accounts, users, scores, signals = book(120, owners=60)
    n = make_notifier(store, slack)
    result = notify(n, accounts, users, scores, signals)
    assert result.owner_digests == 60
    limit = PLAYBOOK.alerts.owner_messages_max
    posted = slack.messages
    packed = [m for m in posted if m["text"].startswith("担当顧客の新着")]
    assert len(packed) == limit and len(posted) == limit + 2
    assert n.api_calls <= limit + 2 + 2  # + the users.list page(s)
    # every owner has a section of their own, named (the sandbox's Slack has none of them)
    sections = [b for m in packed for b in m["blocks"] if b["type"] == "section"]
    assert sum("*担当：CSM " in b["text"]["text"] for b in sections) == 60
    assert all(len(m["blocks"]) <= 50 for m in packed)
    assert "（1/20）" in packed[0]["blocks"][0]["text"]["text"]


def test_without_the_email_scope_owners_are_looked_up_one_by_one(store, slack):
    slack.scopes(["chat:write", "users:read", "channels:read", "channels:history"])
    accounts, users, scores, signals = book(60)
    n = make_notifier(store, slack)
    notify(n, accounts, users, scores, signals)
    counters = slack.counters()
    # users.list shows no emails without users:read.email; each lookup then answers
    # missing_scope and the owners are named instead of mentioned
    assert counters["users.list"] == 1 and counters["users.lookupByEmail"] == OWNERS
    assert counters["chat.postMessage"] == OWNERS + 2


def test_posts_to_one_channel_are_paced_and_other_channels_are_not_held_up(store, slack):
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    accounts, users, scores, signals = book(30, owners=3)
    n = make_notifier(store, slack, pacer=pacer)
    notify(n, accounts, users, scores, signals)
    posted = slack.messages
    assert [m["channel_name"] for m in posted].count("cs-alerts") == 4  # 3 owners + run digest
    # the first post of a channel waits for nothing; every next one waits a second (the fake
    # clock only moves while sleeping), and the manager channel's post waits for nobody
    assert clock.slept == [1.0, 1.0, 1.0] and pacer.waited == 3.0


def test_pacing_comes_from_the_settings_and_can_be_turned_off(store):
    on = SlackNotifier.from_settings(
        SlackSettings(token="xoxb-x"), store, load_templates("mappings/templates", "ja"), PLAYBOOK
    )
    assert on.session.pacer.interval == 1.0 and on.outbox_retention_days == 30
    off = SlackNotifier.from_settings(
        SlackSettings(token="xoxb-x", pace_seconds=0, outbox_retention_days=None),
        store,
        load_templates("mappings/templates", "ja"),
        PLAYBOOK,
    )
    assert off.session.pacer.wait("#cs-alerts") == 0 and off.session.pacer.wait("#cs-alerts") == 0
    assert off.outbox_retention_days is None


def test_a_429_on_a_digest_waits_the_retry_after_and_posts_it_once(store, slack):
    slept: list[float] = []
    accounts, users, scores, signals = book(20, owners=2)
    n = SlackNotifier(
        store,
        make_client(TOKEN, slack.base_url, sleep=slept.append),
        load_templates("mappings/templates", "ja"),
        PLAYBOOK,
        channel="#cs-alerts",
        manager_channel="#cs-managers",
    )
    for user in users["email"]:
        n.mention(user)  # the lookups happen before the faults start
    slack.faults(rate_limited=1, retry_after=3)
    result = notify(n, accounts, users, scores, signals)
    assert result.delivery.sent == 4 and result.delivery.pending == 0
    assert len(slept) == 1 and 3 <= slept[0] < 4
    keys = [m["metadata"]["event_payload"]["dedupe_key"] for m in slack.messages]
    assert len(keys) == len(set(keys)) == 4


def test_delivered_messages_are_pruned_after_the_retention(store, slack):
    accounts, users, scores, signals = book(20, owners=2)
    n = make_notifier(store, slack, outbox_retention_days=30)
    first = notify(n, accounts, users, scores, signals)
    assert first.pruned == 0 and outbox_counts(store) == {"sent": 4}
    with store.begin() as conn:  # delivered 31 days ago
        conn.execute(update(alert_outbox).values(sent_at=datetime(2025, 1, 1)))
    second = notify(n, accounts, users, scores, signals, as_of=DAY0 + timedelta(days=1), run_id=2)
    # the old rows go, except the newest of each channel (it remembers the channel's id);
    # today's run digest was just delivered and stays
    assert second.pruned == 3
    assert outbox_counts(store) == {"sent": 2}
    # a queued message is never pruned, however old
    slack.faults(auth_error="invalid_auth")
    notify(n, accounts, users, scores, signals, as_of=DAY0 + timedelta(days=2), run_id=3)
    slack.faults()
    with store.begin() as conn:
        conn.execute(update(alert_outbox).values(created_at=datetime(2024, 1, 1)))
    assert prune_sent(store, older_than_days=1, now=datetime(2030, 1, 1)) == 0
    assert outbox_counts(store) == {"pending": 1, "sent": 2}
