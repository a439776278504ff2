"""Touch model matrix, CS priority ranking, tech-touch triggers and which signals make Tasks."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from pydantic import ValidationError

from sfsync.automation.playbook import load_playbook
from sfsync.automation.touch import (
    TouchModelPolicy,
    cs_priority,
    owner_worklists,
    task_signals,
    tech_touch_triggers,
    touch_columns,
    touch_models,
)

AS_OF = date(2025, 3, 15)
POLICY = TouchModelPolicy()


@pytest.mark.parametrize(
    "segment, band, model",
    [
        ("S", "green", "high"),
        ("S", "red", "high"),  # already the highest
        ("A", "yellow", "mid"),
        ("A", "orange", "mid"),
        ("A", "red", "high"),
        ("B", "green", "low"),
        ("B", "red", "mid"),
        ("C", "yellow", "tech"),
        ("C", "orange", "tech"),
        ("C", "red", "low"),
        ("C", None, "tech"),
        (None, "red", None),
    ],
)
def test_matrix_defaults_and_step_up(segment, band, model):
    got = touch_models(pd.Series([segment]), pd.Series([band]), POLICY)
    assert got.iloc[0] == model


def test_matrix_is_configurable():
    policy = TouchModelPolicy(
        segments={"S": "high", "A": "high", "B": "tech", "C": "tech"},
        step_up_bands=["red", "orange"],
    )
    got = touch_models(
        pd.Series(["A", "B", "B", "B"]), pd.Series(["green", "yellow", "orange", "red"]), policy
    )
    assert got.tolist() == ["high", "tech", "low", "low"]


def test_playbook_validation_names_the_problem():
    with pytest.raises(ValidationError, match="missing: C"):
        TouchModelPolicy(segments={"S": "high", "A": "mid", "B": "low"})
    with pytest.raises(ValidationError, match="unknown band"):
        TouchModelPolicy(step_up_bands=["purple"])
    with pytest.raises(ValidationError):
        TouchModelPolicy(segments={"S": "highest", "A": "mid", "B": "low", "C": "tech"})


def test_the_shipped_playbook_holds_the_default_matrix():
    pb = load_playbook("mappings/playbook.yaml")
    assert pb.touch_model.segments == {"S": "high", "A": "mid", "B": "low", "C": "tech"}
    assert pb.touch_model.task_models == ["high", "mid"]


def _book(rows):
    frame = pd.DataFrame(
        rows, columns=["account_id", "owner_id", "health_band", "arr", "renewal_date"]
    )
    frame["renewal_date"] = pd.to_datetime(frame["renewal_date"])
    return frame


def _signals(rows):
    return pd.DataFrame(rows, columns=["account_id", "code", "kind", "severity"])


def test_priority_order_band_then_severity_then_arr_then_renewal_then_id():
    book = _book(
        [
            ("g-big", "o1", "green", 9e6, "2025-04-01"),
            ("red", "o1", "red", 1e5, None),
            ("y-high", "o1", "yellow", 1e5, "2026-01-01"),
            ("y-med", "o1", "yellow", 9e6, "2025-04-01"),
            ("y-none-big", "o1", "yellow", 5e6, "2026-01-01"),
            ("y-none-small-soon", "o1", "yellow", 1e6, "2025-04-01"),
            ("y-none-small-late", "o1", "yellow", 1e6, "2025-09-01"),
            ("y-none-small-past", "o1", "yellow", 1e6, "2025-01-01"),
            ("b-tie", "o1", None, None, None),
            ("a-tie", "o1", None, None, None),
        ]
    )
    signals = _signals(
        [
            ("y-high", "no_login_60d", "churn", "high"),
            ("y-med", "deliveries_drop", "churn", "medium"),
            ("y-med", "near_plan_limit", "upsell", "low"),  # upsell: not risk
            ("y-none-big", "near_plan_limit", "upsell", "low"),
        ]
    )
    rank = cs_priority(book, signals, AS_OF)
    ordered = book.assign(rank=rank).sort_values("rank")["account_id"].tolist()
    assert ordered == [
        "red",
        "y-high",
        "y-med",
        "y-none-big",
        "y-none-small-soon",
        "y-none-small-late",
        "y-none-small-past",
        "g-big",
        "a-tie",
        "b-tie",
    ]
    assert sorted(rank.tolist()) == list(range(1, 11))


def test_priority_is_per_owner_and_independent_of_row_order():
    book = _book(
        [
            ("a1", "o1", "green", 1e6, None),
            ("b1", "o2", "green", 1e6, None),
            ("a2", "o1", "red", 1e6, None),
            ("b2", "o2", "orange", 1e6, None),
            ("c1", None, "green", 1e6, None),
        ]
    )
    rank = cs_priority(book, None, AS_OF)
    assert dict(zip(book["account_id"], rank, strict=True)) == {
        "a1": 2, "b1": 2, "a2": 1, "b2": 1, "c1": 1,
    }  # fmt: skip
    shuffled = book.iloc[[4, 2, 0, 3, 1]].reset_index(drop=True)
    again = cs_priority(shuffled, None, AS_OF)
    assert dict(zip(shuffled["account_id"], again, strict=True)) == dict(
        zip(book["account_id"], rank, strict=True)
    )


def test_triggers_only_for_untasked_models_and_sorted():
    ids = pd.Series(["h", "t", "t2", "l"])
    models = pd.Series(["high", "tech", "tech", "low"])
    signals = _signals(
        [
            ("h", "tutorial_not_completed", "churn", "medium"),
            ("t", "tutorial_not_completed", "churn", "medium"),
            ("t", "email_engagement_falling", "churn", "medium"),
            ("t", "no_login_60d", "churn", "high"),  # not an engagement code
            ("l", "content_interest_rising", "upsell", "low"),
        ]
    )
    got = tech_touch_triggers(ids, models, signals, POLICY)
    assert got.tolist() == [
        None,
        "email_engagement_falling;tutorial_not_completed",
        None,
        "content_interest_rising",
    ]
    kept = task_signals(signals, ids, models, POLICY)
    assert set(zip(kept["account_id"], kept["code"], strict=True)) == {
        ("h", "tutorial_not_completed"),
        ("t", "no_login_60d"),
    }


def test_touch_columns_and_worklists():
    scores = pd.DataFrame(
        {
            "account_id": ["1", "2", "3", "4"],
            "segment": ["S", "C", "C", "B"],
            "health_band": ["green", "red", "green", "yellow"],
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": ["4", "3", "2", "1"],
            "owner_id": ["o2", "o1", "o1", "o1"],
            "arr": [1e6, 2e6, 1e5, 9e6],
            "renewal_date": pd.to_datetime([None] * 4),
        }
    )
    signals = _signals([("3", "tutorial_not_completed", "churn", "medium")])
    result = touch_columns(scores, signals, accounts, as_of=AS_OF, policy=POLICY)
    cols = result.columns
    assert cols["touch_model"].tolist() == ["high", "low", "tech", "low"]
    assert cols["cs_priority"].tolist() == [3, 1, 2, 1]
    assert cols["tech_touch_triggers"].tolist() == [None, None, "tutorial_not_completed", None]
    assert result.task_signals.empty
    lists = owner_worklists(cols, top=2)
    assert list(lists) == ["o1", "o2"]
    assert lists["o1"]["account_id"].tolist() == ["2", "3"]
    assert lists["o2"]["account_id"].tolist() == ["4"]
