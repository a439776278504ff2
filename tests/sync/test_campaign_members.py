"""Campaign members against the org (issue 13): the Campaigns resolved by Name or Id with a
clear problem when the org lacks one, the org's member statuses and contact roles checked,
contacts and memberships read before planning (IN lists for a small scope, whole reads through
``query_frame`` for a large one, the same results), inserts only for the missing ones; the
writer counts a DUPLICATE_VALUE as "already a member" (sObject Collections, recorded response
shapes)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import responses
from structlog.testing import capture_logs

from sfsync.automation.campaign_rules import CampaignRules
from sfsync.automation.campaign_stage import plan_campaign_members
from sfsync.config import SalesforceSettings
from sfsync.plan import FieldChange, ObjectInsert, PendingWrite, Plan, RecordChange
from sfsync.salesforce.budget import estimate_write_calls
from sfsync.salesforce.campaign_members import (
    CONTACT_COLUMNS,
    CampaignTarget,
    member_inserts,
    org_problems,
    read_contacts,
    read_memberships,
    resolve_campaigns,
)
from sfsync.salesforce.client import connect
from sfsync.salesforce.ids import to_18
from sfsync.salesforce.writer import LockRetry, WriteStatus, apply_plan
from tests.perf import reference
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
            rows = [
                {"Id": c, "AccountId": a, "CS_Contact_Role__c": r, "HasOptedOutOfEmail": o}
                for c, a, r, o in self.contacts
                if f"'{a}'" in soql
            ]
            return [{k: v for k, v in row.items() if k in soql} for row in rows]
        if " FROM CampaignMember " in soql:
            return [{"CampaignId": c, "ContactId": p} for c, p in self.members
                    if f"'{c}'" in soql and f"'{p}'" in soql]  # fmt: skip
        raise AssertionError(soql)

    def query_frame(self, soql):
        """Whole reads, as a Bulk API 2.0 query answers them: text columns, empty = NA."""
        self.soql.append(f"query_frame: {soql}")
        if soql.endswith(" FROM Contact WHERE AccountId != null"):
            rows = [(c, a, r, "true" if o else "false") for c, a, r, o in self.contacts if a]
            columns = ["Id", "AccountId", "CS_Contact_Role__c", "HasOptedOutOfEmail"]
            keep = [c for c in columns if c in soql]
            return pd.DataFrame(rows, columns=columns, dtype="str")[keep]
        elif " FROM CampaignMember WHERE CampaignId IN (" in soql:
            rows = [(c, p) for c, p in self.members if f"'{c}'" in soql]
            columns = ["CampaignId", "ContactId"]
        else:
            raise AssertionError(soql)
        return pd.DataFrame(rows, columns=columns, dtype="str")


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


ACCOUNTS = [to_18(f"001{i:012d}") for i in range(4)]
CONTACTS = [to_18(f"003{i:012d}") for i in range(8)]


def _odd_org() -> FakeOrg:
    """Contacts with and without a role, opted out or not, one without an account, one account
    (ACCOUNTS[3]) without contacts; memberships in and out of the run's Campaigns and scope."""
    a, c = ACCOUNTS, CONTACTS
    return FakeOrg(
        [],
        [(c[0], a[0], "primary", False), (c[1], a[0], None, True), (c[2], a[1], "user", False),
         (c[3], a[2], "admin", True), (c[4], a[2], None, False), (c[5], None, "primary", False),
         (c[6], a[1], "decision_maker", False)],
        members=[(STEP, c[0]), (STEP, c[3]), (TIPS, c[2]), (TIPS, c[6]), (TWIN_A, c[1]),
                 (STEP, c[7])],
    )  # fmt: skip


