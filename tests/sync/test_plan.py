"""build_plan: field diffs after normalisation, Task decisions, failure retries, JSON."""

from datetime import date
from pathlib import Path

import pandas as pd

from sfsync.plan import PendingWrite, Plan
from sfsync.salesforce.diff import build_plan
from sfsync.salesforce.mapping import load_mapping, resolve_against_org
from tests.sync.helpers import account_describe

DEFAULT = Path(__file__).parents[2] / "mappings" / "account_fields.yaml"
A1, A2, A3 = "001000000000001AAA", "001000000000002AAA", "001000000000003AAA"
ME, CSM = "005000000000001AAA", "005000000000009AAA"


def mapping():
    return resolve_against_org(load_mapping(DEFAULT), account_describe())


def desired(**over):
    base = {
        "account_id": [A1, A2],
        "health_score": pd.array([72, 35], dtype="Int64"),
        "health_band": ["yellow", "red"],
        "usage_points": [25.0, 0.0],
        "engagement_points": [20.0, 10.0],
        "outcome_points": [12.0, None],
        "contract_points": [10.0, 5.0],
        "health_trend": [None, -20.0],
        "lifecycle_phase": ["maturity", "renewal"],
        "segment": ["A", "S"],
        "churn_signals": ["", "red_band;competitor"],
        "scored_at": [date(2025, 3, 15)] * 2,
        "explanation": ["ok", None],
    }
    base.update(over)
    return pd.DataFrame(base)


def current_matching():
    """What Salesforce holds after the desired values were written (org spellings)."""
    return pd.DataFrame(
        {
            "Id": [A1, A2],
            "Health_Score__c": [72.0, 35.0],
            "Health_Band__c": ["Yellow", "Red"],
            "Health_Usage__c": [25.0, 0.0],
            "Health_Engagement__c": [20.0, 10.0],
            "Health_Outcome__c": [12.0, None],
            "Health_Contract__c": [10.0, 5.0],
            "Health_Trend__c": [None, -20.0],
            "Lifecycle_Phase__c": ["Maturity", "Renewal"],
            "CS_Segment__c": ["A", "S"],
            "Churn_Signals__c": [None, "competitor;red_band"],
            "Health_Scored_At__c": ["2025-03-14T15:00:00.000+0000"] * 2,
            "Health_Explanation__c": ["ok", "old text"],
        }
    )


def test_nothing_changes_when_salesforce_already_holds_the_values():
    plan = build_plan(desired(), current_matching(), None, None, mapping())
    assert plan.records == ()
    assert plan.is_empty
    assert plan.records_in_scope == 2
    assert "nothing to write" in plan.summary()


def test_only_changed_fields_of_changed_records_are_planned():
    want = desired(health_score=pd.array([74, 35], dtype="Int64"), segment=["a", "S"])
    plan = build_plan(want, current_matching(), None, None, mapping())
    assert len(plan.records) == 1
    record = plan.records[0]
    assert record.key == A1
    assert [(c.field, c.old, c.new) for c in record.changes] == [("Health_Score__c", 72, 74)]


def test_null_policy_clear_empties_and_leave_keeps():
    current = current_matching()
    current.loc[0, "Health_Trend__c"] = 3.0
    plan = build_plan(desired(), current, None, None, mapping())
    # health_trend is "clear": None empties the field; explanation is "leave": untouched
    assert [(r.key, c.field, c.old, c.new) for r in plan.records for c in r.changes] == [
        (A1, "Health_Trend__c", 3, None)
    ]


def test_first_write_uses_org_picklist_spelling():
    empty = current_matching()[["Id"]]
    plan = build_plan(desired(), empty, None, None, mapping())
    values = {r.key: r.values() for r in plan.records}
    assert values[A2]["Health_Band__c"] == "Red"
    assert values[A2]["Churn_Signals__c"] == "competitor;red_band"
    assert values[A2]["Lifecycle_Phase__c"] == "Renewal"
    assert values[A1]["Health_Scored_At__c"] == "2025-03-15T00:00:00+09:00"
    assert "Churn_Signals__c" not in values[A1]  # empty and empty: no change
    assert plan.totals()["fields"]["Health_Score__c"] == 2


def test_unknown_records_and_bad_values_are_problems_and_the_rest_goes_ahead():
    want = desired(
        account_id=[A1, A3],
        health_score=pd.array([10, 20], dtype="Int64"),
        usage_points=["lots", 0.0],
    )
    plan = build_plan(want, current_matching(), None, None, mapping())
    assert [(p.key, p.field) for p in plan.problems] == [
        (A1, "Health_Usage__c"),
        (A3, "Id"),
    ]
    assert plan.problems[0].message == "usage_points: 'lots' is not a number"
    assert plan.records == ()


def test_duplicate_keys_are_left_out():
    want = pd.concat([desired(), desired().iloc[[0]]], ignore_index=True)
    want.loc[2, "health_score"] = 1
    plan = build_plan(want, current_matching(), None, None, mapping())
    assert [p.message for p in plan.problems] == ["appears 2 times; record left out"]


def test_a_pending_failure_is_retried_even_when_the_diff_is_empty():
    pending = [
        PendingWrite("Account", A1, ("Health_Score__c",)),
        PendingWrite("Account", A3, ("Health_Score__c",)),  # no longer in scope
    ]
    plan = build_plan(desired(), current_matching(), None, None, mapping(), pending=pending)
    assert [(r.key, r.retry, r.values()) for r in plan.records] == [
        (A1, True, {"Health_Score__c": 72})
    ]
    assert plan.resolved == (PendingWrite("Account", A3, ("Health_Score__c",)),)


