"""Opportunity in the practice org, as a real org has it: Name, StageName and CloseDate are
required on create, StageName takes only the org's stages, Sync_Key__c is a unique external ID
(from deploy/salesforce) that an upsert matches on."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture
def sf(sandbox_factory):
    return sandbox_factory(accounts=20).simple_salesforce()


def _account(sf) -> str:
    return sf.query("SELECT Id FROM Account ORDER BY Name LIMIT 1")["records"][0]["Id"]


def test_name_stage_and_close_date_are_required_and_the_stage_is_restricted(sf):
    account = _account(sf)
    full = {
        "Name": "x",
        "AccountId": account,
        "StageName": "Prospecting",
        "CloseDate": "2025-04-14",
    }
    for missing in ("Name", "StageName", "CloseDate"):
        record = {k: v for k, v in full.items() if k != missing}
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.Opportunity.create(record)
        assert err.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
        assert err.value.content[0]["fields"] == [missing]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Opportunity.create({**full, "StageName": "Won"})
    assert err.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Opportunity.create(full)["success"]


def test_sync_key_is_a_unique_external_id_for_upserts(sf):
    described = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    key = described["Sync_Key__c"]
    assert key["externalId"] and key["unique"]
    assert not described["StageName"]["nillable"] and not described["CloseDate"]["nillable"]
    body = {"Name": "x", "AccountId": _account(sf), "StageName": "Prospecting",
            "CloseDate": "2025-04-14"}  # fmt: skip
    assert sf.Opportunity.upsert("Sync_Key__c/upsell:a:b:2025-02", body) == 201
    assert (
        sf.Opportunity.upsert("Sync_Key__c/upsell:a:b:2025-02", {"Name": "y"}) == 200
    )  # updated (API 46+)
    rows = sf.query("SELECT Name FROM Opportunity WHERE Sync_Key__c = 'upsell:a:b:2025-02'")
    assert [r["Name"] for r in rows["records"]] == ["y"]