def _by_contact(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("contact_id").reset_index(drop=True)


@pytest.mark.parametrize("scope", [ACCOUNTS, ACCOUNTS[:3], ACCOUNTS[1:2], ACCOUNTS[3:]])
def test_contacts_are_read_by_account_or_whole_with_the_same_result(scope):
    small, large = _odd_org(), _odd_org()
    before = reference.read_contacts(_odd_org(), scope, CONTACT)
    by_account = read_contacts(small, scope, CONTACT)
    whole = read_contacts(large, scope, CONTACT, in_list_max=len(scope) - 1)
    assert [q.split(" WHERE ")[1][:15] for q in small.soql] == ["AccountId IN ('"]
    assert large.soql == [
        "query_frame: SELECT Id, AccountId, CS_Contact_Role__c, HasOptedOutOfEmail FROM Contact "
        "WHERE AccountId != null"
    ]
    if before.empty:  # the old read's empty frame had no dtypes (opted_out float64)
        assert by_account.empty and whole.empty
        assert list(whole.columns) == list(before.columns) == list(CONTACT_COLUMNS)
        return
    pd.testing.assert_frame_equal(by_account, before)
    pd.testing.assert_frame_equal(_by_contact(whole), _by_contact(before))
    assert whole["opted_out"].dtype == bool and whole["role"].dtype == object


def test_the_whole_contact_read_keeps_the_scope_and_the_opt_out_text():
    whole = read_contacts(_odd_org(), ACCOUNTS[:3], CONTACT, in_list_max=1)
    assert sorted(whole["contact_id"]) == [CONTACTS[i] for i in (0, 1, 2, 3, 4, 6)]
    opted = dict(zip(whole["contact_id"], whole["opted_out"], strict=True))
    assert [opted[CONTACTS[i]] for i in (0, 1, 3, 4)] == [False, True, True, False]
    roles = dict(zip(whole["contact_id"], whole["role"], strict=True))
    assert pd.isna(roles[CONTACTS[1]]) and roles[CONTACTS[6]] == "decision_maker"
    assert read_contacts(_odd_org(), ACCOUNTS[3:], CONTACT, in_list_max=0).empty


def test_contacts_of_an_org_without_the_role_and_opt_out_fields():
    plain = {"fields": [{"name": "Id"}, {"name": "AccountId"}]}
    whole = read_contacts(_odd_org(), ACCOUNTS, plain, in_list_max=0)
    assert set(whole["role"]) == {None} and not whole["opted_out"].any()
    pd.testing.assert_frame_equal(
        _by_contact(whole), _by_contact(reference.read_contacts(_odd_org(), ACCOUNTS, plain))
    )


@pytest.mark.parametrize("contacts", [CONTACTS, CONTACTS[:4], CONTACTS[5:], [CONTACTS[1]]])
def test_memberships_are_read_by_contact_or_by_campaign_with_the_same_result(contacts):
    small, large = _odd_org(), _odd_org()
    before = reference.read_memberships(_odd_org(), [STEP, TIPS], contacts)
    by_contact = read_memberships(small, [STEP, TIPS], contacts)
    by_campaign = read_memberships(large, [TIPS, STEP], contacts, in_list_max=len(contacts) - 1)
    assert by_contact == before == by_campaign
    assert all(" AND ContactId IN (" in q for q in small.soql)
    assert large.soql == [
        f"query_frame: SELECT CampaignId, ContactId FROM CampaignMember "
        f"WHERE CampaignId IN ('{STEP}','{TIPS}')"
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


def test_both_read_paths_give_the_old_reads_results_on_the_practice_org(sandbox_factory):
    sb = sandbox_factory(accounts=40)
    sf = sb.simple_salesforce()
    accounts = [a["Id"] for a in sf.query_all("SELECT Id FROM Account ORDER BY Name")["records"]]
    scope = accounts[::2]
    contacts = sf.query_all("SELECT Id, AccountId FROM Contact ORDER BY Email")["records"]
    inside = [c["Id"] for c in contacts if c["AccountId"] in scope]
    outside = [c["Id"] for c in contacts if c["AccountId"] not in scope]
    sf.Contact.create({"LastName": "No account", "CS_Contact_Role__c": "primary"})
    sf.Contact.update(inside[0], {"HasOptedOutOfEmail": True})
    sf.Contact.update(inside[1], {"CS_Contact_Role__c": None})
    campaigns = [c["Id"] for c in sf.query("SELECT Id FROM Campaign ORDER BY Name")["records"]]
    run, other = campaigns[:2], campaigns[2]
    members = [(run[0], c) for c in inside[:5] + outside[:3]] + [(run[1], inside[3])]
    for campaign, contact in [*members, (other, inside[4])]:
        sf.CampaignMember.create({"CampaignId": campaign, "ContactId": contact})
    client = connect(
        SalesforceSettings(instance_url=sb.salesforce_url, access_token=sb.access_token)
    )
    describe = client.describe("Contact")
    old_contacts = reference.read_contacts(client, scope, describe)
    wanted = list(old_contacts["contact_id"])
    old_members = reference.read_memberships(client, run, wanted)
    assert len(old_contacts) == len(inside) and old_contacts["opted_out"].sum() >= 1
    assert old_members == {(run[0], c) for c in inside[:5]} | {(run[1], inside[3])}
    for in_list_max, bulk_threshold, bulk in ((10_000, 2000, 0), (0, 2000, 0), (0, 0, 2)):
        client.bulk_threshold = bulk_threshold
        with capture_logs() as logs:
            got = read_contacts(client, scope, describe, in_list_max=in_list_max)
            members = read_memberships(client, run, wanted, in_list_max=in_list_max)
        chosen = [e for e in logs if e["event"] == "salesforce_bulk_query_chosen"]
        assert len(chosen) == bulk
        pd.testing.assert_frame_equal(_by_contact(got), _by_contact(old_contacts))
        assert members == old_members
