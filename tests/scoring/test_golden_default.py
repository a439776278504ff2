"""Golden tables: every boundary of SPEC §10 on the default scorecard.

The base account (tests/scoring/builders.py) earns 25+15 | 20+10 | 20 | 5 = 95 as of
2025-03-15; each case changes one input and checks the points it must earn.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from sfsync.scoring import score_accounts
from sfsync.scoring.engine import assign_band
from tests.scoring.builders import (
    AS_OF,
    accounts_frame,
    activities_frame,
    activity,
    base_account,
    usage_frame,
    usage_row,
    wording_kw,
)


def run(card, account=None, usage=None, acts=None, as_of=AS_OF, **kw):
    account = account or base_account()
    usage = [usage_row("2025-02"), usage_row("2025-01")] if usage is None else usage
    acts = [activity()] if acts is None else acts
    return score_accounts(
        accounts_frame([account]),
        usage_frame(usage),
        activities_frame(acts),
        as_of=as_of,
        scorecard=card,
        **wording_kw(kw),
    )


def one(card, **kw) -> pd.Series:
    return run(card, **kw).scores.iloc[0]


def test_base_account_scores_every_maximum_but_contract(default_card):
    row = one(default_card)
    assert row["health_score"] == 95
    assert row["health_band"] == "green"
    assert [row[f"{c}_points"] for c in ("usage", "engagement", "outcome", "contract")] == [
        40,
        30,
        20,
        5,
    ]
    assert pd.isna(row["missing_measures"]) and pd.isna(row["signals"])
    assert row["segment"] == "A" and row["lifecycle_phase"] == "maturity"


@pytest.mark.parametrize(("deliveries", "points"), [(0, 0), (1, 15), (2, 15), (3, 25), (9, 25)])
def test_deliveries_bins(default_card, deliveries, points):
    row = one(default_card, usage=[usage_row(deliveries=deliveries), usage_row("2025-01")])
    assert row["usage_points"] == points + 15


@pytest.mark.parametrize(("login_days", "points"), [(0, 0), (1, 8), (5, 8), (6, 15), (20, 15)])
def test_login_days_bins(default_card, login_days, points):
    row = one(default_card, usage=[usage_row(login_days=login_days), usage_row("2025-01")])
    assert row["usage_points"] == 25 + points


@pytest.mark.parametrize(
    ("touch_day", "points"),
    [("2025-02-14", 20), ("2025-02-13", 10), ("2025-01-15", 10), ("2025-01-14", 0)],
    ids=["29 days", "30 days", "59 days", "60 days"],
)
def test_days_since_last_touch(default_card, touch_day, points):
    row = one(default_card, acts=[activity(touch_day, type="call")])
    assert row["engagement_points"] == points  # a call is a touch but not a meeting


def test_no_touch_scores_zero_and_is_reported_missing(default_card):
    future = activity("2025-03-16", type="call")  # after as-of: ignored
    open_task = activity("2025-03-10", type="call", completed=False)
    row = one(default_card, acts=[future, open_task])
    assert row["engagement_points"] == 0
    assert row["health_score"] == 65  # still out of 100: missing touch scores 0, not n/a
    assert row["missing_measures"] == "last_touch"


@pytest.mark.parametrize(
    ("day", "kind", "completed", "counts"),
    [
        ("2024-12-15", "meeting", True, False),  # exactly as-of - 3 months: excluded
        ("2024-12-16", "meeting", True, True),
        ("2025-03-15", "qbr", True, True),  # on the as-of date
        ("2025-03-16", "meeting", True, False),  # after the as-of date
        ("2025-03-01", "Meeting", True, True),  # Salesforce Type casing
        ("2025-03-01", "QBR", True, True),
        ("2025-03-01", "meeting", False, False),
        ("2025-03-01", "email", True, False),
    ],
)
def test_meeting_this_quarter(default_card, day, kind, completed, counts):
    recent_call = activity("2025-03-10", type="call")
    row = one(default_card, acts=[recent_call, activity(day, type=kind, completed=completed)])
    assert row["engagement_points"] == 20 + (10 if counts else 0)


@pytest.mark.parametrize(
    ("as_of", "renewal", "points"),
    [
        (AS_OF, "2025-06-15", 10),  # exactly as-of + 3 months
        (AS_OF, "2025-06-16", 7),
        (AS_OF, "2025-09-15", 7),  # exactly as-of + 6 months
        (AS_OF, "2025-09-16", 5),
        (AS_OF, "2024-01-01", 10),  # already past
        (AS_OF, "2025-03-15", 10),  # today
        (date(2025, 1, 31), "2025-04-30", 10),  # Jan 31 + 3 months = Apr 30 (clamped)
        (date(2025, 1, 31), "2025-05-01", 7),
        (date(2023, 11, 30), "2024-02-29", 10),  # + 3 months lands on a leap day
        (date(2023, 11, 30), "2024-03-01", 7),
        (date(2024, 2, 29), "2024-08-29", 7),  # leap day + 6 months
        (date(2024, 2, 29), "2024-08-30", 5),
    ],
)
def test_days_until_renewal(default_card, as_of, renewal, points):
    row = one(default_card, account=base_account(renewal_date=renewal), as_of=as_of, usage=[])
    assert row["contract_points"] == points


def test_missing_renewal_is_not_applicable_and_renormalised(default_card):
    row = one(default_card, account=base_account(renewal_date=None))
    assert pd.isna(row["contract_points"])
    assert row["health_score"] == 100  # 90 of the 90 applicable points
    assert row["missing_measures"] == "renewal"


@pytest.mark.parametrize(
    ("industry", "rate", "points"),
    [
        ("Technology", 0.2249, 5),  # benchmark 0.25, tolerance 10 %: 0.225 .. 0.275 average
        ("Technology", 0.225, 12),
        ("Technology", 0.275, 12),
        ("Technology", 0.2751, 20),
        ("Unlisted industry", 0.18, 12),  # default 0.20: 0.18 is exactly the lower edge
        ("Unlisted industry", 0.22, 12),  # ... and 0.22 the upper edge
        ("Unlisted industry", 0.1799, 5),
        ("Unlisted industry", 0.2201, 20),
        (None, 0.30, 20),  # no industry: default benchmark
    ],
)
def test_pipeline_conversion_against_benchmark(default_card, industry, rate, points):
    row = one(
        default_card,
        account=base_account(industry=industry),
        usage=[usage_row(pipeline_conversion_rate=rate), usage_row("2025-01")],
    )
    assert row["outcome_points"] == points


def test_pipeline_conversion_not_applicable_without_rate_or_benchmark(default_card):
    no_rate = one(default_card, usage=[usage_row(pipeline_conversion_rate=None)])
    assert (
        pd.isna(no_rate["outcome_points"]) and no_rate["missing_measures"] == "pipeline_conversion"
    )
    assert no_rate["health_score"] == round(100 * 75 / 80 + 0.5 - 1e-9)  # 93.75 -> 94
    no_default = pd.DataFrame({"industry": ["Finance"], "rate": [0.2]})
    row = one(default_card, benchmarks=no_default)  # Technology unlisted, no default row
    assert pd.isna(row["outcome_points"]) and row["health_score"] == 94


@pytest.mark.parametrize(
    ("arr", "enterprise", "login_days", "segment"),
    [
        (999_999, False, 6, "B"),
        (1_000_000, False, 6, "A"),
        (4_999_999, False, 6, "A"),
        (5_000_000, False, 6, "S"),
        (10, True, 0, "S"),
        (None, False, 6, "B"),  # missing ARR counts as 0
        (0, False, 1, "C"),
        (0, False, 2, "B"),
        (999_999, False, 0, "C"),
        (1_000_000, False, 0, "A"),
    ],
)
def test_segment(default_card, arr, enterprise, login_days, segment):
    account = base_account(arr=arr, is_enterprise=enterprise)
    row = one(default_card, account=account, usage=[usage_row(login_days=login_days)])
    assert row["segment"] == segment


def test_unlinked_account_is_segmented_by_arr_alone(default_card):
    row = one(default_card, account=base_account(arr=0, tenant_id=None), usage=[])
    assert row["segment"] == "B"
    assert row["data_quality"] == "unlinked_tenant"
    assert pd.isna(row["usage_points"]) and pd.isna(row["outcome_points"])
    assert row["missing_measures"] == "deliveries;login_days;pipeline_conversion"
    assert row["health_score"] == 88  # (30 + 5) / 40 = 87.5, rounded half up


@pytest.mark.parametrize(
    ("as_of", "start", "renewal", "phase"),
    [
        (AS_OF, "2024-12-16", "2027-01-01", "onboarding"),  # 2 whole months
        (AS_OF, "2024-12-15", "2027-01-01", "adoption"),  # exactly 3 months
        (AS_OF, "2024-09-16", "2027-01-01", "adoption"),
        (AS_OF, "2024-09-15", "2027-01-01", "expansion"),  # exactly 6 months
        (AS_OF, "2024-03-16", "2027-01-01", "expansion"),
        (AS_OF, "2024-03-15", "2027-01-01", "maturity"),  # exactly 12 months
        (AS_OF, "2025-04-01", "2027-01-01", "onboarding"),  # starts in the future
        (date(2025, 2, 28), "2024-11-30", "2027-01-01", "adoption"),  # Nov 30 + 3 = Feb 28
        (date(2024, 2, 29), "2023-11-30", "2027-01-01", "adoption"),  # leap year
        (AS_OF, "2024-12-16", "2025-05-15", "renewal"),  # as-of = renewal - 2 months
        (AS_OF, "2020-01-01", "2025-05-16", "maturity"),
        (AS_OF, "2020-01-01", "2024-12-31", "renewal"),  # renewal date already past
        (date(2025, 2, 28), "2020-01-01", "2025-04-30", "renewal"),  # Apr 30 - 2 = Feb 28
        (AS_OF, None, "2025-05-15", "renewal"),
        (AS_OF, None, "2026-01-01", None),
        (AS_OF, "2020-01-01", None, "maturity"),
    ],
)
def test_lifecycle_phase(default_card, as_of, start, renewal, phase):
    account = base_account(contract_start=start, renewal_date=renewal)
    row = one(default_card, account=account, as_of=as_of)
    assert (None if pd.isna(row["lifecycle_phase"]) else row["lifecycle_phase"]) == phase
    flags = row["data_quality"] if pd.notna(row["data_quality"]) else ""
    assert ("no_contract_start" in flags) == (start is None)


@pytest.mark.parametrize(
    ("as_of", "month"),
    [(AS_OF, "2025-02"), (date(2025, 3, 1), "2025-02"), (date(2025, 1, 10), "2024-12")],
)
def test_scoring_month_is_the_last_complete_month(default_card, as_of, month):
    current = usage_row(month, deliveries=3, login_days=6)
    partial = usage_row(f"{as_of:%Y-%m}", deliveries=0, login_days=0)
    row = one(default_card, usage=[current, partial], as_of=as_of)
    assert row["usage_points"] == 40


def test_linked_tenant_without_rows_used_zero(default_card):
    row = one(default_card, usage=[])
    assert row["usage_points"] == 0
    assert pd.isna(row["missing_measures"]) or "deliveries" not in row["missing_measures"]
    assert "no_usage_rows" in row["data_quality"]
    assert "no_login_60d" in row["signals"]


def test_empty_cell_in_an_existing_row_is_missing_not_zero(default_card):
    row = one(default_card, usage=[usage_row(deliveries=None)])
    assert row["usage_points"] == 15
    assert "deliveries" in row["missing_measures"]


def signals_of(card, **kw) -> set[str]:
    value = one(card, **kw)["signals"]
    return set() if pd.isna(value) else set(value.split(";"))


@pytest.mark.parametrize(
    ("last_login", "start", "raised"),
    [
        ("2025-01-14", "2020-01-01", True),  # exactly 60 days before as-of
        ("2025-01-15", "2020-01-01", False),  # 59 days
        (None, "2020-01-01", True),  # never logged in
        (None, "2025-01-14", True),  # contract 60 days old
        (None, "2025-01-15", False),  # contract 59 days old
        (None, None, True),  # missing contract start counts as old
        ("2025-03-20", "2020-01-01", True),  # a login after as-of is ignored
    ],
)
def test_no_login_60d(default_card, last_login, start, raised):
    usage = [usage_row(last_login_date=last_login), usage_row("2025-01", last_login_date=None)]
    account = base_account(contract_start=start)
    assert ("no_login_60d" in signals_of(default_card, account=account, usage=usage)) == raised


def test_last_login_is_the_latest_across_months(default_card):
    usage = [usage_row(last_login_date=None), usage_row("2025-01", last_login_date="2025-01-20")]
    assert "no_login_60d" not in signals_of(default_card, usage=usage)


@pytest.mark.parametrize(
    ("prev", "this", "drop", "rising"),
    [
        (4, 2, True, False),
        (4, 3, False, False),
        (4, None, True, False),  # no row this month: 0 deliveries
        (0, 0, False, False),
        (2, 3, False, True),  # 3 >= 1.5 x 2 and >= 3
        (3, 4, False, False),  # 4 < 4.5
        (0, 3, False, True),
        (0, 2, False, False),
    ],
)
def test_delivery_signals(default_card, prev, this, drop, rising):
    usage = [usage_row("2025-01", deliveries=prev)]
    if this is not None:
        usage.append(usage_row("2025-02", deliveries=this))
    codes = signals_of(default_card, usage=usage)
    assert ("deliveries_drop" in codes) == drop
    assert ("deliveries_rising" in codes) == rising


@pytest.mark.parametrize(
    ("prev", "this", "raised"), [(1, 3, True), (2, 3, False), (0, 2, False), (2, 4, True)]
)
def test_tickets_rising(default_card, prev, this, raised):
    usage = [usage_row(support_tickets=this), usage_row("2025-01", support_tickets=prev)]
    assert ("tickets_rising" in signals_of(default_card, usage=usage)) == raised


@pytest.mark.parametrize(("ratio", "raised"), [(0.79, False), (0.8, True), (1.0, True)])
def test_near_plan_limit(default_card, ratio, raised):
    usage = [usage_row(plan_usage_ratio=ratio), usage_row("2025-01")]
    assert ("near_plan_limit" in signals_of(default_card, usage=usage)) == raised


def test_usage_signals_never_fire_for_unlinked_accounts(default_card):
    account = base_account(tenant_id=None, contract_start="2020-01-01")
    assert (
        signals_of(default_card, account=account, usage=[])
        & {
            "no_login_60d",
            "deliveries_drop",
            "tickets_rising",
            "near_plan_limit",
            "deliveries_rising",
        }
        == set()
    )


def test_competitor_red_band_and_kinds(default_card):
    account = base_account(competitor_evaluation=True, renewal_date=None)
    result = run(default_card, account=account, usage=[], acts=[])
    row = result.scores.iloc[0]
    assert row["health_score"] == 0 and row["health_band"] == "red"
    assert row["churn_signals"] == "competitor;no_login_60d;red_band"
    assert row["signals"] == row["churn_signals"]
    assert set(result.signals["severity"]) == {"high"}


@pytest.mark.parametrize(
    ("previous", "raised", "trend"), [(100, True, -15), (99, False, -14), (70, False, 15)]
)
def test_score_drop_and_trend(default_card, previous, raised, trend):
    prev = pd.DataFrame(
        {"account_id": ["001A", "other"], "health_score": [previous, 10], "health_band": "x"}
    )
    usage = [usage_row(deliveries=1), usage_row("2025-01", deliveries=1)]
    row = one(default_card, previous=prev, usage=usage)
    assert row["health_score"] == 85
    assert row["health_trend"] == trend
    assert ("score_drop" in signals_of(default_card, previous=prev, usage=usage)) == raised


def test_the_trend_has_its_own_baseline_and_score_drop_keeps_the_previous_score(default_card):
    prev = pd.DataFrame({"account_id": ["001A"], "health_score": [100], "health_band": "x"})
    baseline = pd.DataFrame({"account_id": ["001A"], "health_score": [80], "health_band": "x"})
    usage = [usage_row(deliveries=1), usage_row("2025-01", deliveries=1)]
    row = one(default_card, previous=prev, trend_baseline=baseline, usage=usage)
    assert row["health_trend"] == 5  # 85 against the baseline's 80
    assert "score_drop" in row["signals"]  # 85 against the previous stored 100
    row = one(default_card, previous=prev, trend_baseline=None, usage=usage)
    assert pd.isna(row["health_trend"])  # no score old enough: no trend


def test_no_previous_score_means_no_trend(default_card):
    prev = pd.DataFrame({"account_id": ["other"], "health_score": [10]})
    row = one(default_card, previous=prev)
    assert pd.isna(row["health_trend"])


def test_signals_column_is_alphabetical_churn_and_upsell(default_card):
    usage = [
        usage_row(deliveries=6, plan_usage_ratio=0.9, support_tickets=5),
        usage_row("2025-01", deliveries=2, support_tickets=1),
    ]
    row = one(default_card, account=base_account(competitor_evaluation=True), usage=usage)
    assert row["churn_signals"] == "competitor;tickets_rising"
    assert row["upsell_signals"] == "deliveries_rising;near_plan_limit"
    assert row["signals"] == "competitor;deliveries_rising;near_plan_limit;tickets_rising"


def test_band_boundaries(default_card):
    scores = np.array([100, 80, 79, 60, 59, 40, 39, 0, np.nan])
    bands = assign_band(scores, default_card)
    expected = ["green", "green", "yellow", "yellow", "orange", "orange", "red", "red", None]
    assert list(bands) == expected
