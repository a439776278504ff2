"""The sandbox over HTTP refuses what a real org refuses, paces like one, and answers JSON.

Sources for each behaviour are quoted in the docstrings of the sandbox modules (app, rest,
behaviour, bulk2, composite).
"""

from __future__ import annotations

import pytest
import requests
from sfsync_sandbox.salesforce.behaviour import ServerBehaviour


@pytest.fixture
def sb(sandbox_factory):
    return sandbox_factory(accounts=60)


def _get(sb, path: str, **kwargs) -> requests.Response:
    session = sb.requests_session()
    headers = {"Authorization": f"Bearer {sb.access_token}", **kwargs.pop("headers", {})}
    return session.request(
        kwargs.pop("method", "GET"), sb.salesforce_url + path, headers=headers, timeout=30, **kwargs
    )


def _base(sb) -> str:
    return f"/services/data/v{sb.api_version}"


def _one_error(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list) and len(body) == 1, body
    return body[0]


# -- errors are JSON ---------------------------------------------------------------------------
def test_404_405_and_500_answer_json_like_salesforce(sb, monkeypatch):
    for path in (_base(sb) + "/no/such/resource", "/no-such-page", _base(sb) + "/sobjects/Nope"):
        response = _get(sb, path)
        assert response.status_code == 404
        assert _one_error(response) == {
            "errorCode": "NOT_FOUND",
            "message": "The requested resource does not exist",
        }
    response = _get(sb, _base(sb) + "/limits", method="DELETE")
    assert response.status_code == 405
    assert _one_error(response)["errorCode"] == "METHOD_NOT_ALLOWED"

    def broken(*args, **kwargs):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(sb.salesforce_app.engine, "run", broken)
    response = _get(sb, _base(sb) + "/query", params={"q": "SELECT Id FROM Account"})
    assert response.status_code == 500
    error = _one_error(response)
    assert error["errorCode"] == "UNKNOWN_EXCEPTION"
    assert error["message"].startswith("An unexpected error occurred. Please include this ErrorId")
    assert "internal detail" not in response.text and "<html" not in response.text.lower()


def test_a_rejected_query_is_a_400_with_the_real_code(sb):
    q = "SELECT Id FROM Account WHERE Type = 'Customer' AND Industry = 'Retail' OR Name = 'x'"
    response = _get(sb, _base(sb) + "/query", params={"q": q})
    assert response.status_code == 400
    error = _one_error(response)
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert error["message"].endswith("unexpected token: OR")
    response = _get(
        sb, _base(sb) + "/query", params={"q": "SELECT Id FROM Account WHERE Description = 'x'"}
    )
    assert _one_error(response) == {
        "errorCode": "INVALID_FIELD",
        "message": "field 'Description' can not be filtered in query call",
    }


# -- page sizes vary ---------------------------------------------------------------------------
def test_batch_size_header_is_honoured_between_200_and_2000():
    behaviour = ServerBehaviour()
    assert behaviour.page_size(None) == 2000
    assert behaviour.page_size(50) == 200
    assert behaviour.page_size(700) == 700
    assert behaviour.page_size(5000) == 2000
    assert ServerBehaviour(query_page_size=333).page_size(700) == 333
    with pytest.raises(ValueError, match="unknown behaviour"):
        ServerBehaviour.from_dict({"page": 1})


@pytest.mark.parametrize("page", [7, 25, 59])
def test_pages_follow_the_configured_size_and_simple_salesforce_reads_them_all(sb, page):
    sb.salesforce_app.behaviour = ServerBehaviour(query_page_size=page)
    first = _get(sb, _base(sb) + "/query", params={"q": "SELECT Id FROM Account"}).json()
    assert len(first["records"]) == page and first["done"] is False
    assert first["totalSize"] == 60
    records = sb.simple_salesforce().query_all("SELECT Id, Name FROM Account")["records"]
    assert len({r["Id"] for r in records}) == 60


def test_wide_rows_come_in_smaller_pages(sb):
    sb.admin.set_behaviour(page_bytes=40_000)
    try:
        sf = sb.simple_salesforce()
        ids = [r["Id"] for r in sf.query("SELECT Id FROM Account LIMIT 20")["records"]]
        for record_id in ids:
            sf.Account.update(record_id, {"Description": "x" * 9000})
        page = _get(
            sb, _base(sb) + "/query", params={"q": "SELECT Id, Description FROM Account"}
        ).json()
        assert 1 <= len(page["records"]) < 20 and page["done"] is False
        narrow = _get(sb, _base(sb) + "/query", params={"q": "SELECT Id FROM Account"}).json()
        assert len(narrow["records"]) == 60
        assert len(sf.query_all("SELECT Id, Description FROM Account")["records"]) == 60
    finally:
        sb.admin.set_behaviour()


