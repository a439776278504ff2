"""Touch model, CS priority and tech-touch triggers end to end (issue 13 items 2 and 4): the
nightly job on the practice org writes them to every scored Account, engagement signals make
Tasks only for high/mid-touch accounts, each owner's Slack digest ends with their ranked
worklist (CS_Priority__c order), and a re-run writes and posts nothing."""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict

from sfsync.catalogue import ENGAGEMENT_CODES, TOUCH_MODELS
from tests.e2e.conftest import customers, run_cli, writes

AS_OF = "2025-03-15"


def test_nightly_writes_touch_fields_and_engagement_tasks_only_for_personal_touch(
    project, sandbox_factory
):
    sb = sandbox_factory(accounts=150)
    first = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert first.exit_code == 0, first.output
    scored = customers(sb.admin.records("Account"), AS_OF)
    assert scored and all(a.get("Touch_Model__c") in TOUCH_MODELS for a in scored)
    assert {a["Touch_Model__c"] for a in scored} == set(TOUCH_MODELS)  # a realistic spread

    # CS_Priority__c: 1..n within each owner's book, no gaps, no ties
    ranks = defaultdict(list)
    for a in scored:
        ranks[a["OwnerId"]].append(int(a["CS_Priority__c"]))
    for owner, got in ranks.items():
        assert sorted(got) == list(range(1, len(got) + 1)), owner
    # the owner's first account is at least as much at risk as any other of theirs
    order = ["red", "orange", "yellow", "green", None]
    for owner in ranks:
        book = [a for a in scored if a["OwnerId"] == owner]
        top = min(book, key=lambda a: a["CS_Priority__c"])
        assert order.index(top.get("Health_Band__c")) == min(
            order.index(a.get("Health_Band__c")) for a in book
        )

    # engagement signals: in the signal fields; triggers for low/tech, Tasks for high/mid
    by_id = {a["Id"]: a for a in scored}
    engaged = [
        a for a in scored
        if set((a.get("Churn_Signals__c") or "").split(";")) & set(ENGAGEMENT_CODES)
        or set((a.get("Upsell_Signals__c") or "").split(";")) & set(ENGAGEMENT_CODES)
    ]  # fmt: skip
    assert engaged, "the sample book's engagement fades for some accounts"
    triggered = [a for a in scored if a.get("Tech_Touch_Triggers__c")]
    assert triggered
    for a in triggered:
        assert a["Touch_Model__c"] in ("low", "tech")
        codes = a["Tech_Touch_Triggers__c"].split(";")
        assert codes == sorted(codes) and set(codes) <= set(ENGAGEMENT_CODES)
    tasks = [t for t in sb.admin.records("Task") if t.get("Sync_Key__c")]
    engagement_tasks = [
        t for t in tasks if t["Sync_Key__c"].split(":")[1] in ENGAGEMENT_CODES
        and t["Sync_Key__c"].split(":")[0] in ("signal", "upsell")
    ]  # fmt: skip
    assert engagement_tasks, "high/mid-touch accounts with engagement signals get Tasks"
    for t in engagement_tasks:
        assert by_id[t["WhatId"]]["Touch_Model__c"] in ("high", "mid"), t["Sync_Key__c"]

    # Slack alerts follow the same rule: no owner is alerted for a low/tech account's
    # engagement signal (it is a trigger), while a high/mid account's alerting one is
    alerted = _alerted(project)
    medium = {"tutorial_not_completed", "email_engagement_falling"}  # alerting severities
    for a in triggered:
        assert not {(a["Id"], c) for c in a["Tech_Touch_Triggers__c"].split(";")} & alerted
    assert any(set(a["Tech_Touch_Triggers__c"].split(";")) & medium for a in triggered)
    personal = {
        (a["Id"], c) for a in scored if a["Touch_Model__c"] in ("high", "mid")
        for c in (a.get("Churn_Signals__c") or "").split(";") if c in medium
    }  # fmt: skip
    assert personal and personal <= alerted

    # the worklist in the owners' digests: each owner's first accounts by CS_Priority__c
    lists = _worklists(sb)
    books = {owner: len(got) for owner, got in ranks.items()}
    assert len(lists) == len(books)  # every owner: 8 CSMs, all with new signals or calm
    assert f"worklists    {len(books)} owners got today's top accounts" in first.output
    for lines in lists:
        ids = [account_id for account_id, _ in lines]
        owners = {by_id[i]["OwnerId"] for i in ids}
        assert len(owners) == 1
        (owner,) = owners
        assert [int(by_id[i]["CS_Priority__c"]) for i in ids] == list(
            range(1, min(10, books[owner]) + 1)
        )
        for account_id, line in lines:
            account = by_id[account_id]
            assert account["Name"].replace("&", "&amp;") in line
            assert BAND_JA[account["Health_Band__c"]] in line
            churn = set((account.get("Churn_Signals__c") or "").split(";")) - {"", "red_band"}
            if account["Touch_Model__c"] in ("low", "tech"):  # triggers, not a person's
                churn -= set(ENGAGEMENT_CODES)
            if churn:  # the main reason is a churn signal, by its label
                assert "：" in line and not churn & set(re.split(r"[：、 ]", line)), line
    messages = len(sb.admin.slack_messages())

    sb.admin.reset_counters()
    again = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert again.exit_code == 0, again.output
    assert writes(sb.admin.counters()) == 0
    # the day's lists went out: the re-run posts its run digest only
    assert len(sb.admin.slack_messages()) == messages + 1
    assert "got today's top accounts" not in again.output

    # the next morning every owner gets the list again: owners without new signals alone
    before = len(sb.admin.slack_messages())
    morning = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-16")
    assert morning.exit_code == 0, morning.output
    posted = sb.admin.slack_messages()[before:]
    calm = [m for m in posted if m["text"].startswith("今日の優先顧客（2025-03-16）")]
    news = [m for m in posted if m["text"].startswith("担当顧客の新着（2025-03-16）")]
    assert calm and len(calm) + len(news) == len(books) == len(_worklists(sb)) - len(lists)


BAND_JA = {"green": "🟢 健全", "yellow": "🟡 要注意", "orange": "🟠 警戒", "red": "🔴 危険"}
LINE = re.compile(r"^\d+\. <https://[^/]+/lightning/r/Account/(\w+)/view\|.*$", re.M)


def _alerted(project) -> set[tuple[str, str]]:
    """(account id, signal code) of every Slack alert in the project's state store."""
    db = project.root / ".sfsync" / "state.db"
    with sqlite3.connect(db) as conn:
        return set(conn.execute("SELECT account_id, code FROM alert_ledger").fetchall())


def _worklists(sb) -> list[list[tuple[str, str]]]:
    """Per owner digest: its worklist lines as (account id, line), in order."""
    out = []
    for message in sb.admin.slack_messages():
        for block in message.get("blocks") or []:
            text = (block.get("text") or {}).get("text", "")
            if text.startswith("*今日の優先顧客 上位"):
                out.append([(m.group(1), m.group(0)) for m in LINE.finditer(text)])
    return out
