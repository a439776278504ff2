"""Engine features beyond the default card: weights, caps, usage-sourced extra inputs,
lookups with and without ``other``, booleans with missing values, non-integral points."""

from __future__ import annotations

import pandas as pd
import pytest

from sfsync.errors import InputDataError
from sfsync.scoring import score_accounts, scorecard_from_dict
from tests.scoring.builders import (
    AS_OF,
    accounts_frame,
    activities_frame,
    base_account,
    templates,
    usage_frame,
    usage_row,
)

BANDS = [
    {"name": "good", "min": 50, "max": 100},
    {"name": "bad", "min": 0, "max": 49},
]


def card(categories, inputs=None):
    return scorecard_from_dict(
        {"name": "t", "inputs": inputs or {}, "categories": categories, "bands": BANDS}
    )


def score(card_, accounts, usage=None):
    usage_df = usage_frame(usage or [])
    for extra in ("video_minutes",):
        if usage and extra in usage[0]:
            usage_df[extra] = [u.get(extra) for u in usage]
    return score_accounts(
        accounts_frame(accounts),
        usage_df,
        activities_frame([]),
        as_of=AS_OF,
        scorecard=card_,
        templates=templates(),
    ).scores


def test_weights_and_caps():
    c = card(
        {
            "adoption": {
                "max_points": 30,
                "cap": True,  # 2 x 20 = 40 possible, capped at 30
                "measures": {
                    "logins": {
                        "type": "bins",
                        "input": "login_days_this_month",
                        "missing": "zero",
                        "weight": 2,
                        "bins": [{"lt": 5, "points": 5}, {"ge": 5, "points": 20}],
                    }
                },
            }
        }
    )
    rows = [base_account(account_id="hi"), base_account(account_id="lo", tenant_id="T2")]
    usage = [usage_row(login_days=9), usage_row(tenant_id="T2", login_days=1)]
    scores = score(c, rows, usage).set_index("account_id")
    assert scores.loc["hi", "adoption_points"] == 30  # 40 capped to 30
    assert scores.loc["hi", "health_score"] == 100
    assert scores.loc["lo", "adoption_points"] == 10  # 2 x 5
    assert scores.loc["lo", "health_score"] == 33  # 10 / 30 = 33.3


def test_usage_sourced_extra_input_and_fractional_points():
    c = card(
        {
            "video": {
                "max_points": 7.5,
                "measures": {
                    "minutes": {
                        "type": "bins",
                        "input": "video_minutes",
                        "missing": "not_applicable",
                        "bins": [{"lt": 30, "points": 2.5}, {"ge": 30, "points": 7.5}],
                    }
                },
            },
            "flag": {
                "max_points": 2.5,
                "measures": {
                    "competitor": {
                        "type": "boolean",
                        "input": "competitor_evaluation",
                        "missing": "not_applicable",
                        "points_true": 0,
                        "points_false": 2.5,
                    }
                },
            },
        },
        inputs={"video_minutes": {"source": "usage", "kind": "number"}},
    )
    rows = [
        base_account(account_id="a"),
        base_account(account_id="b", tenant_id="T2", competitor_evaluation=None),
        base_account(account_id="c", tenant_id=None),
    ]
    usage = [
        usage_row(video_minutes=45),
        usage_row("2025-01", video_minutes=1),  # not the scoring month
        usage_row(tenant_id="T2", video_minutes=10),
    ]
    scores = score(c, rows, usage).set_index("account_id")
    assert scores.loc["a", "video_points"] == 7.5 and scores.loc["a", "health_score"] == 100
    assert scores.loc["b", "video_points"] == 2.5 and pd.isna(scores.loc["b", "flag_points"])
    assert scores.loc["b", "health_score"] == 33  # 2.5 / 7.5
    assert pd.isna(scores.loc["c", "video_points"])  # usage input, no tenant: n/a
    assert scores.loc["c", "health_score"] == 100  # only the flag applies: 2.5 / 2.5


@pytest.mark.parametrize(
    ("industry", "other", "expected"),
    [("Retail", True, 10), ("retail ", True, 10), ("Bank", True, 1), ("Bank", False, None)],
)
def test_lookup_with_and_without_other(industry, other, expected):
    measure = {
        "type": "lookup",
        "input": "industry",
        "missing": "not_applicable",
        "groups": [{"label": "fit", "points": 10, "values": ["Retail", "Apparel"]}],
    }
    if other:
        measure["other"] = {"label": "other", "points": 1}
    c = card({"market": {"max_points": 10, "measures": {"industry": measure}}})
    row = score(c, [base_account(industry=industry)]).iloc[0]
    got = None if pd.isna(row["market_points"]) else row["market_points"]
    assert got == expected


def test_declared_input_missing_from_the_data_is_a_clear_error():
    c = card(
        {
            "x": {
                "max_points": 1,
                "measures": {
                    "m": {
                        "type": "boolean",
                        "input": "onboarding_done",
                        "missing": "zero",
                        "points_true": 1,
                        "points_false": 0,
                    }
                },
            }
        },
        inputs={"onboarding_done": {"source": "accounts", "kind": "boolean"}},
    )
    with pytest.raises(InputDataError, match="accounts column 'onboarding_done'"):
        score(c, [base_account()])


def test_duplicate_account_ids_are_rejected_by_the_library(default_card):
    rows = [base_account(), base_account()]
    with pytest.raises(InputDataError, match="duplicate account_id values, e.g. 001A"):
        score_accounts(
            accounts_frame(rows),
            usage_frame([]),
            activities_frame([]),
            as_of=AS_OF,
            scorecard=default_card,
            templates=templates(),
        )


def test_signals_frame_and_explanations_shape(default_card):
    rows = [base_account(competitor_evaluation=True), base_account(account_id="002", arr=0)]
    result = score_accounts(
        accounts_frame(rows),
        usage_frame([usage_row(plan_usage_ratio=0.9), usage_row("2025-01")]),
        activities_frame([]),
        as_of=AS_OF,
        scorecard=default_card,
        templates=templates(),
    )
    assert list(result.signals.columns) == ["account_id", "code", "kind", "severity"]
    first = result.signals[result.signals["account_id"] == "001A"]
    assert first["code"].tolist() == ["competitor", "near_plan_limit"]
    assert first["kind"].tolist() == ["churn", "upsell"]
    assert first["severity"].tolist() == ["high", "low"]
    assert list(result.explanations.columns) == [
        "account_id", "category", "measure", "input_value", "bin", "points", "max_points",
        "status",
    ]  # fmt: skip
    assert len(result.explanations) == 2 * 6
    assert result.explanations["account_id"].tolist()[:6] == ["001A"] * 6
