"""Bulk API 2.0 through simple-salesforce's ``sf.bulk2``: ingest and query jobs."""

from __future__ import annotations

import csv
import io

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_bulk_upsert_reports_successes_and_failures(sandbox_factory):
    sb = sandbox_factory(accounts=3)
    sf = sb.simple_salesforce()
    account_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    records = [
        {
            "Sync_Key__c": f"bulk:{i}",
            "WhatId": account_id,
            "Subject": f"Task {i}",
            "Priority": "High",
        }
        for i in range(2500)
    ]
    records[10]["Priority"] = "Whenever"
    records[20]["ActivityDate"] = "not a date"
    results = sf.bulk2.Task.upsert(records=records, external_id_field="Sync_Key__c", wait=0.1)
    assert results[0]["numberRecordsProcessed"] == 2500
    assert results[0]["numberRecordsFailed"] == 2
    job_id = results[0]["job_id"]
    failed = _rows(sf.bulk2.Task.get_failed_records(job_id))
    assert [r["Sync_Key__c"] for r in failed] == ["bulk:10", "bulk:20"]
    assert failed[0]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert failed[1]["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    ok = _rows(sf.bulk2.Task.get_successful_records(job_id))
    assert len(ok) == 2498 and {r["sf__Created"] for r in ok} == {"true"}
    assert _rows(sf.bulk2.Task.get_unprocessed_records(job_id)) == []
    # again: every row matches its Sync_Key__c, nothing is created twice
    again = sf.bulk2.Task.upsert(records=records[:5], external_id_field="Sync_Key__c", wait=0.1)
    ok = _rows(sf.bulk2.Task.get_successful_records(again[0]["job_id"]))
    assert {r["sf__Created"] for r in ok} == {"false"}
    assert sf.query("SELECT COUNT() FROM Task WHERE Sync_Key__c LIKE 'bulk:%'")["totalSize"] == 2498


def test_bulk_insert_and_update(sandbox_factory):
    sb = sandbox_factory(accounts=3)
    sf = sb.simple_salesforce()
    sf.bulk2.Account.insert(
        records=[{"Name": f"Bulk {i}", "ARR__c": "1000"} for i in range(3)], wait=0.1
    )
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account WHERE Name LIKE 'Bulk %'")["records"]]
    assert len(ids) == 3
    result = sf.bulk2.Account.update(
        records=[{"Id": i, "Health_Band__c": "red"} for i in ids], wait=0.1
    )
    assert result[0]["numberRecordsFailed"] == 0
    bands = {
        r["Health_Band__c"]
        for r in sf.query("SELECT Health_Band__c FROM Account WHERE Name LIKE 'Bulk %'")["records"]
    }
    assert bands == {"red"}


def test_bulk_query_pages_with_locator(sandbox_factory):
    sb = sandbox_factory(accounts=1200)
    sf = sb.simple_salesforce()
    pages = list(
        sf.bulk2.Account.query(
            "SELECT Id, Name, Owner.Email, Enterprise__c FROM Account", max_records=500, wait=0.1
        )
    )
    assert len(pages) == 3
    rows = [row for page in pages for row in _rows(page)]
    assert len(rows) == 1200 and len({r["Id"] for r in rows}) == 1200
    assert set(rows[0]) == {"Id", "Name", "Owner.Email", "Enterprise__c"}
    assert {r["Enterprise__c"] for r in rows} <= {"true", "false"}


def test_bulk_query_rejects_bad_soql(sandbox_sf):
    with pytest.raises(SalesforceMalformedRequest) as info:
        list(sandbox_sf.bulk2.Account.query("SELECT Nope FROM Account", wait=0.1))
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_ingest_job_states_and_abort(sandbox_factory):
    sb = sandbox_factory(accounts=2)
    session = sb.requests_session()
    base = f"{sb.salesforce_url}/services/data/v62.0/jobs/ingest"
    auth = {"Authorization": f"Bearer {sb.access_token}"}
    job = session.post(base, json={"object": "Task", "operation": "insert"}, headers=auth).json()
    assert job["state"] == "Open" and job["contentUrl"].endswith(
        f"/jobs/ingest/{job['id']}/batches"
    )
    upload = session.put(f"{base}/{job['id']}/batches", data="Subject\nA\nB\n",
                         headers={**auth, "Content-Type": "text/csv"})  # fmt: skip
    assert upload.status_code == 201
    again = session.put(
        f"{base}/{job['id']}/batches",
        data="Subject\nC\n",
        headers={**auth, "Content-Type": "text/csv"},
    )
    assert again.status_code == 409
    aborted = session.patch(f"{base}/{job['id']}", json={"state": "Aborted"}, headers=auth).json()
    assert aborted["state"] == "Aborted"
    unprocessed = session.get(f"{base}/{job['id']}/unprocessedrecords", headers=auth)
    assert unprocessed.text.splitlines() == ['"Subject"', '"A"', '"B"']
    bad = session.post(base, json={"object": "Nope__c", "operation": "insert"}, headers=auth)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALIDJOB"


def test_ingest_job_with_unknown_column_fails(sandbox_factory):
    sf = sandbox_factory(accounts=2).simple_salesforce()
    from simple_salesforce.exceptions import SalesforceOperationError

    with pytest.raises(SalesforceOperationError, match="Field name not found"):
        sf.bulk2.Task.insert(records=[{"Subject": "x", "Nope__c": "y"}], wait=0.1)
