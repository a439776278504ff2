"""The sample book's engagement logs tell seed 000's story: engagement fades before churn,
new accounts at risk leave the onboarding videos and the tutorial untouched, and interest
rises for some healthy accounts. Deterministic by seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sfsync_sandbox.sample_data import generate

from tests.sandbox_services.conftest import AS_OF

SCORING, PREVIOUS3 = "2025-02", ["2024-11", "2024-12", "2025-01"]


@pytest.fixture(scope="module")
def usage(book) -> pd.DataFrame:
    accounts = book.accounts.set_index("Id")
    archetype = book.profiles.set_index("Id")["archetype"].reindex(accounts.index)
    by_tenant = pd.DataFrame(
        {
            "archetype": archetype.to_numpy(),
            "churn": accounts["Churn_Date__c"].to_numpy(),
            "start": accounts["Contract_Start_Date__c"].to_numpy(),
        },  # fmt: skip
        index=accounts["Tenant_Id__c"].to_numpy(),
    )
    frame = book.usage.join(by_tenant, on="tenant_id")
    churn_month = frame["churn"].dt.to_period("M")
    months = pd.PeriodIndex(frame["month"], freq="M")
    frame["to_go"] = [
        (c - m).n if pd.notna(c) else np.nan for c, m in zip(churn_month, months, strict=True)
    ]
    return frame


def _scoring_vs_previous(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    before = frame[frame["month"].isin(PREVIOUS3)].groupby("tenant_id")[column].mean()
    now = frame[frame["month"] == SCORING].set_index("tenant_id")[column]
    return pd.concat([before, now], axis=1, keys=["before", "now"]).dropna()


def test_mail_engagement_fades_over_the_three_months_before_churn(usage):
    churned = usage[usage["archetype"] == "churned"]
    by_months_left = churned.groupby("to_go")[["email_opens", "email_clicks"]].sum()
    per_tenant_month = churned.groupby("to_go")["tenant_id"].nunique()
    opens = by_months_left["email_opens"] / per_tenant_month
    usual = opens.loc[4:12].mean()
    assert opens.loc[3] < 0.8 * usual and opens.loc[2] < 0.5 * usual and opens.loc[1] < 0.3 * usual
    assert opens.loc[1] < opens.loc[2] < opens.loc[3]
    clicks = by_months_left["email_clicks"] / per_tenant_month
    assert clicks.loc[1] < 0.3 * clicks.loc[4:12].mean()
    views = churned.groupby("to_go")["video_views"].mean()
    assert views.loc[1] < 0.3 * views.loc[4:12].mean()


def test_churned_accounts_mostly_never_completed_the_tutorial(usage):
    last = usage.sort_values("month").groupby("tenant_id").tail(1)
    completed = last.groupby("archetype")["tutorial_completed"].mean()
    assert completed["churned"] < 0.5 and completed["healthy"] > 0.9
    dates = usage.dropna(subset=["tutorial_completed_at"])
    assert (dates["tutorial_completed_at"] < pd.Timestamp(AS_OF)).all()
    month_end = pd.PeriodIndex(dates["month"], freq="M").end_time
    assert (dates["tutorial_completed"] == (dates["tutorial_completed_at"] <= month_end)).all()


def test_declining_accounts_open_at_most_half_as_often_as_before(usage):
    declining = _scoring_vs_previous(usage[usage["archetype"] == "declining"], "email_opens")
    assert len(declining) >= 5
    assert (declining["now"] <= declining["before"] / 2).mean() >= 0.7


def test_new_accounts_at_risk_leave_videos_and_tutorial_untouched(usage):
    first = usage.groupby("tenant_id")["month"].transform("min")
    new = usage[first >= "2024-12"]  # first row within the last three months
    risky = new[new["archetype"].isin(["low_usage", "declining", "idle", "ticket_spike"])]
    steady = new[new["archetype"].isin(["healthy", "rising", "near_limit"])]
    assert len(risky) and len(steady)
    assert (risky["video_views"] == 0).all() and not risky["tutorial_completed"].any()
    assert (steady["video_views"] > 0).mean() > 0.9


def test_content_interest_rises_for_some_healthy_accounts(usage):
    rising = {}
    for name in ("healthy", "rising"):
        views = _scoring_vs_previous(usage[usage["archetype"] == name], "video_views")
        rising[name] = int((views["now"] >= 1.5 * views["before"]).sum())
    assert rising["healthy"] >= 5 and rising["rising"] >= 5


def test_engagement_is_deterministic_and_plausible(book):
    again = generate(accounts=150, seed=7, as_of=AS_OF)
    pd.testing.assert_frame_equal(book.usage, again.usage)
    pd.testing.assert_frame_equal(book.content_log(), again.content_log())
    counts = book.usage[["video_views", "document_views", "email_delivered", "email_opens",
                         "email_clicks"]]  # fmt: skip
    assert (counts >= 0).all().all() and counts.notna().all().all()
    assert (book.usage["email_opens"] <= book.usage["email_delivered"]).all()
    assert (book.usage["email_clicks"] <= book.usage["email_opens"]).all()