# -- Bulk API 2.0 ------------------------------------------------------------------------------
def test_bulk_query_jobs_stay_in_progress_before_complete(sb):
    sb.salesforce_app.behaviour = ServerBehaviour(bulk_in_progress_polls=3)
    job = _get(
        sb,
        _base(sb) + "/jobs/query",
        method="POST",
        json={"operation": "query", "query": "SELECT Id FROM Account"},
    ).json()
    assert job["state"] == "UploadComplete"
    results = _get(sb, _base(sb) + f"/jobs/query/{job['id']}/results")
    assert results.status_code == 400
    assert _one_error(results)["errorCode"] == "INVALIDJOBSTATE"
    states = [_get(sb, _base(sb) + f"/jobs/query/{job['id']}").json()["state"] for _ in range(4)]
    assert states == ["InProgress", "InProgress", "InProgress", "JobComplete"]
    assert _get(sb, _base(sb) + f"/jobs/query/{job['id']}/results").status_code == 200
    # simple-salesforce polls until JobComplete and reads every row
    rows = sb.simple_salesforce().bulk2.Account.query("SELECT Id FROM Account")
    assert sum(text.count("\n") - 1 for text in rows) == 60


def test_bulk_ingest_jobs_stay_in_progress_too(sb):
    sb.salesforce_app.behaviour = ServerBehaviour(bulk_in_progress_polls=2)
    base = _base(sb) + "/jobs/ingest"
    job = _get(sb, base, method="POST", json={"object": "Account", "operation": "update"}).json()
    record_id = sb.simple_salesforce().query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    _get(
        sb,
        f"{base}/{job['id']}/batches",
        method="PUT",
        data=f"Id,Description\n{record_id},bulk\n",
        headers={"Content-Type": "text/csv"},
    )
    _get(sb, f"{base}/{job['id']}", method="PATCH", json={"state": "UploadComplete"})
    import time

    time.sleep(0.3)  # the work itself is done by now
    states = [_get(sb, f"{base}/{job['id']}").json()["state"] for _ in range(3)]
    assert states == ["InProgress", "InProgress", "JobComplete"]


@pytest.mark.parametrize(
    ("soql", "clause"),
    [
        ("SELECT Id FROM Account LIMIT 10 OFFSET 5", "OFFSET"),
        ("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry", "GROUP BY"),
        ("SELECT COUNT() FROM Account", "COUNT()"),
    ],
)
def test_bulk_query_refuses_offset_group_by_and_aggregates(sb, soql, clause):
    response = _get(
        sb, _base(sb) + "/jobs/query", method="POST", json={"operation": "query", "query": soql}
    )
    assert response.status_code == 400
    error = _one_error(response)
    assert error["errorCode"] == "API_ERROR" and clause in error["message"]
    ok = _get(sb, _base(sb) + "/query", params={"q": soql})  # the REST query runs them
    assert ok.status_code == 200


def test_rest_group_by_returns_aggregate_results(sb):
    page = _get(
        sb,
        _base(sb) + "/query",
        params={"q": "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry"},
    ).json()
    assert page["done"] is True and page["records"]
    assert all(r["attributes"] == {"type": "AggregateResult"} for r in page["records"])
    assert sum(r["expr0"] for r in page["records"]) == 60


# -- sObject Collections upsert ----------------------------------------------------------------
def test_collections_upsert_keyed_on_id_is_refused(sb):
    sf = sb.simple_salesforce()
    record_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    response = _get(
        sb,
        _base(sb) + "/composite/sobjects/Account/Id",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Account"}, "Id": record_id, "Site": "x"}]},
    )
    assert response.status_code == 400
    assert _one_error(response) == {
        "errorCode": "INVALID_FIELD",
        "message": "Invalid field for upsert, must be an External Id custom or standard "
        "indexed field: Id",
    }


def test_a_repeated_external_id_fails_every_record_that_carries_it(sb):
    sf = sb.simple_salesforce()
    account_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]

    def task(key, subject):
        return {"attributes": {"type": "Task"}, "Sync_Key__c": key, "Subject": subject,
                "WhatId": account_id}  # fmt: skip

    records = [task("k:1", "first"), task("k:2", "other"), task("K:1", "again")]
    results = sf.restful(
        "composite/sobjects/Task/Sync_Key__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert [r["success"] for r in results] == [False, True, False]
    assert results[0]["errors"] == [
        {
            "statusCode": "DUPLICATE_VALUE",
            "message": "Duplicate external id specified: k:1",
            "fields": ["Sync_Key__c"],
        }
    ]
    assert results[2]["errors"][0]["message"] == "Duplicate external id specified: K:1"
    keys = {t["Sync_Key__c"] for t in sb.admin.records("Task")}
    assert "k:2" in keys and not {"k:1", "K:1"} & keys
