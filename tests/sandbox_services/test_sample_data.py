"""The sample book: determinism, owners and caps, phases, segments, archetypes, scale."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sfsync_sandbox import INTEGRATION_USER_ID
from sfsync_sandbox.salesforce.oauth import INTEGRATION_USERNAME
from sfsync_sandbox.sample_data import ARCHETYPES, INDUSTRY_BENCHMARKS, generate

from tests.sandbox_services.conftest import AS_OF

SCORING, PREVIOUS = "2025-02", "2025-01"
NAMED = {
    "糸谷": 8,
    "嘉生": 21,
    "津田": 30,
    "鈴木": 30,
    "高見": 25,
    "酒井": 25,
    "盛島": 8,
    "山田": 3,
}


def months_between(later: pd.Timestamp, earlier: pd.Timestamp) -> int:
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (later.day < earlier.day)


def phase_of(row: pd.Series, as_of: pd.Timestamp) -> str | None:
    """SPEC §10 phase rule, written out independently of sfsync.scoring."""
    renewal = row["Renewal_Date__c"]
    if pd.notna(renewal) and as_of >= renewal - pd.DateOffset(months=2):
        return "renewal"
    start = row["Contract_Start_Date__c"]
    if pd.isna(start):
        return None
    m = months_between(as_of, start)
    return "onboarding" if m < 3 else "adoption" if m < 6 else "expansion" if m < 12 else "maturity"


def scoring_month(book) -> pd.DataFrame:
    usage = book.usage
    cur = usage[usage["month"] == SCORING].set_index("tenant_id")
    prev = usage[usage["month"] == PREVIOUS].set_index("tenant_id")
    acc = book.accounts.set_index("Id")
    frame = pd.DataFrame(index=acc.index)
    tenant = acc["Tenant_Id__c"]
    for col in ("deliveries", "login_days", "support_tickets", "plan_usage_ratio"):
        frame[col] = tenant.map(cur[col]).fillna(0).where(tenant.notna())
        frame["prev_" + col] = tenant.map(prev[col]).fillna(0).where(tenant.notna())
    last = usage.groupby("tenant_id")["last_login_date"].max()
    frame["last_login"] = tenant.map(last)
    return frame


def segment_of(book) -> pd.Series:
    acc = book.accounts.set_index("Id")
    logins = scoring_month(book)["login_days"]
    seg = np.where(
        (acc["ARR__c"] >= 5_000_000) | acc["Enterprise__c"],
        "S",
        np.where(
            acc["ARR__c"] >= 1_000_000,
            "A",
            np.where(acc["Tenant_Id__c"].notna() & (logins < 2), "C", "B"),
        ),
    )
    return pd.Series(seg, index=acc.index)


def test_same_seed_same_book_other_seed_other_book(book):
    again = generate(accounts=150, seed=7, as_of=AS_OF)
    for name in ("users", "accounts", "tasks", "events", "usage", "profiles"):
        pd.testing.assert_frame_equal(getattr(book, name), getattr(again, name))
    other = generate(accounts=150, seed=8, as_of=AS_OF)
    assert not book.accounts["ARR__c"].equals(other.accounts["ARR__c"])


def test_other_as_of_same_book_shifted_in_time(book):
    later = generate(accounts=150, seed=7, as_of=date(2025, 6, 20))
    same = ["Id", "Name", "OwnerId", "Industry", "ARR__c", "Tenant_Id__c"]
    pd.testing.assert_frame_equal(book.accounts[same], later.accounts[same])
    assert sorted(later.usage["month"].unique())[-1] == "2025-05"


def test_owners_managers_and_caps(book):
    users = book.users.set_index("Id")
    counts = book.accounts["OwnerId"].map(users["Name"]).value_counts().to_dict()
    assert counts == NAMED
    by_name = users.reset_index().set_index("Name")
    manager = by_name["ManagerId"].map(users["Name"])
    assert pd.isna(manager["糸谷"])
    assert all(manager[n] == "糸谷" for n in ("嘉生", "盛島", "山田"))
    assert all(manager[n] == "嘉生" for n in ("津田", "鈴木", "高見", "酒井"))
    assert by_name.loc["津田", "Email"] == "tsuda@nexpro.example"
    assert book.users["Email"].is_unique and book.users["Username"].is_unique
    assert (~book.users["IsActive"]).sum() == 1
    integration = book.users[book.users["Username"] == INTEGRATION_USERNAME]
    assert integration["Id"].tolist() == [INTEGRATION_USER_ID]  # the org's own integration user


def test_ids_are_salesforce_ids(book):
    for frame, prefix in ((book.accounts, "001"), (book.users, "005"), (book.tasks, "00T")):
        assert frame["Id"].str.len().eq(18).all() and frame["Id"].str[:3].eq(prefix).all()
        assert frame["Id"].is_unique
    assert book.events["Id"].str[:3].eq("00U").all()
    assert book.tasks["WhatId"].isin(book.accounts["Id"]).all()
    assert book.events["WhatId"].isin(book.accounts["Id"]).all()


def test_every_phase_and_segment_present(book):
    as_of = pd.Timestamp(AS_OF)
    phases = book.accounts.apply(phase_of, axis=1, as_of=as_of).value_counts()
    assert set(phases.index) == {"onboarding", "adoption", "expansion", "maturity", "renewal"}
    assert phases.min() >= 5
    segments = segment_of(book).value_counts()
    assert set(segments.index) == {"S", "A", "B", "C"}
    assert segments.min() >= 10
    # generator intent matches what the SPEC rules derive
    intended = book.profiles.set_index("Id")["phase"]
    derived = book.accounts.set_index("Id").apply(phase_of, axis=1, as_of=as_of)
    assert (intended == derived)[derived.notna()].mean() > 0.97


def test_archetypes_trip_their_signals(book):
    sm = scoring_month(book)
    arch = book.profiles.set_index("Id")["archetype"]
    assert set(arch) == set(ARCHETYPES)
    as_of = pd.Timestamp(AS_OF)
    no_login = sm["last_login"].isna() | (sm["last_login"] <= as_of - pd.Timedelta(days=60))
    drop = (sm["prev_deliveries"] > 0) & (sm["deliveries"] <= 0.5 * sm["prev_deliveries"])
    tickets = (sm["support_tickets"] >= 3) & (
        sm["support_tickets"] >= 2 * sm["prev_support_tickets"]
    )
    near = sm["plan_usage_ratio"] >= 0.8
    rising = (sm["deliveries"] >= 1.5 * sm["prev_deliveries"]) & (sm["deliveries"] >= 3)
    comp = book.accounts.set_index("Id")["Competitor_Evaluation__c"]
    old = book.accounts.set_index("Id")["Contract_Start_Date__c"] <= as_of - pd.Timedelta(days=60)
    for name, signal in {
        "idle": no_login & old,
        "declining": drop,
        "ticket_spike": tickets,
        "near_limit": near,
        "rising": rising,
        "competitor": comp,
    }.items():
        members = arch[arch == name].index
        # a signal needs history: the previous month (or 60 days for idle) under contract
        starts = book.accounts.set_index("Id").loc[members, "Contract_Start_Date__c"]
        established = members[(old if name == "idle" else starts < PREVIOUS)[members]]
        assert len(established) >= 2, name
        assert signal[established].all(), name
    healthy = arch[arch == "healthy"].index
    starts = book.accounts.set_index("Id").loc[healthy, "Contract_Start_Date__c"]
    assert not (drop | tickets | near | comp)[healthy].any()
    assert not rising[healthy[(starts < PREVIOUS).to_numpy()]].any()  # new tenants do rise
    assert (no_login & old)[healthy].sum() == 0
    unlinked = arch[arch == "unlinked"].index
    assert book.accounts.set_index("Id").loc[unlinked, "Tenant_Id__c"].isna().all()


def test_usage_frame_is_canonical(book):
    usage = book.usage
    assert list(usage.columns) == [
        "tenant_id", "month", "deliveries", "login_days", "last_login_date",
        "pipeline_conversion_rate", "plan_usage_ratio", "support_tickets",
        "video_views", "document_views", "email_delivered", "email_opens", "email_clicks",
        "tutorial_completed", "tutorial_completed_at",
    ]  # fmt: skip
    months = sorted(usage["month"].unique())
    assert months[0] == "2024-02" and months[-1] == SCORING and len(months) == 13
    assert not ((usage["deliveries"] == 0) & (usage["login_days"] == 0)).any()
    assert usage[["tenant_id", "month"]].duplicated().sum() == 0
    assert usage["pipeline_conversion_rate"].between(0, 1).all()
    assert usage["plan_usage_ratio"].between(0, 1).all()
    assert (usage["last_login_date"].dropna() < pd.Timestamp(AS_OF)).all()
    assert str(usage["tutorial_completed"].dtype) == "boolean"
    assert set(book.accounts["Industry"]) <= set(INDUSTRY_BENCHMARKS)


def test_activities_give_a_spread_of_touches_and_meetings(book):
    as_of = pd.Timestamp(AS_OF)
    done_tasks = book.tasks[
        (book.tasks["Status"] == "Completed") & (book.tasks["ActivityDate"] <= as_of)
    ]
    past_events = book.events[book.events["ActivityDate"] <= as_of]
    touches = pd.concat([done_tasks[["WhatId", "ActivityDate", "Type"]], past_events])
    last = touches.groupby("WhatId")["ActivityDate"].max()
    days = (as_of - last.reindex(book.accounts["Id"])).dt.days
    bins = pd.cut(days, [-1, 29, 59, 10_000], labels=["<30", "30-59", ">=60"])
    counts = bins.value_counts()
    assert (counts >= 8).all(), counts
    assert days.isna().sum() >= 3  # never touched
    meetings = touches[
        touches["Type"].isin(["Meeting", "QBR"])
        & (touches["ActivityDate"] > as_of - pd.DateOffset(months=3))
    ]
    share = book.accounts["Id"].isin(meetings["WhatId"]).mean()
    assert 0.2 < share < 0.8
    assert (book.tasks["Status"] != "Completed").sum() > 10  # open tasks due later
    assert (book.tasks.loc[book.tasks["Status"] != "Completed", "ActivityDate"] > as_of).all()


def test_names_are_mostly_japanese_and_some_hostile(book):
    names = book.accounts["Name"]
    assert names.str.contains("株式会社").mean() > 0.8
    assert names.str.contains("'").any() and names.str.contains('"').any()
    assert names.str.contains("\\\\", regex=True).any()


def test_smaller_book_keeps_proportions():
    small = generate(accounts=40, seed=1, as_of=AS_OF)
    assert small.accounts["OwnerId"].value_counts().max() <= 30
    assert len(small.accounts) == 40


@pytest.mark.parametrize("bad", [0, -5])
def test_rejects_empty_book(bad):
    with pytest.raises(ValueError, match="accounts"):
        generate(accounts=bad, as_of=AS_OF)


def test_hundred_thousand_accounts():
    big = generate(accounts=100_000, seed=7, as_of=date(2025, 3, 15))
    assert len(big.accounts) == 100_000 and big.accounts["Id"].is_unique
    per_owner = big.accounts["OwnerId"].value_counts()
    assert per_owner.max() <= 30
    assert len(per_owner) > 3_000
    owners = big.users.set_index("Id")
    assert owners.loc[per_owner.index, "IsActive"].all()
    assert big.usage["tenant_id"].nunique() > 90_000
    assert len(big.usage) > 900_000
    shares = big.profiles["archetype"].value_counts(normalize=True)
    assert 0.03 < shares["idle"] < 0.1 and 0.3 < shares["healthy"] < 0.55


def test_vectorised_ids_match_make_id():
    from sfsync_sandbox.ids import make_id
    from sfsync_sandbox.sample_data import make_ids

    ids = make_ids("Task", 250_000)
    for number in (1, 61, 62, 63, 3_843, 3_844, 99_999, 238_327, 250_000):
        assert ids[number - 1] == make_id("Task", number)