def task_row(key, account=A1, owner=ME, subject="S", description="D"):
    return {
        "sync_key": key,
        "account_id": account,
        "owner_id": owner,
        "subject": subject,
        "description": description,
        "activity_date": date(2025, 3, 17),
        "priority": "High",
        "status": "Not Started",
        "rule": "signal",
        "signal_code": key.split(":")[1],
    }


def existing_row(key, *, closed=False, editor=ME, subject="S", owner=ME):
    return {
        "Id": "00T" + key[-15:],
        "Sync_Key__c": key,
        "IsClosed": closed,
        "Status": "Completed" if closed else "Not Started",
        "Subject": subject,
        "Description": "D",
        "Priority": "High",
        "OwnerId": owner,
        "WhatId": A1,
        "ActivityDate": "2025-03-10",
        "CreatedById": ME,
        "LastModifiedById": editor,
    }


def test_task_decisions():
    keys = [f"signal:{c}:{A1}:2025-02" for c in ("a", "b", "c", "d", "e", "f", "g")]
    want = pd.DataFrame([task_row(k) for k in keys])
    have = pd.DataFrame(
        [
            existing_row(keys[1], closed=True, subject="other"),
            existing_row(keys[2], editor=CSM, subject="other"),
            existing_row(keys[3]),
            existing_row(keys[4], subject="old subject"),
            {**existing_row(keys[5]), "IsDeleted": "true"},
            # a deleted copy and a live Task with the same key: the live one counts
            {**existing_row(keys[6], closed=True), "IsDeleted": True},
            {**existing_row(keys[6]), "IsDeleted": False},
        ]
    )
    plan = build_plan(desired(), current_matching(), want, have, mapping(), integration_user_id=ME)
    decisions = {t.sync_key: (t.action, t.reason) for t in plan.tasks}
    assert decisions == {
        keys[0]: ("create", "new"),
        keys[1]: ("skip", "completed_by_csm"),
        keys[2]: ("skip", "edited_by_csm"),
        keys[3]: ("skip", "unchanged"),
        keys[4]: ("update", "changed"),
        keys[5]: ("skip", "deleted_by_csm"),
        keys[6]: ("skip", "unchanged"),
    }
    created = plan.tasks[0].fields
    assert created == {
        "Subject": "S",
        "Description": "D",
        "Priority": "High",
        "OwnerId": ME,
        "WhatId": A1,
        "ActivityDate": "2025-03-17",
        "Status": "Not Started",
        "Sync_Key__c": keys[0],
    }
    # an update never moves the due date or the status, and names the key
    assert plan.tasks[4].fields == {"Subject": "S", "Sync_Key__c": keys[4]}
    totals = plan.totals()
    assert (totals["tasks_to_create"], totals["tasks_to_update"]) == (1, 1)
    assert totals["tasks_skipped"] == {
        "completed_by_csm": 1,
        "deleted_by_csm": 1,
        "edited_by_csm": 1,
        "unchanged": 2,
    }


def test_without_integration_user_an_edit_is_detected_against_the_creator():
    key = f"signal:a:{A1}:2025-02"
    plan = build_plan(
        desired(),
        current_matching(),
        pd.DataFrame([task_row(key, subject="new")]),
        pd.DataFrame([existing_row(key, editor=CSM)]),
        mapping(),
    )
    assert (plan.tasks[0].action, plan.tasks[0].reason) == ("skip", "edited_by_csm")


def test_plan_round_trips_through_json_and_summarises():
    key = f"signal:red_band:{A2}:2025-02"
    want = desired(health_score=pd.array([74, 30], dtype="Int64"))
    plan = build_plan(
        want,
        current_matching(),
        pd.DataFrame([task_row(key, account=A2)]),
        None,
        mapping(),
        meta={"as_of": "2025-03-15", "job": "nightly"},
    )
    again = Plan.from_json(plan.to_json())
    assert again == plan
    text = plan.summary()
    assert "Plan for Account (matched on Id) as of 2025-03-15" in text
    assert "to update: 2 (2 fields)" in text
    assert f"{A1}: Health_Score__c 72 → 74" in text
    assert "Tasks: create 1, update 0, skip 0 (none)" in text


def test_an_open_task_is_not_rewritten_when_only_its_description_would_change():
    """The description quotes the due date and score at detection; a later run of the same
    signal month must not rewrite it (one stable Task per signal and month, SPEC §10)."""
    key = f"signal:no_login_60d:{A1}:2025-02"
    plan = build_plan(
        desired(),
        current_matching(),
        pd.DataFrame([task_row(key, description="期限 2025-03-18 / スコア 35")]),
        pd.DataFrame([existing_row(key)]),
        mapping(),
        integration_user_id=ME,
    )
    assert (plan.tasks[0].action, plan.tasks[0].reason) == ("skip", "unchanged")


def test_current_rows_are_matched_by_key_in_any_order_the_last_read_winning():
    """Salesforce's rows in another order than the desired ones, one read twice (the later
    row counts), a third account not scored, and a column of mixed Python values (a REST
    read): each desired row is compared with its own account's values."""
    current = current_matching()
    stale = current.iloc[[1]].assign(Health_Score__c=99.0)
    other = current.iloc[[0]].assign(Id=A3, Health_Score__c=1.0)
    current = pd.concat([stale, other, current.iloc[::-1]], ignore_index=True)
    current["Health_Score__c"] = pd.Series([99, 1.0, "35", 72], dtype=object)
    assert build_plan(desired(), current, None, None, mapping()).records == ()
    changed = desired(health_score=pd.array([72, 36], dtype="Int64"))
    plan = build_plan(changed, current, None, None, mapping())
    assert [(r.key, c.field, c.old, c.new) for r in plan.records for c in r.changes] == [
        (A2, "Health_Score__c", 35, 36)
    ]
