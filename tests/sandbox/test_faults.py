"""Seeded fault injection: 503s, row locks, dropped connections, session expiry, API quota."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceRefusedRequest


def _statuses(sb, n):
    session = sb.requests_session()
    headers = {"Authorization": f"Bearer {sb.access_token}"}
    url = f"{sb.salesforce_url}/services/data/v62.0/limits"
    return [session.get(url, headers=headers).status_code for _ in range(n)]


def test_http_503_rate_is_seeded_and_reproducible(sandbox_factory):
    sb = sandbox_factory(accounts=2, faults={"seed": 42, "http_503": 0.3})
    first = _statuses(sb, 60)
    assert set(first) == {200, 503}
    assert 8 <= first.count(503) <= 30
    assert sb.admin.counters()["faults"]["http_503"] == first.count(503)
    sb.admin.set_faults(seed=42, http_503=0.3)
    assert _statuses(sb, 60) == first
    body = sb.requests_session().get(f"{sb.salesforce_url}/services/data/v62.0/limits").status_code
    assert body in (401, 503)
    sb.admin.clear_faults()
    assert set(_statuses(sb, 10)) == {200}


def test_503_body_has_salesforce_shape(sandbox_factory):
    sb = sandbox_factory(accounts=2, faults={"seed": 1, "http_503": 1.0})
    response = sb.requests_session().get(f"{sb.salesforce_url}/services/data/v62.0/limits")
    assert response.status_code == 503
    assert response.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert "Sforce-Limit-Info" in response.headers


def test_lock_row_fails_single_records_not_the_call(sandbox_factory):
    sb = sandbox_factory(accounts=60, faults={"seed": 3, "lock_row": 0.2})
    sf = sb.simple_salesforce()
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account LIMIT 50")["records"]]
    records = [{"attributes": {"type": "Account"}, "Id": i, "Health_Score__c": 50} for i in ids]
    results = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}
    )
    locked = [r for r in results if not r["success"]]
    assert 3 <= len(locked) <= 20
    assert {r["errors"][0]["statusCode"] for r in locked} == {"UNABLE_TO_LOCK_ROW"}
    assert sb.admin.counters()["records_written"] == 50 - len(locked)


def test_dropped_connection(sandbox_factory):
    sb = sandbox_factory(accounts=2, faults={"seed": 1, "drop_connection": 1.0})
    with pytest.raises(requests.exceptions.ConnectionError):
        sb.simple_salesforce().query("SELECT Id FROM Account")
    assert sb.admin.counters()["faults"]["drop_connection"] == 1


def test_session_expires_after_k_calls(sandbox_factory):
    sb = sandbox_factory(accounts=2, faults={"session_expiry_after": 3})
    sf = sb.simple_salesforce()
    for _ in range(3):
        sf.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account LIMIT 1")
    fresh = sb.simple_salesforce(session_id=sb.new_session())
    assert fresh.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    sb.admin.clear_faults()
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1


def test_daily_api_quota(sandbox_factory):
    sb = sandbox_factory(accounts=2, faults={"daily_api_remaining": 2})
    sf = sb.simple_salesforce()
    assert sf.limits()["DailyApiRequests"]["Remaining"] == 1
    sf.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert info.value.status == 403
    assert info.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_bad_fault_settings_are_rejected(sandbox):
    with pytest.raises(RuntimeError, match="http_503"):
        sandbox.admin.set_faults(http_503=2.0)


def test_a_lost_response_leaves_the_work_done_and_a_second_insert_meets_it(sandbox_factory):
    sb = sandbox_factory(accounts=4, faults={"lose_response": "POST composite/sobjects",
                                             "lose_response_times": 1})  # fmt: skip
    sf = sb.simple_salesforce()
    campaign = sf.query("SELECT Id FROM Campaign ORDER BY Name LIMIT 1")["records"][0]["Id"]
    contact = sf.query("SELECT Id FROM Contact ORDER BY Email LIMIT 1")["records"][0]["Id"]
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign, "ContactId": contact}
    ]}  # fmt: skip
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.restful("composite/sobjects", method="POST", json=body)
    assert len(sb.admin.records("CampaignMember")) == 1  # committed before the answer was lost
    again = sf.restful("composite/sobjects", method="POST", json=body)
    assert again[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert sb.admin.counters()["faults"]["lose_response"] == 1
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1  # other calls unharmed
