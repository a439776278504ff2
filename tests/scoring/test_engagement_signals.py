"""The tech-touch engagement signals (seed 000): each fires on its rule, stays quiet below its
minimum volume, and is never raised without the columns it reads or without a tenant."""

from __future__ import annotations

import pandas as pd
import pytest

from sfsync.scoring import score_accounts
from sfsync.scoring.rules import Rules
from tests.scoring.builders import (
    AS_OF,
    accounts_frame,
    activities_frame,
    base_account,
    templates,
)

MONTHS = ["2024-10", "2024-11", "2024-12", "2025-01", "2025-02"]  # scoring month 2025-02


def usage(rows: list[dict]) -> pd.DataFrame:
    """Usage rows with whatever engagement columns the rows carry."""
    base = {
        "tenant_id": "T1",
        "deliveries": 3.0,
        "login_days": 6.0,
        "last_login_date": pd.Timestamp("2025-02-27"),
        "plan_usage_ratio": 0.5,
        "support_tickets": 0.0,
    }
    frame = pd.DataFrame([base | r for r in rows])
    frame["tenant_id"] = frame["tenant_id"].astype("string")
    frame["month"] = frame["month"].astype("string")
    return frame


def monthly(column: str, values: list[float], tenant: str = "T1", **extra) -> list[dict]:
    return [
        {"tenant_id": tenant, "month": m, column: float(v)} | extra
        for m, v in zip(MONTHS[-len(values) :], values, strict=True)
    ]


def signals_of(accounts: list[dict], rows: list[dict], rules: Rules | None = None):
    result = score_accounts(
        accounts_frame(accounts),
        usage(rows),
        activities_frame([]),
        as_of=AS_OF,
        scorecard=_card(),
        rules=rules,
        templates=templates(),
    )
    return result


def _card():
    from sfsync.scoring import load_scorecard

    return load_scorecard("mappings/scorecards/default.yaml")


def codes(result, account: str = "001A") -> set[str]:
    s = result.signals
    return set(s.loc[s["account_id"] == account, "code"])


# --- email_engagement_falling -----------------------------------------------------------------


def test_opens_at_half_the_previous_three_months_average_fire():
    result = signals_of([base_account()], monthly("email_opens", [20, 20, 20, 10]))
    assert "email_engagement_falling" in codes(result)
    row = result.signals[result.signals["code"] == "email_engagement_falling"].iloc[0]
    assert (row["kind"], row["severity"]) == ("churn", "medium")
    assert "email_engagement_falling" in result.scores.loc[0, "churn_signals"].split(";")


def test_opens_just_above_half_do_not_fire():
    result = signals_of([base_account()], monthly("email_opens", [20, 20, 20, 11]))
    assert "email_engagement_falling" not in codes(result)


def test_clicks_alone_fire():
    rows = [r | {"email_opens": 30.0} for r in monthly("email_clicks", [10, 10, 10, 4])]
    assert "email_engagement_falling" in codes(signals_of([base_account()], rows))


def test_tiny_volumes_do_not_fire():
    """4 opens a month falling to 1 is chance, not a trend (minimum average 5)."""
    result = signals_of([base_account()], monthly("email_opens", [4, 4, 4, 1]))
    assert "email_engagement_falling" not in codes(result)
    lowered = Rules.model_validate(
        {"signals": {"email_engagement_falling": {"min_average_opens": 3}}}
    )
    result = signals_of([base_account()], monthly("email_opens", [4, 4, 4, 1]), lowered)
    assert "email_engagement_falling" in codes(result)


def test_a_month_without_a_row_counts_as_no_opens():
    rows = monthly("email_opens", [20, 20, 20])  # 2024-11..2025-01; no 2025-02 row
    rows[0]["month"], rows[1]["month"], rows[2]["month"] = "2024-11", "2024-12", "2025-01"
    rows.append({"tenant_id": "T1", "month": "2025-02"})  # a usage row without opens
    result = signals_of([base_account()], rows)
    assert "email_engagement_falling" in codes(result)


# --- content_interest_rising ------------------------------------------------------------------


def test_views_rising_are_an_upsell_hint():
    rows = [r | {"document_views": 5.0} for r in monthly("video_views", [10, 10, 10, 25])]
    result = signals_of([base_account()], rows)
    assert "content_interest_rising" in codes(result)
    assert "content_interest_rising" in result.scores.loc[0, "upsell_signals"].split(";")


def test_views_rising_below_the_minimum_do_not_fire():
    rows = monthly("video_views", [1, 1, 1, 5])  # 5x, but 5 views
    assert "content_interest_rising" not in codes(signals_of([base_account()], rows))


def test_steady_views_do_not_fire():
    rows = monthly("video_views", [20, 20, 20, 25])
    assert "content_interest_rising" not in codes(signals_of([base_account()], rows))


# --- tutorial_not_completed -------------------------------------------------------------------


def _new(start: str, **kw) -> dict:
    return base_account(contract_start=start, **kw)


def test_tutorial_not_completed_thirty_days_after_start():
    rows = [{"month": m, "tutorial_completed": False} for m in ("2025-01", "2025-02")]
    result = signals_of([_new("2025-02-01")], rows)  # 42 days as of 2025-03-15
    assert "tutorial_not_completed" in codes(result)


