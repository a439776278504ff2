"""Campaign members against the org (issue 13): the Campaigns resolved by Name or Id with a
clear problem when the org lacks one, the org's member statuses and contact roles checked,
memberships read before planning, inserts only for the missing ones; the writer counts a
DUPLICATE_VALUE as "already a member" (sObject Collections, recorded response shapes)."""

from __future__ import annotations

import json

import pandas as pd
import responses

from sfsync.automation.campaign_rules import CampaignRules
from sfsync.automation.campaign_stage import plan_campaign_members
from sfsync.plan import FieldChange, ObjectInsert, PendingWrite, Plan, RecordChange
from sfsync.salesforce.budget import estimate_write_calls
from sfsync.salesforce.campaign_members import (
    CampaignTarget,
    member_inserts,
    org_problems,
    read_memberships,
    resolve_campaigns,
)
from sfsync.salesforce.ids import to_18
from sfsync.salesforce.writer import LockRetry, WriteStatus, apply_plan
from tests.sync.helpers import BASE_URL, rest_client

SOURCE = "mappings/campaigns.yaml"
STEP = to_18("701000000000001")
TIPS = to_18("701000000000002")
TWIN_A, TWIN_B = to_18("701000000000003"), to_18("701000000000004")


def _picklist(name: str, values: list[str]) -> dict:
    return {"name": name, "picklistValues": [{"value": v, "active": True} for v in values]}


MEMBER = {"fields": [_picklist("Status", ["Sent", "Responded"])]}
CONTACT = {
    "fields": [
        {"name": "Id"},
        {"name": "AccountId"},
        {"name": "HasOptedOutOfEmail"},
        _picklist("CS_Contact_Role__c", ["primary", "decision_maker", "admin", "user"]),
    ]
}


class FakeOrg:
    """Answers the stage's SOQL from lists of Campaigns, contacts and memberships."""

    def __init__(self, campaigns, contacts, members=()):
        self.campaigns = campaigns  # (Id, Name)
        self.contacts = contacts  # (Id, AccountId, role, opted out)
        self.members = list(members)  # (CampaignId, ContactId)
        self.soql: list[str] = []

    def describe(self, sobject):
        return {"CampaignMember": MEMBER, "Contact": CONTACT}[sobject]

    def query(self, soql):
        self.soql.append(soql)
        if " FROM Campaign WHERE " in soql:
            return [{"Id": i, "Name": n} for i, n in self.campaigns if f"'{n}'" in soql
                    or f"'{i}'" in soql]  # fmt: skip
        if " FROM Contact " in soql:
            return [
                {"Id": c, "AccountId": a, "CS_Contact_Role__c": r, "HasOptedOutOfEmail": o}
                for c, a, r, o in self.contacts
                if f"'{a}'" in soql
            ]
        if " FROM CampaignMember " in soql:
            return [{"CampaignId": c, "ContactId": p} for c, p in self.members
                    if f"'{c}'" in soql and f"'{p}'" in soql]  # fmt: skip
        raise AssertionError(soql)


def _targets(**campaigns) -> list[CampaignTarget]:
    return [
        CampaignTarget(rule, name, name.startswith("701"), "Sent")
        for rule, name in campaigns.items()
    ]


def test_campaigns_resolve_by_name_or_id_and_a_missing_or_ambiguous_one_is_a_problem():
    org = FakeOrg(
        [(STEP, "Step 1"), (TIPS, "Tips 2025-03"), (TWIN_A, "Twin"), (TWIN_B, "Twin")], []
    )
    targets = _targets(step="Step 1", tips=TIPS[:15], gone="Tips 2025-04", twin="Twin")
    resolved, problems = resolve_campaigns(org, targets, SOURCE)
    assert resolved == {"step": STEP, "tips": TIPS}  # a 15-character Id comes back as 18
    by_rule = {p.key: p for p in problems}
    assert set(by_rule) == {"rules.gone", "rules.twin"}
    assert by_rule["rules.gone"].field == "campaign"
    assert "no Campaign named 'Tips 2025-04'" in by_rule["rules.gone"].message
    assert "mappings/campaigns.yaml rules.gone.campaign" in by_rule["rules.gone"].message
    assert "name the Campaign by its Id" in by_rule["rules.twin"].message
    assert TWIN_A in by_rule["rules.twin"].message


def test_the_member_status_and_the_roles_are_checked_against_the_org():
    targets = [
        CampaignTarget("a", "A", False, "Opened"),
        CampaignTarget("b", "B", False, "Sent", ("primary", "owner")),
        CampaignTarget("c", "C", False, "Responded", ("admin",)),
    ]
    problems = org_problems(targets, MEMBER, CONTACT, SOURCE)
    assert [(p.key, p.field) for p in problems] == [("rules.a", "status"), ("rules.b", "roles")]
    assert "'owner' not a value of Contact.CS_Contact_Role__c" in problems[1].message
    no_role_field = org_problems(targets[1:2], MEMBER, {"fields": []}, SOURCE)
    assert "has no field CS_Contact_Role__c" in no_role_field[0].message
    # an org that lists no statuses for CampaignMember (each Campaign has its own) is not judged
    assert org_problems(targets[:1], {"fields": []}, CONTACT, SOURCE) == []


def test_only_missing_memberships_are_inserted_and_the_first_rule_wins():
    rows = pd.DataFrame(
        {"rule": ["step", "step", "step", "again"], "contact_id": ["c1", "c2", "c2", "c3"]}
    )
    planned = member_inserts(
        rows,
        {"step": STEP, "again": STEP},
        {"step": "Sent", "again": "Responded"},
        existing={(STEP, "c1")},
        retry_keys=[f"step:{STEP}:c2"],
    )
    assert planned.already_members == 1
    assert [r.key for r in planned.records] == [f"step:{STEP}:c2", f"again:{STEP}:c3"]
    assert planned.records[0].values() == {"CampaignId": STEP, "ContactId": "c2", "Status": "Sent"}
    assert planned.records[0].retry and not planned.records[1].retry


