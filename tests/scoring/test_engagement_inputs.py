"""The engagement logs as built-in measure inputs (seed 000): scoring-month document views and
mails delivered, open and click rates (opens or clicks per delivered mail), and the days from
contract start to tutorial completion — each checked against figures worked out by hand."""

from __future__ import annotations

import math

import pandas as pd

from sfsync.scoring.features import FEATURES, build_features
from sfsync.sources.engagement import derive_tutorial_completed
from tests.scoring.builders import (
    AS_OF,
    accounts_frame,
    activities_frame,
    base_account,
    usage_frame,
    usage_row,
)


def _features(accounts, rows, extra):
    usage = usage_frame(rows)
    for column in extra:
        usage[column] = [r.get(column) for r in rows]
    usage = derive_tutorial_completed(usage)
    return build_features(accounts_frame(accounts), usage, activities_frame([]), as_of=AS_OF).frame


def test_engagement_inputs_of_the_scoring_month():
    accounts = [
        base_account(account_id="001A", tenant_id="T1", contract_start="2024-12-01"),
        base_account(account_id="001B", tenant_id="T2", contract_start="2024-11-01"),
        base_account(account_id="001C", tenant_id=None),
    ]
    rows = [
        # T1: scoring month 2025-02 split over two rows (counts add up), January ignored
        usage_row("2025-02", tenant_id="T1", email_delivered=12.0, email_opens=4.0,
                  email_clicks=1.0, document_views=2.0, tutorial_completed_at="2024-12-11"),
        usage_row("2025-02", tenant_id="T1", email_delivered=8.0, email_opens=1.0,
                  email_clicks=1.0, document_views=1.0, tutorial_completed_at="2024-12-11"),
        usage_row("2025-01", tenant_id="T1", email_delivered=50.0, email_opens=50.0,
                  email_clicks=50.0, document_views=9.0, tutorial_completed_at="2024-12-11"),
        # T2: no mail delivered (no rate), tutorial completed after the as-of date (not yet)
        usage_row("2025-02", tenant_id="T2", email_delivered=0.0, email_opens=0.0,
                  email_clicks=0.0, document_views=0.0, tutorial_completed_at="2025-03-20"),
    ]  # fmt: skip
    extra = ("email_delivered", "email_opens", "email_clicks", "document_views",
             "tutorial_completed_at")  # fmt: skip
    f = _features(accounts, rows, extra).set_index(pd.Index(["001A", "001B", "001C"]))
    assert f.loc["001A", "email_delivered_this_month"] == 20
    assert f.loc["001A", "document_views_this_month"] == 3
    assert f.loc["001A", "email_open_rate_this_month"] == 5 / 20
    assert f.loc["001A", "email_click_rate_this_month"] == 2 / 20
    assert f.loc["001A", "days_to_tutorial"] == 10  # 2024-12-01 -> 2024-12-11
    assert f.loc["001B", "email_delivered_this_month"] == 0
    assert math.isnan(f.loc["001B", "email_open_rate_this_month"])  # 0 / 0: no rate
    assert math.isnan(f.loc["001B", "days_to_tutorial"])  # not completed by the as-of date
    for column in ("email_open_rate_this_month", "days_to_tutorial", "document_views_this_month"):
        assert math.isnan(f.loc["001C", column])  # no tenant: not applicable


def test_the_engagement_inputs_are_built_in_usage_inputs():
    for name in (
        "document_views_this_month",
        "email_delivered_this_month",
        "email_open_rate_this_month",
        "email_click_rate_this_month",
        "days_to_tutorial",
    ):
        assert FEATURES[name].usage and FEATURES[name].kind == "number"  # fmt: skip
