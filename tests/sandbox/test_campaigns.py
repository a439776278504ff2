"""Contact, Campaign and CampaignMember in the practice org, with Salesforce's constraints:
required fields, CampaignId/ContactId set on create only, one membership per Campaign and
Contact (DUPLICATE_VALUE "Already a campaign member."), HasResponded from Status, SOQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sfsync.automation.campaign_rules import load_campaign_rules
from tests.fixtures.sandbox import SANDBOX_AS_OF

RULES = Path(__file__).resolve().parents[2] / "mappings" / "campaigns.yaml"


@pytest.fixture
def org(sandbox_factory):
    sb = sandbox_factory(accounts=40)
    return sb, sb.simple_salesforce()


def _member(campaign: str, contact: str, status: str = "Sent") -> dict:
    return {
        "attributes": {"type": "CampaignMember"},
        "CampaignId": campaign,
        "ContactId": contact,
        "Status": status,
    }


def _campaign_and_contacts(sf, n: int = 2) -> tuple[str, list[str]]:
    campaign = sf.query("SELECT Id FROM Campaign ORDER BY Name LIMIT 1")["records"][0]["Id"]
    contacts = sf.query(f"SELECT Id FROM Contact ORDER BY Email LIMIT {n}")["records"]
    return campaign, [c["Id"] for c in contacts]


def test_sample_contacts_carry_a_cs_role_and_are_queryable_by_account(org):
    sb, sf = org
    rows = sf.query_all(
        "SELECT Id, Name, Email, CS_Contact_Role__c, Account.Name FROM Contact "
        "WHERE CS_Contact_Role__c = 'primary'"
    )["records"]
    assert len(rows) == 40  # one primary contact per account
    assert all(r["Account"]["Name"] and r["Email"] for r in rows)
    roles = sf.query(
        "SELECT CS_Contact_Role__c, COUNT(Id) n FROM Contact GROUP BY CS_Contact_Role__c"
    )
    assert {r["CS_Contact_Role__c"] for r in roles["records"]} >= {"primary", "decision_maker"}
    field = {f["name"]: f for f in sf.Contact.describe()["fields"]}["CS_Contact_Role__c"]
    assert field["label"] == "CS上の役割"
    assert {(v["value"], v["label"]) for v in field["picklistValues"]} >= {
        ("primary", "主担当"), ("decision_maker", "決裁者"),
    }  # fmt: skip
    campaigns = sf.query("SELECT Name, IsActive, Type, Parent.Name FROM Campaign")["records"]
    assert all(c["IsActive"] and c["Type"] == "Email" for c in campaigns)
    names = {c["Name"] for c in campaigns}
    rules = load_campaign_rules(RULES).rules.values()
    assert {rule.campaign_on(SANDBOX_AS_OF) for rule in rules} <= names  # every rule's Campaign
    tips = [
        c for c in campaigns if (c["Parent"] or {}).get("Name") == "テックタッチ: 月次Tipsメール"
    ]
    assert len(tips) == 25  # a child per month, a year back and ahead


def test_describe_reports_the_real_field_properties(org):
    _, sf = org
    member = {f["name"]: f for f in sf.CampaignMember.describe()["fields"]}
    assert member["CampaignId"]["nillable"] is False
    assert member["CampaignId"]["updateable"] is False and member["CampaignId"]["createable"]
    assert member["ContactId"]["updateable"] is False
    assert member["HasResponded"]["createable"] is False
    assert member["Status"]["updateable"] is True
    campaign = {f["name"]: f for f in sf.Campaign.describe()["fields"]}
    assert campaign["Name"]["nillable"] is False and campaign["Name"]["length"] == 80


def test_a_contact_is_a_member_of_a_campaign_once(org):
    sb, sf = org
    campaign, (first, second) = _campaign_and_contacts(sf)
    created = sf.CampaignMember.create({"CampaignId": campaign, "ContactId": first})
    assert created["success"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.CampaignMember.create(
            {"CampaignId": campaign, "ContactId": first, "Status": "Responded"}
        )
    error = err.value.content[0]
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert error["message"] == "Already a campaign member."
    # another contact, or the same contact in another campaign, is fine
    assert sf.CampaignMember.create({"CampaignId": campaign, "ContactId": second})["success"]
    other = sf.query("SELECT Id FROM Campaign ORDER BY Name DESC LIMIT 1")["records"][0]["Id"]
    assert sf.CampaignMember.create({"CampaignId": other, "ContactId": first})["success"]
    members = sf.query(
        "SELECT ContactId, Contact.AccountId, Campaign.Name, Status, HasResponded "
        f"FROM CampaignMember WHERE CampaignId = '{campaign}'"
    )["records"]
    assert sorted(m["ContactId"] for m in members) == sorted([first, second])
    assert all(m["Contact"]["AccountId"].startswith("001") for m in members)
    assert {m["Campaign"]["Name"] for m in members} == {sf.Campaign.get(campaign)["Name"]}
    assert {m["Status"] for m in members} == {"Sent"}  # the default status; the duplicate left none


def test_a_collection_with_a_duplicate_membership_fails_that_record_only(org):
    _, sf = org
    campaign, (first, second) = _campaign_and_contacts(sf)
    records = [_member(campaign, first), _member(campaign, first), _member(campaign, second)]
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
    )
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert results[1]["errors"][0]["message"] == "Already a campaign member."
    # allOrNone: the duplicate rolls the whole request back
    records = [_member(campaign, second), _member(campaign, first)]
    other = sf.query("SELECT Id FROM Contact ORDER BY Email DESC LIMIT 1")["records"][0]["Id"]
    records.insert(0, _member(campaign, other))
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )
    assert not any(r["success"] for r in results)
    count = sf.query(f"SELECT COUNT() FROM CampaignMember WHERE CampaignId = '{campaign}'")
    assert count["totalSize"] == 2


def test_required_fields_and_create_only_fields(org):
    _, sf = org
    campaign, (first, second) = _campaign_and_contacts(sf)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.CampaignMember.create({"ContactId": first})
    assert err.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert err.value.content[0]["fields"] == ["CampaignId"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.CampaignMember.create({"CampaignId": campaign})
    assert err.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Campaign.create({"Type": "Email"})
    assert err.value.content[0]["fields"] == ["Name"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.CampaignMember.create({"CampaignId": first, "ContactId": first})
    assert err.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    member = sf.CampaignMember.create({"CampaignId": campaign, "ContactId": first})["id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.CampaignMember.update(member, {"ContactId": second})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_status_responded_sets_has_responded(org):
    _, sf = org
    campaign, (first, _) = _campaign_and_contacts(sf)
    member = sf.CampaignMember.create({"CampaignId": campaign, "ContactId": first})["id"]
    assert sf.CampaignMember.get(member)["HasResponded"] is False
    sf.CampaignMember.update(member, {"Status": "Responded"})
    record = sf.CampaignMember.get(member)
    assert record["HasResponded"] is True and record["FirstRespondedDate"]
    # a deleted membership no longer blocks adding the contact again
    sf.CampaignMember.delete(member)
    assert sf.CampaignMember.create({"CampaignId": campaign, "ContactId": first})["success"]


def test_a_campaign_is_created_with_the_defaults(org):
    _, sf = org
    created = sf.Campaign.create({"Name": "テックタッチ: 新機能ウェビナー案内"})
    record = sf.Campaign.get(created["id"])
    assert record["Status"] == "Planned" and record["IsActive"] is False
    rows = sf.query(
        "SELECT Campaign.Name, Contact.Email FROM CampaignMember WHERE Campaign.IsActive = true"
    )
    assert rows["totalSize"] == 0  # the sample Campaigns start without members
