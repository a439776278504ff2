"""Campaign membership end to end (issue 13, Deliver 3): the nightly job on the practice org
writes the trigger fields and adds the contacts that mappings/campaigns.yaml asks for to the
sample book's Campaigns — exactly those, once — a re-run adds nobody, and a request whose
answer was lost after the org inserted the members is sent again, meets DUPLICATE_VALUE and
still finishes the run as succeeded.

The expected members are worked out here from the org's own records (contacts, Account dates,
the fields sfsync wrote) with the shipped rules written out by hand, not with sfsync's code."""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import date, timedelta

import pandas as pd
from sfsync_sandbox.sample_data import generate

from tests.e2e.conftest import customers, run_cli, writes

AS_OF = date(2025, 3, 15)
STEP_1 = "テックタッチ: ステップメール 1日目（ようこそ）"
STEP_7 = "テックタッチ: ステップメール 7日目（動画で使い方を学ぶ）"
STEP_30 = "テックタッチ: ステップメール 30日目（初回配信の準備）"
TUTORIAL = "テックタッチ: チュートリアル完了メール"
TIPS = "テックタッチ: 月次Tipsメール 2025-03"
RELEASE = "テックタッチ: リリース案内"
RENEWAL = "テックタッチ: 更新案内（更新2ヶ月前） 2025"


def _day(value) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _two_months_before(day: date) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 - 2, 12)
    month = month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _expected(sb) -> set[tuple[str, str]]:
    """(Campaign Name, Contact Id) of every membership the shipped rules ask for on AS_OF."""
    accounts = {a["Id"]: a for a in customers(sb.admin.records("Account"), AS_OF.isoformat())}
    out = set()
    for contact in sb.admin.records("Contact"):
        account = accounts.get(contact.get("AccountId"))
        if account is None or contact.get("HasOptedOutOfEmail"):
            continue
        role = contact.get("CS_Contact_Role__c")
        start = _day(account.get("Contract_Start_Date__c"))
        age = (AS_OF - start).days if start else None
        touch = account.get("Touch_Model__c")
        campaigns = []
        if age is not None and 1 <= age <= 15:
            campaigns.append(STEP_1)
        if age is not None and 7 <= age <= 21:
            campaigns.append(STEP_7)
        if age is not None and 30 <= age <= 44 and role in ("primary", "admin"):
            campaigns.append(STEP_30)
        tutorial = _day(account.get("Tutorial_Completed_At__c"))
        if tutorial and 0 <= (AS_OF - tutorial).days <= 14 and touch in ("low", "tech"):
            campaigns.append(TUTORIAL)
        if age is not None and age >= 45 and touch in ("low", "tech"):
            campaigns.append(TIPS)
        if "content_interest_rising" in (account.get("Upsell_Signals__c") or "").split(";"):
            campaigns.append(RELEASE)
        renewal = _day(account.get("Renewal_Date__c"))
        if (
            renewal
            and _two_months_before(renewal) <= AS_OF <= renewal
            and touch in ("low", "tech")
            and role in ("primary", "decision_maker")
        ):
            campaigns.append(RENEWAL)
        out.update((name, contact["Id"]) for name in campaigns)
    return out


def _members(sb) -> list[tuple[str, str]]:
    names = {c["Id"]: c["Name"] for c in sb.admin.records("Campaign")}
    return [(names[m["CampaignId"]], m["ContactId"]) for m in sb.admin.records("CampaignMember")]


def test_the_first_run_adds_the_expected_members_and_a_rerun_adds_nobody(project, sandbox_factory):
    sb = sandbox_factory(accounts=150)
    dry = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF.isoformat(), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "CampaignMember: insert" in dry.output and "Campaign members planned" in dry.output
    assert sb.admin.records("CampaignMember") == []

    first = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF.isoformat())
    assert first.exit_code == 0, first.output
    scored = customers(sb.admin.records("Account"), AS_OF.isoformat())
    # the trigger fields: the reminder two months before the renewal, a step for every
    # started contract (4 for contracts older than the onboarding window)
    for account in scored:
        renewal = _day(account.get("Renewal_Date__c"))
        reminder = _day(account.get("Renewal_Reminder_Date__c"))
        assert reminder == (_two_months_before(renewal) if renewal else None), account["Id"]
        start = _day(account.get("Contract_Start_Date__c"))
        step = account.get("Onboarding_Step__c")
        if start is None:
            assert step is None
        elif start < AS_OF - timedelta(days=120):
            assert step == 4
        else:
            assert step in (0, 1, 2, 3, 4)
    # the tutorial date: the tenant's completion in the usage the job reads (13 months)
    usage = generate(accounts=150, seed=7, as_of=AS_OF).usage
    usage = usage[(usage["month"] >= "2024-03") & (usage["month"] <= "2025-03")]
    done = pd.to_datetime(usage["tutorial_completed_at"])
    completed = done[done <= pd.Timestamp(AS_OF)].groupby(usage["tenant_id"]).min()
    tutorials = {
        a["Id"]: _day(a.get("Tutorial_Completed_At__c")) for a in scored
    }  # fmt: skip
    expected = {
        a["Id"]: completed[a["Tenant_Id__c"]].date() if a.get("Tenant_Id__c") in completed else None
        for a in scored
    }
    assert tutorials == expected and sum(map(bool, tutorials.values())) > len(scored) / 2

    members = _members(sb)
    expected = _expected(sb)
    assert Counter(members).most_common(1)[0][1] == 1  # once per contact and Campaign
    assert set(members) == expected
    by_campaign = Counter(name for name, _ in members)
    assert all(by_campaign[name] for name in (STEP_1, TIPS, RELEASE, RENEWAL)), by_campaign
    assert {m["Status"] for m in sb.admin.records("CampaignMember")} == {"Sent"}
    assert f"campaigns    {len(members)} contacts added to Campaigns" in first.output

    sb.admin.reset_counters()
    again = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF.isoformat())
    assert again.exit_code == 0, again.output
    assert writes(sb.admin.counters()) == 0
    assert len(_members(sb)) == len(members)
    assert f"0 contacts added to Campaigns; {len(members)} already members" in again.output


def test_a_retry_after_a_lost_answer_meets_duplicate_value_and_the_run_succeeds(
    project, sandbox_factory
):
    sb = sandbox_factory(accounts=150)
    # the first insert request of Campaign members is committed, then its answer is lost: the
    # client sends it again and every member in it is already there
    sb.admin.set_faults(lose_response="POST composite/sobjects", lose_response_times=1)
    run = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF.isoformat())
    assert run.exit_code == 0, run.output
    assert sb.admin.counters()["faults"]["lose_response"] == 1
    assert "nightly as of 2025-03-15: succeeded" in run.output
    assert "failed " not in run.output
    members = _members(sb)
    assert len(set(members)) == len(members) and set(members) == _expected(sb)
    assert "became members before the write (DUPLICATE_VALUE" in run.output

    sb.admin.clear_faults()
    sb.admin.reset_counters()
    again = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF.isoformat())
    assert again.exit_code == 0, again.output
    assert writes(sb.admin.counters()) == 0 and len(_members(sb)) == len(members)
