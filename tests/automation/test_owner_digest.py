"""The owners' digests and the batched escalations, built without Slack (pure)."""

from __future__ import annotations

import json

import pandas as pd

from sfsync.notify.messages import SECTION_MAX, MessageBuilder
from sfsync.notify.owner_digest import escalation_items, owner_digests
from sfsync.templates import load_templates

JA = MessageBuilder(load_templates("mappings/templates", "ja"), "https://org.example.com")
EN = MessageBuilder(load_templates("mappings/templates", "en"), "https://org.example.com")

INFO = pd.DataFrame(
    {
        "account_id": ["a1", "a2", "a3", "a4"],
        "name": ["Alpha", "Bravo", "Charlie", "Delta"],
        "owner_id": ["u1", "u1", "u2", None],
        "health_score": [62.4, 20.0, 35.0, 50.0],
        "health_band": ["yellow", "red", "red", "orange"],
        "segment": ["C", "S", "A", "B"],
        "owner_name": ["津田", "津田", "鈴木", None],
        "owner_email": ["tsuda@example.com", "tsuda@example.com", None, None],
    }
).set_index("account_id")

ALERTS = pd.DataFrame(
    {
        "account_id": ["a1", "a2", "a2", "a3", "a4"],
        "code": ["deliveries_drop", "no_login_60d", "red_band", "tickets_rising", "competitor"],
        "severity": ["medium", "high", "high", "medium", "high"],
    }
)


def test_one_digest_per_owner_ranked_by_severity_segment_and_score():
    digests = owner_digests(ALERTS, INFO)
    by_owner = {d.owner_id: d for d in digests}
    assert set(by_owner) == {"u1", "u2", ""}  # accounts without an owner are one group, last
    assert digests[-1].owner_id == ""
    tsuda = by_owner["u1"]
    assert (tsuda.owner_name, tsuda.owner_email) == ("津田", "tsuda@example.com")
    assert tsuda.signal_count == 3 and len(tsuda.accounts) == 2
    assert [a.account_id for a in tsuda.accounts] == ["a2", "a1"]  # high + S before medium + C
    assert tsuda.accounts[0].codes == ["no_login_60d", "red_band"]


def test_tasks_ride_along_with_the_signals_of_their_owner():
    tasks = pd.DataFrame(
        {
            "account_id": ["a3", "a1", "a1"],
            "owner_id": [None, "u1", "u9"],
            "subject": ["T3", "T1", "T9"],
        }
    )
    deferred = pd.DataFrame(
        {"account_id": ["a1", "a3"], "owner_id": ["u9", "u2"], "subject": ["D", "E"]}
    )
    digests = owner_digests(ALERTS, INFO, tasks=tasks, deferred=deferred)
    by_owner = {d.owner_id: d for d in digests}
    assert by_owner["u2"].tasks == ["T3"] and by_owner["u2"].deferred == 1  # the account's owner
    assert by_owner["u1"].tasks == ["T1"]
    # no new signal, no digest: u9's Tasks are in Salesforce, and a digest decided apart from
    # the signals could be posted twice by a retried write or a re-run
    assert "u9" not in by_owner
    assert owner_digests(ALERTS.iloc[0:0], INFO, tasks=tasks, deferred=deferred) == []


def test_the_digest_lists_the_top_accounts_counts_the_rest_and_shows_no_codes():
    many = pd.DataFrame(
        {
            "account_id": [f"x{i:02d}" for i in range(14)],
            "code": ["no_login_60d"] * 14,
            "severity": ["high"] * 14,
        }
    )
    info = pd.DataFrame(
        {
            "account_id": many["account_id"],
            "name": [f"Co {i}" for i in range(14)],
            "owner_id": "u1",
            "health_score": range(14),
            "health_band": "red",
            "segment": "B",
            "owner_name": "津田",
            "owner_email": "tsuda@example.com",
        }
    ).set_index("account_id")
    tasks = pd.DataFrame(
        {"account_id": ["x00"] * 3, "owner_id": ["u1"] * 3, "subject": ["S1", "S2", "S3"]}
    )
    deferred = pd.DataFrame(
        {"account_id": ["x01"] * 4, "owner_id": ["u1"] * 4, "subject": ["D"] * 4}
    )
    (digest,) = owner_digests(many, info, tasks=tasks, deferred=deferred)
    text, blocks = JA.owner_digest(
        {"as_of": "2025-03-15", "due_date": "2025-03-17", "owner": "<@U1>", "digest": digest,
         "top": 10, "limit": 10}
    )  # fmt: skip
    body = json.dumps(blocks, ensure_ascii=False)
    assert text == "担当顧客の新着（2025-03-15）：<@U1> 新規シグナル 14 件（14 社）"
    assert "新規シグナル *14* 件（14 社）／新規タスク *3* 件" in body
    assert body.count("• <https://org.example.com/lightning/r/Account/") == 10
    assert "…ほか 4 件" in body  # 14 accounts, 10 listed
    assert "…ほか 4 件のタスクは明日以降に作成されます（1日 10 件まで）" in body
    assert "2025-03-17" in body and "60日以上ログインなし" in body and "🔴 危険" in body
    for code in ("no_login_60d", "red", '"B"', "owner_id"):
        assert code not in body.replace("🔴", "")
    assert all(len(b["text"]["text"]) <= SECTION_MAX for b in blocks if b["type"] == "section")
    english, _ = EN.owner_digest(
        {"as_of": "2025-03-15", "due_date": "2025-03-17", "owner": "Tsuda", "digest": digest}
    )
    assert english.startswith("New for your accounts (2025-03-15): Tsuda 14 new signals")


def test_escalations_of_a_run_are_one_message_split_into_sections():
    items = escalation_items(ALERTS, INFO, segments=["S"], bands=["red"])
    assert [(i.account_id, reasons) for i, reasons, _ in items] == [
        ("a2", ["segment", "band"]),
        ("a3", ["band"]),
    ]
    big = [(items[0][0], items[0][1], f"owner {n}" * 20) for n in range(40)]
    text, blocks = JA.escalation_digest({"as_of": "2025-03-15", "items": big, "top": 40})
    assert text == "マネージャーエスカレーション 40 社（2025-03-15）"
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) > 2 and all(len(b["text"]["text"]) <= SECTION_MAX for b in sections)
    assert "Sセグメント顧客の解約リスク" in json.dumps(blocks, ensure_ascii=False)
