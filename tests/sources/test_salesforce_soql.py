"""SOQL built by the Salesforce context source: values quoted, field names checked.

The same queries run against the sandbox org in tests/e2e (real HTTP, real SOQL parsing)."""

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from sfsync.scope import ScopeCondition
from sfsync.sources.columns import load_column_mapping
from sfsync.sources.salesforce import (
    accounts_soql,
    canonical_activities,
    events_soql,
    tasks_soql,
)

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings" / "columns"
HOSTILE = "x' OR Name != '"


def accounts_mapping():
    return load_column_mapping(MAPPINGS / "salesforce_accounts.yaml")


def test_accounts_query_selects_the_mapped_fields():
    soql = accounts_soql(accounts_mapping())
    assert soql == (
        "SELECT Id, Name, OwnerId, Industry, ARR__c, Enterprise__c, Contract_Start_Date__c, "
        "Renewal_Date__c, Tenant_Id__c, Competitor_Evaluation__c, Churn_Date__c, "
        "Churn_Reason__c, Main_Contact__c FROM Account"
    )


def test_scope_values_are_quoted_so_hostile_strings_stay_values():
    scope = [
        ScopeCondition(field="Name", op="=", value=HOSTILE),
        ScopeCondition(field="Id", op="in", value=["001' OR Id != '", "001x\\"]),
        ScopeCondition(field="ARR__c", op=">=", value=1000000),
        ScopeCondition(field="Renewal_Date__c", op="<", value=date(2025, 6, 1)),
    ]
    where = accounts_soql(accounts_mapping(), scope).split(" FROM Account")[1]
    assert where == (
        " WHERE (Name = 'x\\' OR Name != \\'') AND (Id IN ('001\\' OR Id != \\'','001x\\\\'))"
        " AND (ARR__c >= 1000000) AND (Renewal_Date__c < 2025-06-01)"
    )


@pytest.mark.parametrize("field", ["Name = 'a' OR Id", "Name--", "1Name", "Owner.Name) OR (Id", ""])
def test_scope_field_names_cannot_carry_soql(field):
    with pytest.raises(ValidationError, match="is not a Salesforce field name"):
        ScopeCondition(field=field, value="a")


def test_scope_operator_and_value_shape_must_agree():
    with pytest.raises(ValidationError):
        ScopeCondition(field="Name", op="OR", value="a")
    with pytest.raises(ValidationError, match="needs a list of values, such as value: \\[a\\]"):
        ScopeCondition(field="Name", op="in", value="a")
    with pytest.raises(ValidationError, match="needs op 'in' or 'not in'"):
        ScopeCondition(field="Name", op="=", value=["a"])
    # a condition built without validation still refuses to become SOQL
    unchecked = ScopeCondition.model_construct(field="Name", op="in", value="a")
    with pytest.raises(ValueError, match="needs a list"):
        unchecked.to_soql()


@pytest.mark.parametrize(
    ("op", "value", "message"),
    [
        ("not in", [], "needs at least one value"),
        ("in", ["a", None], "the list holds null"),
        ("in", [True], "the list holds true"),
        ("in", [["a"]], "list items must be single values"),
        ("like", 5, "op 'like' compares text"),
        (">", None, "op '>' needs a text, number or date (got null)"),
        ("<=", False, "got false"),
        (">=", float("inf"), "inf is not a finite number"),
        ("=", {"a": 1}, "not a mapping"),
    ],
)
def test_scope_value_shapes_each_operator_rejects(op, value, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        ScopeCondition(field="Type", op=op, value=value)


@pytest.mark.parametrize(
    ("op", "value", "soql"),
    [
        ("IN", ["Customer"], "Type IN ('Customer')"),
        ("Not  In", ["a", 2], "Type NOT IN ('a',2)"),
        ("=", None, "Type = null"),
        ("!=", True, "Type != true"),
        ("like", "Acme%", "Type LIKE 'Acme%'"),
        (">", date(2025, 1, 1), "Type > 2025-01-01"),
    ],
)
def test_scope_shapes_each_operator_accepts(op, value, soql):
    assert ScopeCondition(field="Type", op=op, value=value).to_soql() == soql


def test_activity_queries_bound_the_window_and_statuses():
    assert tasks_soql(date(2024, 2, 10), date(2025, 3, 15), ["Completed", "x' OR '"]) == (
        "SELECT Id, WhatId, Status, ActivityDate, Type, Description FROM Task WHERE ActivityDate >= "
        "2024-02-10 AND ActivityDate <= 2025-03-15 AND Status IN ('Completed','x\\' OR \\'')"
    )
    assert events_soql(date(2024, 2, 10), date(2025, 3, 15)).endswith(
        "WHERE ActivityDate >= 2024-02-10 AND ActivityDate <= 2025-03-15"
    )


def test_activities_become_canonical_and_keep_only_accounts():
    raw = pd.DataFrame(
        {
            "Id": ["00T1", "00T2", "00T3", "00T4"],
            "WhatId": ["001A", "006B", None, "001C"],
            "Status": ["Completed"] * 4,
            "ActivityDate": ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"],
            "Type": ["QBR", "Call", "Meeting", None],
        }
    )
    out = canonical_activities(raw, "Task")
    assert out["account_id"].tolist() == ["001A", "001C"]
    assert out["type"].tolist() == ["qbr", "other"]
    assert out["date"].tolist() == [pd.Timestamp("2025-03-01"), pd.Timestamp("2025-03-04")]
    assert out["completed"].all()
