"""The SOQL parser and evaluator on an in-memory org (no HTTP): literals, escapes, operators."""

from __future__ import annotations

from datetime import date

import pytest
from sfsync_sandbox.salesforce.faults import FaultsAndCounters
from sfsync_sandbox.salesforce.query_engine import QueryEngine, date_literal_range
from sfsync_sandbox.salesforce.schema import load_schema
from sfsync_sandbox.salesforce.soql import DateLiteral, SoqlError, parse_soql
from sfsync_sandbox.salesforce.store import Org

USER = "0055g0000000001AAA"


@pytest.fixture(scope="module")
def engine():
    org = Org(load_schema(), FaultsAndCounters())
    org.load_records("User", [{"Id": USER, "LastName": "Sato", "Username": "sato@x.invalid",
                               "Email": "sato@example.com"}], USER)  # fmt: skip
    accounts = [
        {"Name": "O'Brien & Co", "Industry": "Retail", "ARR__c": 500000, "Renewal_Date__c": "2025-04-01",
         "Churn_Signals__c": "red_band;competitor", "Tenant_Id__c": "t-1"},
        {"Name": "100% Growth_Inc", "Industry": "Finance", "ARR__c": 6000000, "Enterprise__c": True,
         "Renewal_Date__c": "2026-01-01", "Churn_Signals__c": "score_drop"},
        {"Name": "株式会社テスト", "Industry": None, "ARR__c": None, "Health_Scored_At__c": "2025-03-15T01:00:00Z"},
    ]  # fmt: skip
    for i, acc in enumerate(accounts, start=1):
        acc["Id"] = f"0015g00000000{i:02d}AAA"
        acc["OwnerId"] = USER
    org.load_records("Account", accounts, USER)
    return QueryEngine(org, today=lambda: date(2025, 3, 15))


def names(engine, where, order="Name"):
    _, rows = engine.run(f"SELECT Name FROM Account WHERE {where} ORDER BY {order}")
    return [r["Name"] for r in rows]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'O\\'Brien & Co'", ["O'Brien & Co"]),
        (
            "name = 'o\\'brien & co'",
            ["O'Brien & Co"],
        ),  # field names and text compare case-insensitively
        ("Name LIKE '100\\% %'", ["100% Growth_Inc"]),
        ("Name LIKE '%\\_Inc'", ["100% Growth_Inc"]),
        ("Name LIKE '%株式会社%'", ["株式会社テスト"]),
        ("Industry = null", ["株式会社テスト"]),
        ("Industry != 'Retail'", ["100% Growth_Inc", "株式会社テスト"]),
        ("ARR__c > 1000000 OR Enterprise__c = true", ["100% Growth_Inc"]),
        ("NOT (ARR__c < 1000000) AND ARR__c != null", ["100% Growth_Inc"]),
        ("Industry IN ('retail', 'Finance')", ["100% Growth_Inc", "O'Brien & Co"]),
        ("Industry NOT IN ('Retail')", ["100% Growth_Inc", "株式会社テスト"]),
        ("Churn_Signals__c INCLUDES ('competitor;red_band')", ["O'Brien & Co"]),
        (
            "Churn_Signals__c INCLUDES ('score_drop', 'competitor')",
            ["100% Growth_Inc", "O'Brien & Co"],
        ),
        ("Churn_Signals__c EXCLUDES ('score_drop')", ["O'Brien & Co", "株式会社テスト"]),
        ("Renewal_Date__c <= 2025-06-15", ["O'Brien & Co"]),
        ("Renewal_Date__c = NEXT_N_DAYS:30", ["O'Brien & Co"]),
        ("Renewal_Date__c > THIS_YEAR", ["100% Growth_Inc"]),
        ("Health_Scored_At__c = TODAY", ["株式会社テスト"]),
        ("Health_Scored_At__c >= 2025-03-15T09:00:00+09:00", ["株式会社テスト"]),
        ("Health_Scored_At__c > 2025-03-15T01:00:00Z", []),
        ("Owner.Email = 'SATO@example.com'", ["100% Growth_Inc", "O'Brien & Co", "株式会社テスト"]),
        ("Id = '0015g0000000001'", ["O'Brien & Co"]),  # 15-character ids match
    ],
)
def test_where(engine, where, expected):
    assert names(engine, where) == expected


def test_semi_join(engine):
    org = engine.org
    with org.transaction(USER) as tx:
        tx.create("Task", {"Subject": "open", "WhatId": "0015g0000000002AAA"})
        tx.create(
            "Task", {"Subject": "done", "WhatId": "0015g0000000003AAA", "Status": "Completed"}
        )
    assert names(engine, "Id IN (SELECT WhatId FROM Task WHERE IsClosed = false)") == [
        "100% Growth_Inc"
    ]
    assert names(engine, "Id NOT IN (SELECT WhatId FROM Task)") == ["O'Brien & Co"]
    with pytest.raises(SoqlError):
        engine.run("SELECT Id FROM Account WHERE Id IN (SELECT Id, Name FROM Task)")


def test_order_by_nulls_and_direction(engine):
    _, rows = engine.run("SELECT Name, ARR__c FROM Account ORDER BY ARR__c DESC NULLS LAST")
    assert [r["ARR__c"] for r in rows] == [6000000.0, 500000.0, None]
    _, rows = engine.run("SELECT Name FROM Account ORDER BY ARR__c")
    assert rows[0]["ARR__c"] is None  # ascending: nulls first


def test_injection_attempt_stays_a_value(engine):
    assert names(engine, "Name = 'x\\' OR Name != \\''") == []
    with pytest.raises(SoqlError):
        engine.run("SELECT Name FROM Account WHERE Name = 'x' OR Name != ''' ")


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM Account",
        "SELECT Id FROM Account WHERE Name = 'unterminated",
        "SELECT Id FROM Account WHERE Name = 'bad \\q escape'",
        "SELECT Id FROM Account LIMIT",
        "SELECT Id FROM Account WHERE Name IN ()",
        "SELECT Id FROM Account GROUP Name",
        "SELECT Id FROM Account WHERE Name = 'a' AND Industry = 'b' OR Industry = 'c'",
        "DELETE FROM Account",
    ],
)
def test_malformed(soql):
    with pytest.raises(SoqlError) as info:
        parse_soql(soql)
    assert info.value.code == "MALFORMED_QUERY"


def test_date_literal_ranges():
    today = date(2025, 3, 15)  # a Saturday
    assert date_literal_range(DateLiteral("LAST_N_DAYS", 30), today) == (
        date(2025, 2, 13),
        date(2025, 3, 16),
    )
    assert date_literal_range(DateLiteral("THIS_MONTH"), today) == (
        date(2025, 3, 1),
        date(2025, 4, 1),
    )
    assert date_literal_range(DateLiteral("LAST_MONTH"), today) == (
        date(2025, 2, 1),
        date(2025, 3, 1),
    )
    assert date_literal_range(DateLiteral("THIS_WEEK"), today) == (
        date(2025, 3, 9),
        date(2025, 3, 16),
    )
    assert date_literal_range(DateLiteral("THIS_QUARTER"), today) == (
        date(2025, 1, 1),
        date(2025, 4, 1),
    )
    assert date_literal_range(DateLiteral("N_MONTHS_AGO", 13), today) == (
        date(2024, 2, 1),
        date(2024, 3, 1),
    )
