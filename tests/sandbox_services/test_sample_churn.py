"""Churned and at-risk customers in the sample book (sfsync_sandbox.sample_data.churn)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
from sfsync_sandbox.sample_data import CHURN_REASONS, generate

from tests.sandbox_services.conftest import AS_OF

FIELDS = (
    Path(__file__).resolve().parents[2]
    / "deploy/salesforce/force-app/main/default/objects/Account/fields"
)
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}


def churned(book) -> pd.DataFrame:
    return book.accounts[book.accounts["Churn_Date__c"].notna()]


def test_six_percent_churned_in_the_last_twelve_months_on_their_renewal_date(book):
    gone = churned(book)
    assert len(gone) == 9  # round(6 % of 150)
    as_of = pd.Timestamp(AS_OF)
    assert (gone["Churn_Date__c"] < as_of).all()
    assert (gone["Churn_Date__c"] >= as_of - pd.DateOffset(months=12)).all()
    assert (gone["Renewal_Date__c"] == gone["Churn_Date__c"]).all()
    assert (
        gone["Contract_Start_Date__c"] <= gone["Churn_Date__c"] - pd.DateOffset(months=12)
    ).all()
    arch = book.profiles.set_index("Id")["archetype"]
    assert (arch[gone["Id"]] == "churned").all() and (arch == "churned").sum() == len(gone)


def test_every_reason_is_a_value_of_the_shipped_picklist(book):
    tree = ET.parse(FIELDS / "Churn_Reason__c.field-meta.xml")
    values = [v.text for v in tree.getroot().findall(".//m:value/m:fullName", NS)]
    assert values == list(CHURN_REASONS)
    assert tree.getroot().find(".//m:restricted", NS).text == "true"
    reasons = book.accounts["Churn_Reason__c"].dropna()
    assert set(reasons) <= set(values)
    assert churned(book)["Churn_Reason__c"].notna().all()


def test_some_active_customers_stated_a_reason_and_show_a_risk(book):
    at_risk = book.accounts[
        book.accounts["Churn_Reason__c"].notna() & book.accounts["Churn_Date__c"].isna()
    ]
    assert 3 <= len(at_risk) <= 6
    arch = book.profiles.set_index("Id")["archetype"]
    assert set(arch[at_risk["Id"]]) <= {"declining", "idle", "ticket_spike", "competitor"}


def test_usage_fades_before_the_churn_and_stops_at_it(book):
    gone = churned(book).set_index("Tenant_Id__c")
    usage = book.usage[book.usage["tenant_id"].isin(gone.index)].copy()
    churn_month = usage["tenant_id"].map(gone["Churn_Date__c"]).dt.strftime("%Y-%m")
    assert (usage["month"] < churn_month).all()
    churn_day = usage["tenant_id"].map(gone["Churn_Date__c"])
    assert (usage["last_login_date"].dropna() < churn_day[usage["last_login_date"].notna()]).all()
    # the last 2 months before the churn are well below the months before the fade
    months_to_go = (
        pd.PeriodIndex(churn_month, freq="M") - pd.PeriodIndex(usage["month"], freq="M")
    ).map(lambda d: d.n)
    usage["to_go"] = list(months_to_go)
    late = usage[usage["to_go"] <= 2]["login_days"].mean()
    normal = usage[usage["to_go"] > 4]["login_days"].mean()
    assert late < 0.5 * normal


def test_no_activity_after_the_churn_and_no_open_task(book):
    gone = churned(book).set_index("Id")["Churn_Date__c"]
    for frame in (book.tasks, book.events):
        mine = frame[frame["WhatId"].isin(gone.index)]
        assert (mine["ActivityDate"] <= mine["WhatId"].map(gone)).all()
    assert (book.tasks[book.tasks["WhatId"].isin(gone.index)]["Status"] == "Completed").all()


def test_churn_is_deterministic_and_scales():
    big = generate(accounts=2_000, seed=3, as_of=AS_OF)
    share = big.accounts["Churn_Date__c"].notna().mean()
    assert share == 0.06
    again = generate(accounts=2_000, seed=3, as_of=AS_OF)
    pd.testing.assert_series_equal(big.accounts["Churn_Date__c"], again.accounts["Churn_Date__c"])
