"""SOQL through unmodified simple-salesforce: pages, relationships, filters, errors."""

from __future__ import annotations

from datetime import date

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest


def test_query_pages_with_path_only_next_records_url(sandbox_factory):
    sb = sandbox_factory(accounts=4500)
    sf = sb.simple_salesforce()
    first = sf.query("SELECT Id, Name FROM Account")
    assert first["totalSize"] == 4500
    assert len(first["records"]) == 2000
    assert first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 2000 and second["nextRecordsUrl"].endswith("-4000")
    everything = sf.query_all("SELECT Id FROM Account")
    ids = [r["Id"] for r in everything["records"]]
    assert len(ids) == 4500 == len(set(ids))
    counts = sb.admin.counters()["calls"]
    assert counts["GET query/{locator}"] == 3  # one query_more above, two in query_all


def test_query_all_includes_deleted_records(sandbox_factory):
    sf = sandbox_factory(accounts=5).simple_salesforce()
    account_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    sf.Account.delete(account_id)
    live = sf.query_all("SELECT Id FROM Account")["totalSize"]
    with_deleted = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)
    assert live == 4
    assert with_deleted["totalSize"] == 5
    assert [r["IsDeleted"] for r in with_deleted["records"] if r["Id"] == account_id] == [True]


def test_parent_relationship_fields(sandbox_sf):
    rec = sandbox_sf.query("SELECT Id, Owner.Email, Owner.Name FROM Account ORDER BY Name LIMIT 1")[
        "records"
    ][0]
    assert rec["Owner"]["attributes"]["type"] == "User"
    assert "@" in rec["Owner"]["Email"]
    task = sandbox_sf.query(
        "SELECT Id, What.Type, What.Name FROM Task WHERE WhatId != null LIMIT 1"
    )["records"][0]
    assert task["What"]["Type"] == "Account"


def test_where_operators(sandbox_sf):
    q = sandbox_sf.query
    total = q("SELECT COUNT() FROM Account")["totalSize"]
    assert total >= 150
    big = q("SELECT COUNT() FROM Account WHERE ARR__c >= 1000000")["totalSize"]
    small = q("SELECT COUNT() FROM Account WHERE NOT (ARR__c >= 1000000)")["totalSize"]
    assert big + small == total
    in_list = q("SELECT COUNT() FROM Account WHERE Industry IN ('Retail', 'Finance')")["totalSize"]
    not_in = q("SELECT COUNT() FROM Account WHERE Industry NOT IN ('Retail', 'Finance')")[
        "totalSize"
    ]
    assert in_list + not_in == total
    names = [r["Name"] for r in sandbox_sf.query_all("SELECT Name FROM Account")["records"]]
    prefix = names[0][:3]
    like = q(format_soql("SELECT Id, Name FROM Account WHERE Name LIKE '{:like}%'", prefix.lower()))
    expected = [n for n in names if n.lower().startswith(prefix.lower())]
    assert like["totalSize"] == len(expected) > 0
    unlinked = q("SELECT COUNT() FROM Account WHERE Tenant_Id__c = null")["totalSize"]
    linked = q("SELECT COUNT() FROM Account WHERE Tenant_Id__c != null")["totalSize"]
    assert unlinked + linked == total
    renewing = q(format_soql("SELECT COUNT() FROM Account WHERE Renewal_Date__c <= {} AND Enterprise__c = {}",
                             date(2025, 6, 15), False))["totalSize"]  # fmt: skip
    assert 0 < renewing < total
    owner_filter = q(
        "SELECT COUNT() FROM Account WHERE Owner.IsActive = true AND (Industry = 'Retail' OR Industry = 'Media')"
    )
    assert owner_filter["totalSize"] > 0


def test_order_limit_offset(sandbox_sf):
    names = [
        r["Name"]
        for r in sandbox_sf.query("SELECT Name FROM Account ORDER BY Name DESC LIMIT 5 OFFSET 2")[
            "records"
        ]
    ]
    all_names = sorted(
        (r["Name"] for r in sandbox_sf.query_all("SELECT Name FROM Account")["records"]),
        reverse=True,
    )
    assert names == all_names[2:7]


def test_datetime_and_date_literals(sandbox_sf):
    recent = sandbox_sf.query("SELECT COUNT() FROM Account WHERE CreatedDate = LAST_N_DAYS:1")[
        "totalSize"
    ]
    assert recent >= 150
    future = sandbox_sf.query(
        "SELECT COUNT() FROM Account WHERE CreatedDate > 2999-01-01T00:00:00Z"
    )["totalSize"]
    assert future == 0


def test_soql_injection_through_format_soql_does_not_change_the_query(sandbox_sf):
    hostile = "x' OR Name != '"
    soql = format_soql("SELECT Id FROM Account WHERE Name = {}", hostile)
    assert sandbox_sf.query(soql)["totalSize"] == 0
    soql = format_soql(
        "SELECT Id FROM Account WHERE Name = {} OR Name = {}", "a\\' OR Id != null --", "b"
    )
    assert sandbox_sf.query(soql)["totalSize"] == 0


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY"),
        ("SELECT Id Name FROM Account", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
        ("SELECT Id, Nope.Name FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE ARR__c = '5'", "INVALID_QUERY_FILTER_OPERATOR"),
        (
            "SELECT Id FROM Account WHERE Renewal_Date__c = '2025-01-01'",
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
    ],
)
def test_query_errors_have_salesforce_shape(sandbox_sf, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sandbox_sf.query(soql)
    assert info.value.status == 400
    assert info.value.content[0]["errorCode"] == code
    assert info.value.content[0]["message"]
