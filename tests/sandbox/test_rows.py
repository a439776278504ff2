"""Single-record REST: create, get, update, delete, upsert by external id, error shapes."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)


def test_create_get_update_delete(sandbox_factory):
    sb = sandbox_factory(accounts=3)
    sf = sb.simple_salesforce()
    created = sf.Account.create(
        {"Name": "新規顧客 株式会社", "ARR__c": 1200000, "Enterprise__c": True}
    )
    assert created["success"] is True and created["id"].startswith("001")
    rec = sf.Account.get(created["id"])
    assert rec["Name"] == "新規顧客 株式会社" and rec["ARR__c"] == 1200000.0
    assert rec["OwnerId"] == sb.integration_user_id == rec["CreatedById"] == rec["LastModifiedById"]
    assert rec["CreatedDate"].endswith("+0000")
    assert (
        sf.Account.update(created["id"], {"Health_Scored_At__c": "2025-03-15T09:00:00+09:00"})
        == 204
    )
    assert sf.Account.get(created["id"])["Health_Scored_At__c"] == "2025-03-15T00:00:00.000+0000"
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.Account.get(created["id"])
    assert info.value.content[0]["errorCode"] == "NOT_FOUND"


def test_upsert_by_external_id_201_200_300(sandbox_factory):
    sb = sandbox_factory(accounts=3)
    sf = sb.simple_salesforce()
    response = sf.Account.upsert("Tenant_Id__c/NEW-1", {"Name": "Upserted"}, raw_response=True)
    assert response.status_code == 201 and response.json()["created"] is True
    response = sf.Account.upsert("Tenant_Id__c/NEW-1", {"Health_Score__c": 70}, raw_response=True)
    assert response.status_code == 200 and response.json() == {
        "id": response.json()["id"], "success": True, "errors": [], "created": False}  # fmt: skip
    sf.Account.create({"Name": "Twin", "Tenant_Id__c": "NEW-1"})  # Tenant_Id__c is not unique
    with pytest.raises(SalesforceMoreThanOneRecord) as info:
        sf.Account.upsert("Tenant_Id__c/NEW-1", {"Name": "Ambiguous"})
    assert info.value.status == 300
    assert all(
        url.startswith("/services/data/v62.0/sobjects/Account/001") for url in info.value.content
    )


def test_unique_external_id_rejects_duplicates(sandbox_factory):
    sf = sandbox_factory(accounts=3).simple_salesforce()
    sf.Task.create({"Subject": "a", "Sync_Key__c": "k-1"})
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Task.create({"Subject": "b", "Sync_Key__c": "K-1"})
    assert info.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"Health_Band__c": "blue"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Health_Band__c"),
        (
            {"Churn_Signals__c": "red_band;made_up"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "Churn_Signals__c",
        ),
        ({"Tenant_Id__c": "x" * 65}, "STRING_TOO_LONG", "Tenant_Id__c"),
        ({"Name": None}, "REQUIRED_FIELD_MISSING", "Name"),
        ({"CreatedDate": "2025-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "CreatedDate"),
        ({"Health_Score__c": "high"}, "INVALID_TYPE_ON_FIELD_IN_RECORD", "Health_Score__c"),
        ({"Renewal_Date__c": "next year"}, "INVALID_TYPE_ON_FIELD_IN_RECORD", "Renewal_Date__c"),
        ({"OwnerId": "0015g0000000001AAA"}, "FIELD_INTEGRITY_EXCEPTION", "OwnerId"),
        ({"OwnerId": "005000000000000AAA"}, "INVALID_CROSS_REFERENCE_KEY", "OwnerId"),
        ({"No_Such__c": 1}, "INVALID_FIELD", "No_Such__c"),
    ],
)
def test_record_errors_have_salesforce_shape(sandbox_sf, fields, code, field):
    account_id = sandbox_sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sandbox_sf.Account.update(account_id, fields)
    error = info.value.content[0]
    assert info.value.status == 400
    assert error["errorCode"] == code and error["fields"] == [field] and error["message"]


def test_invalid_session_is_401(sandbox):
    sf = Salesforce(instance_url=sandbox.salesforce_url, session_id="00Dbogus!token",
                    session=sandbox.requests_session())  # fmt: skip
    with pytest.raises(SalesforceExpiredSession) as info:
        sf.query("SELECT Id FROM Account")
    assert info.value.status == 401
    assert info.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_unknown_resource_is_404(sandbox):
    response = sandbox.requests_session().get(
        f"{sandbox.salesforce_url}/services/data/v62.0/sobjects/Nope__c/describe",
        headers={"Authorization": f"Bearer {sandbox.access_token}"},
    )
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_edit_as_simulates_a_csm_completing_a_task(sandbox_factory):
    sb = sandbox_factory(accounts=5)
    sf = sb.simple_salesforce()
    task_id = sf.Task.create({"Subject": "Call", "Sync_Key__c": "k-done"})["id"]
    csm = next(u for u in sb.admin.records("User") if u["Id"] != sb.integration_user_id)
    sb.admin.reset_counters()
    edited = sb.admin.edit_as(csm["Id"], "Task", task_id, {"Status": "Completed"})
    assert edited["IsClosed"] is True and edited["LastModifiedById"] == csm["Id"]
    assert edited["CompletedDateTime"]
    rec = sf.query("SELECT IsClosed, LastModifiedById FROM Task WHERE Sync_Key__c = 'k-done'")[
        "records"
    ][0]
    assert rec["IsClosed"] is True and rec["LastModifiedById"] == csm["Id"]
    assert sb.admin.counters()["records_written"] == 0