def test_memberships_are_read_for_this_runs_campaigns_and_contacts_only():
    c1, c2, c9 = (to_18(f"00300000000000{i}") for i in (1, 2, 9))
    org = FakeOrg([], [], members=[(STEP, c1), (TIPS, c2), (STEP, c9)])
    assert read_memberships(org, [STEP], [c1, c2]) == {(STEP, c1)}
    assert org.soql == [
        f"SELECT CampaignId, ContactId FROM CampaignMember WHERE CampaignId IN ('{STEP}') "
        f"AND ContactId IN ('{c1}','{c2}')"
    ]


def test_the_stage_plans_members_skips_broken_rules_and_resolves_old_failures():
    acc = [to_18(f"001{i:012d}") for i in range(3)]
    con = [to_18(f"003{i:012d}") for i in range(4)]
    org = FakeOrg(
        [(STEP, "Step 1"), (TIPS, "Tips 2025-03")],
        [(con[0], acc[0], "primary", False), (con[1], acc[0], "user", True),
         (con[2], acc[1], "decision_maker", False), (con[3], acc[2], "primary", False)],
        members=[(TIPS, con[3])],
    )  # fmt: skip
    rules = CampaignRules.model_validate(
        {
            "rules": {
                "step": {"campaign": "Step 1", "when": {"kind": "contract_day", "day": 1}},
                "tips": {"campaign": "Tips {month}", "when": {"kind": "customer"}},
                "gone": {"campaign": "Release", "when": {"kind": "customer"}},
            }
        }
    )
    eligible = pd.DataFrame(
        {"rule": ["step", "tips", "tips", "gone"], "account_id": [acc[0], acc[1], acc[2], acc[0]]}
    )
    stale = PendingWrite("CampaignMember", f"step:{STEP}:{con[2]}")
    plan = plan_campaign_members(
        org, rules, eligible, as_of=pd.Timestamp("2025-03-15").date(), source=SOURCE,
        pending=[stale, PendingWrite("Task", "x")],
    )  # fmt: skip
    assert [r.key for r in plan.insert.records] == [
        f"step:{STEP}:{con[0]}",
        f"tips:{TIPS}:{con[2]}",
    ]
    assert plan.insert.duplicate_is_done
    assert plan.already_members == 1  # con[3] is in this month's tips already
    assert plan.by_rule == {"step": 1, "tips": 1}
    assert [p.key for p in plan.problems] == ["rules.gone"]
    assert plan.resolved == (stale,)  # no longer wanted: the ledger forgets it


def _member_plan(keys: list[str]) -> Plan:
    records = tuple(
        RecordChange(k, (FieldChange("CampaignId", None, STEP), FieldChange("ContactId", None, k),
                         FieldChange("Status", None, "Sent")))
        for k in keys
    )  # fmt: skip
    return Plan("Account", "Id", inserts=(ObjectInsert("CampaignMember", records, True),))


@responses.activate
def test_inserts_post_collections_and_a_duplicate_counts_as_already_a_member():
    keys = [f"003{i:015d}" for i in range(3)]
    sent = []

    def handler(request):
        body = json.loads(request.body)
        sent.append(body)
        return 200, {}, json.dumps(
            [
                {"id": "00v000000000001AAA", "success": True, "errors": []},
                {"success": False, "errors": [{"statusCode": "DUPLICATE_VALUE",
                                                "message": "Already a campaign member.",
                                                "fields": []}]},
                {"success": False, "errors": [{"statusCode": "FIELD_INTEGRITY_EXCEPTION",
                                                "message": "Contact ID: id value of incorrect type",
                                                "fields": ["ContactId"]}]},
            ]
        )  # fmt: skip

    responses.add_callback(responses.POST, BASE_URL + "composite/sobjects", callback=handler)
    result = apply_plan(
        rest_client(), _member_plan(keys), lock_retry=LockRetry(attempts=2, sleep=lambda s: None),
        bulk_threshold=1,  # an insert never goes to Bulk: no key column to match results by
    )  # fmt: skip
    assert len(sent) == 1 and sent[0]["allOrNone"] is False
    assert sent[0]["records"][0] == {
        "attributes": {"type": "CampaignMember"},
        "CampaignId": STEP,
        "ContactId": keys[0],
        "Status": "Sent",
    }
    added, already, failed = result.results
    assert added.status is WriteStatus.SUCCESS and added.created
    assert already.status is WriteStatus.SUCCESS and not already.created
    assert "already there" in already.message
    assert (
        failed.status is WriteStatus.ROW_FAILURE
        and failed.error_code == "FIELD_INTEGRITY_EXCEPTION"
    )
    assert result.methods == {"CampaignMember": "collections"}


def test_the_budget_counts_inserts_as_collections_calls():
    plan = _member_plan([f"003{i:015d}" for i in range(450)])
    assert estimate_write_calls(plan, bulk_threshold=10) == 4  # 3 calls of 200 + 10 %


def test_a_plan_with_inserts_round_trips_and_says_what_it_adds():
    plan = _member_plan([f"step_day1:{STEP}:003{i:015d}" for i in range(2)])
    again = Plan.from_json(plan.to_json())
    assert again == plan and not plan.is_empty
    assert plan.totals()["inserts"] == {"CampaignMember": 2}
    assert "CampaignMember: insert 2 records (step_day1 2)" in plan.summary()
