"""The 48-hour rule as a loop, pure: an overdue open signal Task escalates to its owner's manager
(key ``escalation:<signal key>``, due after the as-of date), once; the urgent-meeting Task for a
new high churn signal on an S-segment or red-band account; the Slack notice from the plan."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from sfsync.automation.playbook import load_playbook
from sfsync.automation.urgent import build_urgent_tasks, new_signals, urgent_key
from sfsync.notify.messages import MessageBuilder
from sfsync.plan import TaskChange
from sfsync.salesforce.diff import diff_tasks
from sfsync.salesforce.escalation import (
    build_escalation_tasks,
    business_days_after,
    escalation_key,
    escalation_notices,
    loop_template_problems,
    manager_of,
    overdue_signal_tasks,
)
from sfsync.salesforce.tasks import EscalationSettings
from sfsync.templates import load_templates

JA = load_templates("mappings/templates", "ja")
EN = load_templates("mappings/templates", "en")
PLAYBOOK = load_playbook("mappings/playbook.yaml")
SFSYNC = "005000000000001AAA"
CSM, MGR, HEAD, OLD = (
    "005000000000002AAA",
    "005000000000003AAA",
    "005000000000004AAA",
    "005000000000005AAA",
)
A1, A2 = "001000000000001AAA", "001000000000002AAA"
KEY1 = f"signal:no_login_60d:{A1}:2025-02"
USERS = pd.DataFrame(
    {
        "user_id": [CSM, MGR, HEAD, OLD],
        "name": ["津田", "嘉生", "糸谷", "前田"],
        "email": ["tsuda@x.example", "kasei@x.example", "itoya@x.example", "maeda@x.example"],
        "username": ["tsuda@x.example.sb", "kasei@x.example.sb", "itoya@x.example.sb", None],
        "manager_id": [MGR, HEAD, None, MGR],
        "is_active": [True, True, True, False],
    }
)
SETTINGS = EscalationSettings()


def open_task(key: str, due: str, owner: str = CSM, **extra) -> dict:
    return {
        "Id": "00T" + key[-6:].replace("-", ""),
        "Sync_Key__c": key,
        "IsClosed": False,
        "Status": "Not Started",
        "Subject": "【要対応・48時間以内】A社: 60日以上ログインがありません",
        "OwnerId": owner,
        "ActivityDate": due,
        "CreatedById": SFSYNC,
        "LastModifiedById": SFSYNC,
        "IsDeleted": False,
        **extra,
    }


def escalate(tasks: list[dict], as_of: date, settings=SETTINGS, templates=JA, scope=None):
    return build_escalation_tasks(
        pd.DataFrame(tasks),
        USERS,
        as_of=as_of,
        settings=settings,
        templates=templates,
        account_names={A1: "A社", A2: "B社"},
        scope_accounts=scope,
    )


def test_business_days_skip_the_weekend():
    assert business_days_after(date(2025, 3, 12), 1) == date(2025, 3, 13)  # Wed -> Thu
    assert business_days_after(date(2025, 3, 14), 1) == date(2025, 3, 17)  # Fri -> Mon
    assert business_days_after(date(2025, 3, 15), 1) == date(2025, 3, 17)  # Sat -> Mon
    assert business_days_after(date(2025, 3, 15), 0) == date(2025, 3, 15)


def test_manager_is_the_active_manager_else_the_fallback():
    assert manager_of([CSM, MGR], USERS, None) == [MGR, HEAD]
    assert manager_of([HEAD], USERS, None) == [None]  # the head has no manager
    assert manager_of([HEAD], USERS, "kasei@x.example") == [MGR]  # email
    assert manager_of([HEAD], USERS, "KASEI@x.example.sb") == [MGR]  # username
    assert manager_of([HEAD], USERS, MGR[:15]) == [MGR]  # 15-character Id
    assert manager_of([HEAD], USERS, OLD) == [None]  # an inactive fallback is no manager
    # a manager who left: the fallback takes over
    users = USERS.assign(is_active=[True, False, True, False])
    assert manager_of([CSM], users, "itoya@x.example") == [HEAD]


def test_only_open_signal_tasks_past_their_due_date_are_overdue():
    tasks = pd.DataFrame(
        [
            open_task(KEY1, "2025-03-14"),
            open_task(f"signal:competitor:{A1}:2025-02", "2025-03-18"),  # due today
            open_task(f"qbr:{A1}:2025Q1", "2025-03-01"),  # not a signal Task
            open_task(f"signal:score_drop:{A2}:2025-02", "2025-03-01", IsClosed=True),
            open_task(f"signal:red_band:{A2}:2025-02", "2025-03-01", IsDeleted="true"),
        ]
    )
    assert list(overdue_signal_tasks(tasks, date(2025, 3, 18))["Sync_Key__c"]) == [KEY1]


def test_an_overdue_signal_task_gives_the_manager_one_escalation_task():
    frame, unassigned = escalate([open_task(KEY1, "2025-03-14")], date(2025, 3, 18))
    assert unassigned == 0
    (row,) = frame.to_dict(orient="records")
    assert row["sync_key"] == escalation_key(KEY1) == f"escalation:{KEY1}"
    assert row["owner_id"] == MGR
    assert row["account_id"] == A1
    assert row["activity_date"] == date(2025, 3, 19)  # one business day: never born overdue
    assert row["priority"] == "High"
    assert row["rule"] == "escalation"
    assert (
        row["subject"] == "【エスカレーション】A社: 期限を過ぎた対応タスク（60日以上ログインなし）"
    )
    assert "津田" in row["description"] and "2025-03-14" in row["description"]
    assert "4 日過ぎても" in row["description"]
    assert "no_login_60d" not in row["subject"] + row["description"]


def test_the_escalation_subject_stays_the_same_on_later_days():
    first, _ = escalate([open_task(KEY1, "2025-03-14")], date(2025, 3, 18))
    later, _ = escalate([open_task(KEY1, "2025-03-14")], date(2025, 3, 25))
    assert first["subject"].tolist() == later["subject"].tolist()  # no "days overdue" in it


def test_escalating_again_never_happens_for_the_same_task():
    frame, _ = escalate([open_task(KEY1, "2025-03-14")], date(2025, 3, 19))
    existing = pd.DataFrame(
        [
            {
                "Id": "00TESC",
                "Sync_Key__c": escalation_key(KEY1),
                "IsClosed": False,
                "Status": "Not Started",
                "Subject": frame.at[0, "subject"],
                "Priority": "High",
                "OwnerId": MGR,
                "WhatId": A1,
                "CreatedById": SFSYNC,
                "LastModifiedById": SFSYNC,
                "IsDeleted": False,
            }
        ]
    )
    changes, _ = diff_tasks(frame, existing, integration_user_id=SFSYNC)
    assert [(c.action, c.reason) for c in changes] == [("skip", "unchanged")]
    done = existing.assign(IsClosed=True, Status="Completed", LastModifiedById=MGR)
    changes, _ = diff_tasks(frame, done, integration_user_id=SFSYNC)
    assert [(c.action, c.reason) for c in changes] == [("skip", "completed_by_csm")]


def test_no_manager_no_fallback_leaves_it_out_and_counts_it():
    frame, unassigned = escalate([open_task(KEY1, "2025-03-14", owner=HEAD)], date(2025, 3, 18))
    assert frame.empty and unassigned == 1
    settings = EscalationSettings(fallback_manager="itoya@x.example")
    frame, unassigned = escalate(
        [open_task(KEY1, "2025-03-14", owner=HEAD)], date(2025, 3, 18), settings
    )
    assert list(frame["owner_id"]) == [HEAD] and unassigned == 0


def test_disabled_or_out_of_scope_escalates_nothing():
    tasks = [open_task(KEY1, "2025-03-14")]
    frame, _ = escalate(tasks, date(2025, 3, 18), EscalationSettings(enabled=False))
    assert frame.empty
    frame, _ = escalate(tasks, date(2025, 3, 18), scope=[A2])
    assert frame.empty


def test_english_escalation_texts():
    frame, _ = escalate([open_task(KEY1, "2025-03-14")], date(2025, 3, 18), templates=EN)
    assert frame.at[0, "subject"].startswith("[Escalation] A社: follow-up Task past its due date")


def test_notices_come_from_created_escalation_tasks_only():
    created = TaskChange(
        escalation_key(KEY1),
        "create",
        "new",
        A1,
        None,
        {"OwnerId": MGR, "Subject": "s", "ActivityDate": "2025-03-19"},
    )
    others = [
        TaskChange(KEY1, "create", "new", A1, None, {}),
        TaskChange(escalation_key(KEY1), "skip", "unchanged", A1),
    ]
    (notice,) = escalation_notices([created, *others])
    assert notice["owner_id"] == MGR and notice["signal_key"] == KEY1


def test_the_overdue_notice_names_account_task_and_manager():
    text, blocks = MessageBuilder(JA, "https://example.my.salesforce.com").overdue_escalation(
        {
            "account_id": A1,
            "account_name": "A社",
            "subject": "【エスカレーション】A社: 期限を過ぎた対応タスク",
            "due_date": "2025-03-19",
            "manager": "嘉生",
        }
    )
    assert text.startswith("期限超過のエスカレーション：A社")
    assert "嘉生" in text and "2025-03-19" in text
    assert blocks[0]["text"]["text"] == "⏰ 期限超過のエスカレーション：A社"


# --- urgent meeting (seed 001 §5.2 緊急対応MTG) ------------------------------------------


def signals(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"account_id": a, "code": c, "kind": "churn", "severity": s} for a, c, s in rows]
    )


SCORES = pd.DataFrame(
    {
        "account_id": [A1, A2],
        "segment": ["S", "B"],
        "health_band": ["yellow", "red"],
        "health_score": [65, 30],
    }
)
ACCOUNTS = pd.DataFrame({"account_id": [A1, A2], "name": ["A社", "B社"], "owner_id": [CSM, CSM]})


def urgent(sig: pd.DataFrame, as_of=date(2025, 3, 12), previous=None, templates=JA, **kw):
    return build_urgent_tasks(
        sig,
        SCORES,
        ACCOUNTS,
        USERS,
        as_of=as_of,
        playbook=PLAYBOOK,
        templates=templates,
        previous=previous,
        **kw,
    )


def test_a_new_high_risk_on_an_s_or_red_account_gives_the_manager_an_urgent_meeting():
    frame = urgent(signals((A1, "no_login_60d", "high"), (A2, "red_band", "high")))
    got = frame.set_index("account_id")
    assert list(got.index) == [A1, A2]
    assert got.at[A1, "sync_key"] == urgent_key(A1, date(2025, 3, 12)) == f"urgent:{A1}:2025-02"
    assert got.at[A1, "subject"] == "緊急対応MTG: A社"
    assert got.at[A2, "subject"] == "緊急対応MTG: B社"
    assert set(got["owner_id"]) == {MGR}
    assert set(got["activity_date"]) == {date(2025, 3, 13)}  # within 24 hours
    assert "Sセグメント顧客" in got.at[A1, "description"]
    assert "危険" in got.at[A2, "description"]
    assert "red" not in got.at[A2, "description"]


def test_urgent_meeting_due_the_next_business_day_never_before_the_as_of_date():
    frame = urgent(signals((A1, "competitor", "high")), as_of=date(2025, 3, 14))  # Friday
    assert list(frame["activity_date"]) == [date(2025, 3, 17)]


def test_no_urgent_meeting_for_medium_signals_other_segments_or_known_signals():
    assert urgent(signals((A1, "deliveries_drop", "medium"))).empty
    b_yellow = SCORES.assign(segment=["B", "B"], health_band=["yellow", "yellow"])
    frame = build_urgent_tasks(
        signals((A1, "no_login_60d", "high")),
        b_yellow,
        ACCOUNTS,
        USERS,
        as_of=date(2025, 3, 12),
        playbook=PLAYBOOK,
        templates=JA,
    )
    assert frame.empty
    previous = pd.DataFrame({"account_id": [A1], "signals": ["competitor;no_login_60d"]})
    assert urgent(signals((A1, "no_login_60d", "high")), previous=previous).empty
    assert len(urgent(signals((A1, "competitor", "high")), previous=previous[:0])) == 1


def test_new_signals_compares_with_the_previous_snapshot():
    sig = signals((A1, "no_login_60d", "high"), (A1, "competitor", "high"))
    previous = pd.DataFrame({"account_id": [A1], "signals": ["no_login_60d"]})
    assert list(new_signals(sig, previous)["code"]) == ["competitor"]
    assert len(new_signals(sig, None)) == 2


def test_urgent_meeting_owner_falls_back_and_english_texts():
    accounts = ACCOUNTS.assign(owner_id=[HEAD, HEAD])
    frame = build_urgent_tasks(
        signals((A1, "competitor", "high")),
        SCORES,
        accounts,
        USERS,
        as_of=date(2025, 3, 12),
        playbook=PLAYBOOK,
        templates=EN,
        fallback_manager=MGR,
    )
    assert list(frame["owner_id"]) == [MGR]
    assert list(frame["subject"]) == ["Urgent meeting: A社"]


def test_the_loop_templates_are_checked_in_every_language(tmp_path):
    assert loop_template_problems(JA) == [] and loop_template_problems(EN) == []
    folder = tmp_path / "ja"
    folder.mkdir()
    for path in Path("mappings/templates/ja").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if path.name == "tasks_loop.yaml":
            text = text.replace("{account_name}: 期限を過ぎた", "{account}: 期限を過ぎた")
            text = text.replace("  urgent_meeting:\n", "  urgent_meeting_renamed:\n")
        (folder / path.name).write_text(text, encoding="utf-8")
    problems = loop_template_problems(load_templates(tmp_path, "ja"))
    where = sorted(p.path for p in problems)
    assert where == ["tasks.escalation_overdue.subject", "tasks.urgent_meeting"], problems
