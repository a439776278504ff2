"""Describe, limits, versions and the Sforce-Limit-Info header."""

from __future__ import annotations


def test_versions_and_resources(sandbox):
    session = sandbox.requests_session()
    versions = session.get(f"{sandbox.salesforce_url}/services/data/").json()
    assert {"label", "url", "version"} <= set(versions[-1])
    assert any(v["version"] == "62.0" for v in versions)
    sf = sandbox.simple_salesforce()
    assert "query" in sf.restful("")


def test_global_and_object_describe(sandbox_sf):
    names = {o["name"] for o in sandbox_sf.describe()["sobjects"]}
    assert {"Account", "User", "Task", "Event", "Health_Score_History__c"} <= names
    fields = {f["name"]: f for f in sandbox_sf.Account.describe()["fields"]}
    band = fields["Health_Band__c"]
    assert band["type"] == "picklist" and band["restrictedPicklist"] is True
    assert [v["value"] for v in band["picklistValues"]] == ["green", "yellow", "orange", "red"]
    assert fields["Tenant_Id__c"]["externalId"] is True and fields["Tenant_Id__c"]["length"] == 64
    assert (
        fields["Health_Score__c"]["type"] == "double"
        and fields["Health_Score__c"]["precision"] == 3
    )
    assert fields["Health_Explanation__c"]["length"] == 32768
    assert fields["Id"]["updateable"] is False and fields["Name"]["nillable"] is False
    assert fields["Churn_Signals__c"]["type"] == "multipicklist"
    task = {f["name"]: f for f in sandbox_sf.Task.describe()["fields"]}
    assert task["Sync_Key__c"]["unique"] is True and task["Sync_Key__c"]["externalId"] is True
    assert task["IsClosed"]["updateable"] is False
    assert task["WhatId"]["relationshipName"] == "What"


def test_limits_and_limit_header(sandbox):
    sf = sandbox.simple_salesforce()
    before = sf.limits()["DailyApiRequests"]
    sf.query("SELECT Id FROM User LIMIT 1")
    after = sf.limits()["DailyApiRequests"]
    assert before["Max"] == after["Max"]
    assert after["Remaining"] == before["Remaining"] - 2
    used = sf.api_usage["api-usage"]
    assert used.total == before["Max"] and used.used == before["Max"] - after["Remaining"]


def test_admin_calls_are_not_api_calls(sandbox):
    before = sandbox.admin.counters()["api_calls"]
    sandbox.admin.records("Account")
    sandbox.admin.counters()
    assert sandbox.admin.counters()["api_calls"] == before


def test_plain_requests_trust_the_sandbox_while_it_runs(sandbox_factory):
    import os
    from pathlib import Path

    import requests

    before = os.environ.get("REQUESTS_CA_BUNDLE")
    sb = sandbox_factory(accounts=2)
    bundle = Path(os.environ["REQUESTS_CA_BUNDLE"])
    assert Path(sb.ca_bundle).read_text() in bundle.read_text()
    assert requests.get(f"{sb.salesforce_url}/services/data/", timeout=10).status_code == 200
    sb.stop()
    assert os.environ.get("REQUESTS_CA_BUNDLE") == before
