"""SPEC §10 signal-Task hygiene, pure: one open Task per account and signal (a later month's
Task is held while an earlier one is open), a cleared signal's open Task closed by sfsync with
the reason, never a Task a CSM edited; and a Task closed that way never counts as a touch."""

from __future__ import annotations

from datetime import date

import pandas as pd

from sfsync.plan import AUTO_CLOSED_MARKER, is_auto_closed
from sfsync.salesforce.diff import diff_tasks, signal_task_hygiene
from sfsync.salesforce.tasks import cleared_description, parse_signal_key
from sfsync.sources.salesforce import read_activities
from sfsync.templates import load_templates

SFSYNC = "005000000000001AAA"
CSM = "005000000000002AAA"
A1, A2 = "001000000000001AAA", "001000000000002AAA"
JA = load_templates("mappings/templates", "ja")
EN = load_templates("mappings/templates", "en")


def desired(*keys: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "sync_key": k,
                "account_id": k.split(":")[2],
                "subject": "s",
                "activity_date": date(2025, 4, 17),
                "priority": "High",
                "status": "Not Started",
            }
            for k in keys
        ]
    )


def open_task(key: str, *, editor: str = SFSYNC, description: str = "本文") -> dict:
    return {
        "Id": "00T" + key[-3:],
        "Sync_Key__c": key,
        "IsClosed": False,
        "Status": "Not Started",
        "Description": description,
        "CreatedById": SFSYNC,
        "LastModifiedById": editor,
        "IsDeleted": False,
    }


def hygiene(want: pd.DataFrame, tasks: list[dict], scope=(A1, A2)):
    return signal_task_hygiene(
        want,
        pd.DataFrame(tasks),
        scope_accounts=set(scope),
        integration_user_id=SFSYNC,
        close_description=lambda task, code: f"closed {code}",
    )


def test_parse_signal_key():
    assert parse_signal_key(f"signal:no_login_60d:{A1}:2025-03") == ("no_login_60d", A1, "2025-03")
    assert parse_signal_key(f"qbr:{A1}:2025Q1") is None


def test_an_open_earlier_task_holds_this_months_task():
    want = desired(f"signal:no_login_60d:{A1}:2025-04", f"signal:red_band:{A1}:2025-04")
    held, closes = hygiene(want, [open_task(f"signal:no_login_60d:{A1}:2025-03")])
    assert held == {f"signal:no_login_60d:{A1}:2025-04"} and closes == []
    changes, _ = diff_tasks(want, None, integration_user_id=SFSYNC, held=held)
    by_key = {c.sync_key: c for c in changes}
    assert by_key[f"signal:no_login_60d:{A1}:2025-04"].action == "skip"
    assert by_key[f"signal:no_login_60d:{A1}:2025-04"].reason == "open_earlier_month"
    assert by_key[f"signal:red_band:{A1}:2025-04"].action == "create"


def test_after_the_csm_completed_it_the_month_gets_its_task():
    # a completed Task is not among the open ones read: nothing holds this month's Task
    want = desired(f"signal:no_login_60d:{A1}:2025-04")
    done = open_task(f"signal:no_login_60d:{A1}:2025-03") | {"IsClosed": True}
    held, closes = hygiene(want, [done])
    assert held == set() and closes == []
    changes, _ = diff_tasks(want, None, integration_user_id=SFSYNC, held=held)
    assert [c.action for c in changes] == ["create"]


def test_a_cleared_signal_closes_its_open_task_with_the_reason():
    key = f"signal:tickets_rising:{A1}:2025-03"
    held, closes = hygiene(desired(), [open_task(key)])
    assert held == set() and len(closes) == 1
    change = closes[0]
    assert (change.sync_key, change.action, change.reason) == (key, "update", "signal_cleared")
    assert change.fields == {
        "Status": "Completed",
        "Description": "closed tickets_rising",
        "Sync_Key__c": key,
    }


def test_a_task_the_csm_edited_or_an_account_out_of_scope_is_never_changed():
    edited = open_task(f"signal:tickets_rising:{A1}:2025-03", editor=CSM)
    elsewhere = open_task("signal:tickets_rising:001000000000009AAA:2025-03")
    assert hygiene(desired(), [edited, elsewhere]) == (set(), [])


def test_an_active_signal_keeps_its_open_task_open():
    want = desired(f"signal:competitor:{A2}:2025-04")
    same_month = open_task(f"signal:competitor:{A2}:2025-04")
    earlier = open_task(f"signal:competitor:{A2}:2025-03")
    held, closes = hygiene(want, [same_month, earlier])
    assert closes == []


def test_cleared_description_keeps_the_text_and_names_the_signal_in_words():
    ja = cleared_description("元の本文", "no_login_60d", JA, as_of=date(2025, 4, 15))
    assert ja.startswith("元の本文\n\n【自動クローズ】2025-04-15 時点で")
    assert "no_login_60d" not in ja.replace(AUTO_CLOSED_MARKER, "")
    assert ja.endswith("\n" + AUTO_CLOSED_MARKER) and is_auto_closed(ja)
    en = cleared_description(None, "no_login_60d", EN, as_of=date(2025, 4, 15))
    assert en.startswith("[Closed automatically] As of 2025-04-15")
    assert is_auto_closed(en) and not is_auto_closed("元の本文") and not is_auto_closed(None)


class FakeClient:
    def __init__(self, tasks: pd.DataFrame) -> None:
        self.tasks = tasks

    def query_frame(self, soql: str, bulk_threshold: int = 0) -> pd.DataFrame:
        return self.tasks if " FROM Task " in soql else pd.DataFrame()


def test_an_auto_closed_task_is_no_touch():
    tasks = pd.DataFrame(
        [
            {"Id": "00T1", "WhatId": A1, "Status": "Completed", "ActivityDate": "2025-04-01",
             "Type": None, "Description": "x\n" + AUTO_CLOSED_MARKER},
            {"Id": "00T2", "WhatId": A2, "Status": "Completed", "ActivityDate": "2025-04-02",
             "Type": "Call", "Description": "電話しました"},
        ]
    )  # fmt: skip
    got = read_activities(FakeClient(tasks), as_of=date(2025, 4, 15))
    assert list(got["activity_id"]) == ["00T2"]
