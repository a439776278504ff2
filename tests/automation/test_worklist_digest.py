"""The ranked worklist in the owners' Slack digests (issue 13 item 4): which accounts, in which
order, with which reason, and who gets a digest of the worklist alone. Pure, no Slack."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from sfsync.notify.messages import SECTION_MAX, MessageBuilder
from sfsync.notify.owner_digest import owner_digests
from sfsync.notify.worklist import owner_worklist_items, top_churn_signals
from sfsync.templates import load_templates

AS_OF = date(2025, 3, 15)
URL = "https://org.example.com"
JA = MessageBuilder(load_templates("mappings/templates", "ja"), URL)
EN = MessageBuilder(load_templates("mappings/templates", "en"), URL)

# u1's book: ranks as the nightly job gave them (CS_Priority__c); u2 has one account; a5 none
TOUCH = pd.DataFrame(
    {
        "account_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
        "owner_id": ["u1", "u1", "u1", "u2", None, "u1"],
        "cs_priority": [3, 1, 2, 1, 1, 4],
    }
)
DETAILS = pd.DataFrame(
    {
        "account_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
        "name": ["Alpha", "Bravo", "Charlie <&>", "Delta", "Echo", "Foxtrot"],
        "owner_id": ["u1", "u1", "u1", "u2", None, "u1"],
        "health_band": ["yellow", "red", "orange", "green", "red", "green"],
        "renewal_date": pd.to_datetime(
            ["2025-04-20", "2025-03-20", "2025-03-15", "2026-01-31", None, "2025-03-01"]
        ),
        "owner_name": ["津田", "津田", "津田", "鈴木", None, "津田"],
        "owner_email": ["tsuda@example.com"] * 3 + [None, None, "tsuda@example.com"],
    }
).set_index("account_id")
SIGNALS = pd.DataFrame(
    {
        "account_id": ["a2", "a2", "a2", "a2", "a3"],
        "code": ["red_band", "tickets_rising", "no_login_60d", "near_plan_limit", "score_drop"],
        "kind": ["churn", "churn", "churn", "upsell", "churn"],
        "severity": ["high", "medium", "high", "low", "medium"],
    }
)


def _items(top=10, signals=SIGNALS):
    return owner_worklist_items(
        TOUCH, signals, DETAILS, as_of=AS_OF, top=top, renewal_lead_months=2
    )


def test_each_owner_gets_their_accounts_in_cs_priority_order_capped_at_top():
    lists = _items()
    assert set(lists) == {"u1", "u2"}  # accounts without an owner have no worklist
    assert [i.account_id for i in lists["u1"]] == ["a2", "a3", "a1", "a6"]
    assert [i.rank for i in lists["u1"]] == [1, 2, 3, 4]
    assert [i.account_id for i in _items(top=2)["u1"]] == ["a2", "a3"]


def test_the_reason_is_the_top_churn_signal_else_a_near_renewal():
    lists = _items()
    bravo, charlie, alpha, foxtrot = lists["u1"]
    # high before medium; the red band is no reason (the line shows the band); upsell ignored
    assert (bravo.signal, bravo.other_signals) == ("no_login_60d", 1)
    assert (charlie.signal, charlie.other_signals) == ("score_drop", 0)
    assert charlie.renewal_date is None  # a signal wins over the renewal that is today
    # no signal: the renewal within the two-month lead, else no reason
    assert (alpha.signal, alpha.renewal_days, alpha.renewal_date) == (None, 36, date(2025, 4, 20))
    assert (foxtrot.signal, foxtrot.renewal_date) == (None, None)  # renewal already passed
    assert lists["u2"][0].renewal_date is None  # renewal more than two months ahead
    assert top_churn_signals(None) == {} and top_churn_signals(SIGNALS.iloc[3:4]) == {}


def test_the_red_band_alone_is_no_reason():
    only_band = SIGNALS[SIGNALS["code"] == "red_band"]
    assert top_churn_signals(only_band) == {}
    (bravo, *_) = _items(signals=only_band)["u1"]
    assert (bravo.signal, bravo.renewal_days) == (None, 5)  # so its renewal in 5 days shows


def _digest_text(builder, digest, **ctx):
    text, blocks = builder.owner_digest(
        {"as_of": "2025-03-15", "due_date": "2025-03-17", "owner": "<@U1>", "digest": digest,
         "top": 10, "limit": 10, **ctx}
    )  # fmt: skip
    assert all(len(b["text"]["text"]) <= SECTION_MAX for b in blocks if b["type"] == "section")
    return text, blocks, json.dumps(blocks, ensure_ascii=False)


def test_a_digest_of_new_signals_ends_with_the_worklist_section():
    alerts = pd.DataFrame({"account_id": ["a3"], "code": ["score_drop"], "severity": ["medium"]})
    digests = owner_digests(alerts, DETAILS, worklists=_items(), calm_owners=False)
    assert [d.owner_id for d in digests] == ["u1"]  # u2 has no new signal and no calm digest
    text, blocks, body = _digest_text(JA, digests[0])
    assert text.startswith("担当顧客の新着（2025-03-15）")
    last = blocks[-1]["text"]["text"]
    assert last.splitlines() == [
        "*今日の優先顧客 上位 4 社*（CS対応優先順位の順）",
        f"1. <{URL}/lightning/r/Account/a2/view|Bravo> 🔴 危険：60日以上ログインなし ほか 1 件",
        f"2. <{URL}/lightning/r/Account/a3/view|Charlie &lt;&amp;&gt;> 🟠 警戒：スコア急落",
        f"3. <{URL}/lightning/r/Account/a1/view|Alpha> 🟡 要注意：更新日まで 36 日（2025-04-20）",
        f"4. <{URL}/lightning/r/Account/a6/view|Foxtrot> 🟢 健全",
    ]
    for code in ("no_login_60d", "red_band", "score_drop", "cs_priority", '"red"'):
        assert code not in body


def test_calm_owners_get_the_worklist_alone_and_the_limit_applies():
    digests = owner_digests(pd.DataFrame(), DETAILS, worklists=_items(), calm_owners=True)
    assert [d.owner_id for d in digests] == ["u1", "u2"]  # by owner name: 津田, 鈴木
    assert all(d.calm for d in digests)
    text, blocks, body = _digest_text(JA, digests[0], worklist_top=2)
    assert text == "今日の優先顧客（2025-03-15）：<@U1> 上位 4 社"
    assert "新規シグナルはありません" in body and "48時間ルール" not in body
    assert blocks[2]["text"]["text"].startswith("*今日の優先顧客 上位 2 社*")
    assert "Bravo" in body and "Charlie" in body and "Alpha" not in body
    english, _, body_en = _digest_text(EN, digests[1])
    assert english == "Today's top accounts (2025-03-15): <@U1> top 1"
    assert "1. <https://org.example.com/lightning/r/Account/a4/view|Delta> 🟢 healthy" in body_en
    # no worklist, no calm digest
    assert owner_digests(pd.DataFrame(), DETAILS, worklists={}, calm_owners=True) == []


def test_packed_digests_carry_the_top_of_each_worklist():
    digests = owner_digests(pd.DataFrame(), DETAILS, worklists=_items(), calm_owners=True)
    _, blocks = EN.owners_digest(
        {"as_of": "2025-03-15", "due_date": "2025-03-17", "entries": [("<@U1>", d) for d in digests],
         "top": 2}
    )  # fmt: skip
    sections = [b["text"]["text"] for b in blocks[2:]]
    assert "Today's top 2*" in sections[0] and "Delta" not in sections[0]
    assert "renewal" not in sections[0] and "no login for 60+ days and 1 more" in sections[0]
    assert "Today's top 1*" in sections[1] and "Delta" in sections[1]