@pytest.mark.parametrize(
    "start, done_at, fires",
    [
        ("2025-02-20", None, False),  # 23 days: too early
        ("2025-02-01", "2025-03-10", False),  # completed after the scoring month, before as-of
        ("2025-02-01", "2025-03-20", True),  # completed after the as-of date: not yet
        ("2023-01-01", None, False),  # an old customer: not an onboarding matter
    ],
)
def test_tutorial_window_and_completion_date(start, done_at, fires):
    rows = [
        {"tenant_id": "T1", "month": m, "tutorial_completed_at": pd.Timestamp(done_at)}
        for m in ("2025-01", "2025-02")
    ]
    result = signals_of([_new(start)], rows)
    assert ("tutorial_not_completed" in codes(result)) is fires


# --- onboarding_videos_unwatched ---------------------------------------------------------------


def test_no_video_before_the_first_delivery_fires_and_drives_step_two():
    rows = [
        {"month": "2025-01", "deliveries": 0.0, "video_views": 0.0},
        {"month": "2025-02", "deliveries": 2.0, "video_views": 0.0},
    ]
    result = signals_of([_new("2025-01-10")], rows)
    assert "onboarding_videos_unwatched" in codes(result)


def test_videos_watched_before_the_first_delivery_do_not_fire():
    rows = [
        {"month": "2025-01", "deliveries": 0.0, "video_views": 4.0},
        {"month": "2025-02", "deliveries": 2.0, "video_views": 0.0},
    ]
    assert "onboarding_videos_unwatched" not in codes(signals_of([_new("2025-01-10")], rows))


def test_videos_watched_only_after_the_first_delivery_still_fire():
    rows = [
        {"month": "2025-01", "deliveries": 2.0, "video_views": 0.0},
        {"month": "2025-02", "deliveries": 2.0, "video_views": 9.0},
    ]
    assert "onboarding_videos_unwatched" in codes(signals_of([_new("2025-01-10")], rows))


def test_videos_rule_in_the_as_of_month_needs_its_rows():
    """Started 2025-03-01, 14 days old on 2025-03-15: only a row of March (the as-of month, when
    the source has it) tells whether videos were watched; a complete month without a row is 0."""
    rows = [{"month": m, "video_views": 0.0} for m in MONTHS]
    assert "onboarding_videos_unwatched" not in codes(signals_of([_new("2025-03-01")], rows))
    march = [*rows, {"month": "2025-03", "video_views": 0.0}]
    assert "onboarding_videos_unwatched" in codes(signals_of([_new("2025-03-01")], march))
    watched = [*rows, {"month": "2025-03", "video_views": 2.0}]
    assert "onboarding_videos_unwatched" not in codes(signals_of([_new("2025-03-01")], watched))
    assert "onboarding_videos_unwatched" in codes(signals_of([_new("2025-02-28")], rows))
    other_tenant = [{"tenant_id": "T9", "month": m, "video_views": 3.0} for m in MONTHS]
    assert "onboarding_videos_unwatched" in codes(signals_of([_new("2025-02-10")], other_tenant))


def test_videos_rule_only_in_the_onboarding_window():
    rows = [{"month": m, "video_views": 0.0} for m in MONTHS]
    assert "onboarding_videos_unwatched" not in codes(signals_of([_new("2024-06-01")], rows))
    assert "onboarding_videos_unwatched" not in codes(signals_of([_new("2025-03-10")], rows))


# --- not applicable ---------------------------------------------------------------------------


def test_nothing_without_the_columns():
    """A source without engagement logs: no engagement signal, however quiet the account."""
    rows = [{"month": m} for m in MONTHS]
    result = signals_of([_new("2025-01-10")], rows)
    assert not codes(result) & {
        "email_engagement_falling",
        "content_interest_rising",
        "tutorial_not_completed",
        "onboarding_videos_unwatched",
    }


def test_nothing_when_the_columns_are_empty_on_every_row():
    rows = [
        {"month": m, "video_views": None, "email_opens": None, "tutorial_completed": None}
        for m in MONTHS
    ]
    result = signals_of([_new("2025-01-10")], rows)
    assert not codes(result) & {
        "onboarding_videos_unwatched",
        "tutorial_not_completed",
        "email_engagement_falling",
    }


def test_nothing_without_a_tenant():
    rows = monthly("email_opens", [20, 20, 20, 0]) + [
        {"tenant_id": "T1", "month": "2025-02", "video_views": 0.0, "tutorial_completed": False}
    ]
    accounts = [_new("2025-01-10"), _new("2025-01-10", account_id="002", tenant_id=None)]
    result = signals_of(accounts, rows)
    assert {"email_engagement_falling", "tutorial_not_completed"} <= codes(result, "001A")
    assert not codes(result, "002") & {
        "email_engagement_falling",
        "onboarding_videos_unwatched",
        "tutorial_not_completed",
        "content_interest_rising",
    }


def test_a_disabled_rule_is_not_raised():
    rules = Rules.model_validate({"signals": {"email_engagement_falling": {"enabled": False}}})
    result = signals_of([base_account()], monthly("email_opens", [20, 20, 20, 0]), rules)
    assert "email_engagement_falling" not in codes(result)


def test_every_account_gets_its_own_months():
    rows = monthly("email_opens", [20, 20, 20, 2], "T1") + monthly(
        "email_opens", [20, 20, 20, 20], "T2"
    )
    accounts = [base_account(), base_account(account_id="002", tenant_id="T2")]
    result = signals_of(accounts, rows)
    assert "email_engagement_falling" in codes(result, "001A")
    assert "email_engagement_falling" not in codes(result, "002")
