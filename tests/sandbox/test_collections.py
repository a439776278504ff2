"""sObject Collections: create / update / upsert, allOrNone, per-record results in order."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def _accounts(sf, n):
    return [r["Id"] for r in sf.query(f"SELECT Id FROM Account ORDER BY Name LIMIT {n}")["records"]]


def test_update_partial_success_keeps_order(sandbox_factory):
    sb = sandbox_factory(accounts=10)
    sf = sb.simple_salesforce()
    ids = _accounts(sf, 4)
    records = [
        {
            "attributes": {"type": "Account"},
            "Id": ids[0],
            "Health_Band__c": "green",
            "Health_Score__c": 85,
        },
        {"attributes": {"type": "Account"}, "Id": ids[1], "Health_Band__c": "purple"},
        {"attributes": {"type": "Account"}, "Id": ids[2], "Usage_Month__c": "2025-02-01"},
        {
            "attributes": {"type": "Account"},
            "Id": ids[3],
            "Churn_Signals__c": "red_band;competitor",
        },
    ]
    results = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}
    )
    assert [r["success"] for r in results] == [True, False, False, True]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[1]["errors"][0]["fields"] == ["Health_Band__c"]
    assert results[2]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    stored = {r["Id"]: r for r in sb.admin.records("Account")}
    assert stored[ids[0]]["Health_Score__c"] == 85.0
    assert stored[ids[0]]["LastModifiedById"] == sb.integration_user_id
    assert stored[ids[3]]["Churn_Signals__c"] == "competitor;red_band"
    counters = sb.admin.counters()
    assert counters["records_written"] == 2
    assert counters["writes_per_record"] == {ids[0]: 1, ids[3]: 1}


def test_all_or_none_rolls_everything_back(sandbox_factory):
    sb = sandbox_factory(accounts=5)
    sf = sb.simple_salesforce()
    ids = _accounts(sf, 2)
    records = [
        {"attributes": {"type": "Account"}, "Id": ids[0], "Health_Score__c": 10},
        {"attributes": {"type": "Account"}, "Id": ids[1], "Health_Score__c": 1000},
    ]
    results = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records}
    )
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "NUMBER_OUTSIDE_VALID_RANGE"
    assert {r["Id"]: r["Health_Score__c"] for r in sb.admin.records("Account")}[ids[0]] is None
    assert sb.admin.counters()["records_written"] == 0


def test_create_and_upsert_tasks_by_sync_key(sandbox_factory):
    sb = sandbox_factory(accounts=5)
    sf = sb.simple_salesforce()
    ids = _accounts(sf, 3)
    owner = sf.query(f"SELECT OwnerId FROM Account WHERE Id = '{ids[0]}'")["records"][0]["OwnerId"]
    tasks = [
        {"attributes": {"type": "Task"}, "Sync_Key__c": f"signal:red_band:{i}:2025-02", "WhatId": i,
         "OwnerId": owner, "Subject": "Call", "Priority": "High", "ActivityDate": "2025-03-17"}
        for i in ids
    ]  # fmt: skip
    first = sf.restful(
        "composite/sobjects/Task/Sync_Key__c",
        method="PATCH",
        json={"allOrNone": False, "records": tasks},
    )
    assert [r["created"] for r in first] == [True, True, True]
    tasks[1]["Priority"] = "Urgent"
    second = sf.restful(
        "composite/sobjects/Task/Sync_Key__c",
        method="PATCH",
        json={"allOrNone": False, "records": tasks},
    )
    assert [r["success"] for r in second] == [True, False, True]
    assert [r.get("created") for r in second] == [False, None, False]
    assert [r["id"] for i, r in enumerate(second) if i != 1] == [first[0]["id"], first[2]["id"]]
    stored = [t for t in sb.admin.records("Task") if t["Sync_Key__c"]]
    assert len(stored) == 3 and all(
        t["Status"] == "Not Started" and t["IsClosed"] is False for t in stored
    )
    created = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Task"}, "Sync_Key__c": tasks[0]["Sync_Key__c"].upper(), "Subject": "dup"},
        {"attributes": {"type": "Task"}, "Subject": "no key", "IsClosed": True},
        {"attributes": {"type": "Account"}},
    ]})  # fmt: skip
    assert [r["errors"][0]["statusCode"] for r in created] == [
        "DUPLICATE_VALUE", "INVALID_FIELD_FOR_INSERT_UPDATE", "REQUIRED_FIELD_MISSING"]  # fmt: skip


def test_more_than_200_records_is_rejected(sandbox_sf):
    records = [{"attributes": {"type": "Task"}, "Subject": "x"}] * 201
    with pytest.raises(SalesforceMalformedRequest) as info:
        sandbox_sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_retrieve_and_delete_collections(sandbox_factory):
    sb = sandbox_factory(accounts=5)
    sf = sb.simple_salesforce()
    ids = _accounts(sf, 2)
    got = sf.restful("composite/sobjects/Account", params={"ids": ",".join([*ids, "001000000000000AAA"]),
                                                           "fields": "Name,ARR__c"})  # fmt: skip
    assert [r["Id"] if r else None for r in got] == [*ids, None]
    assert set(got[0]) == {"attributes", "Name", "ARR__c", "Id"} or set(got[0]) == {
        "attributes",
        "Name",
        "ARR__c",
    }
    tasks = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Task"}, "Subject": f"t{i}"} for i in range(3)]})  # fmt: skip
    task_ids = [t["id"] for t in tasks]
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(task_ids)})
    assert [d["success"] for d in deleted] == [True, True, True]
    assert sf.query_all(f"SELECT COUNT() FROM Task WHERE Id IN ('{task_ids[0]}')")["totalSize"] == 0


def test_health_score_history_upsert_by_history_key(sandbox_factory):
    sb = sandbox_factory(accounts=3)
    sf = sb.simple_salesforce()
    account_id = _accounts(sf, 1)[0]
    row = {"attributes": {"type": "Health_Score_History__c"}, "History_Key__c": f"{account_id}:2025-03-15",
           "Account__c": account_id, "Score_Date__c": "2025-03-15", "Health_Score__c": 72,
           "Health_Band__c": "yellow", "CS_Segment__c": "A", "Lifecycle_Phase__c": "maturity"}  # fmt: skip
    url = "composite/sobjects/Health_Score_History__c/History_Key__c"
    first = sf.restful(url, method="PATCH", json={"records": [row]})
    second = sf.restful(url, method="PATCH", json={"records": [row]})
    assert first[0]["created"] is True and second[0]["created"] is False
    rec = sf.query("SELECT Name, Account__r.Name, Health_Score__c FROM Health_Score_History__c")[
        "records"
    ]
    assert len(rec) == 1 and rec[0]["Name"] == "HSH-0000001"
    assert rec[0]["Account__r"]["Name"]
    fields = {f["name"]: f for f in sf.Health_Score_History__c.describe()["fields"]}
    assert fields["Name"]["autoNumber"] is True and fields["Name"]["createable"] is False
    assert (
        fields["Account__c"]["referenceTo"] == ["Account"]
        and fields["Account__c"]["relationshipName"] == "Account__r"
    )


def test_get_by_external_id(sandbox_factory):
    sf = sandbox_factory(accounts=3).simple_salesforce()
    sf.Task.create({"Subject": "by key", "Sync_Key__c": "key/with/slashes"})
    from simple_salesforce.format import format_external_id

    assert sf.Task.get_by_custom_id("Sync_Key__c", "key/with/slashes")["Subject"] == "by key"
    assert (
        sf.Task.upsert(format_external_id("Sync_Key__c", "key/with/slashes"), {"Subject": "again"})
        == 200
    )
