"""Score snapshots, the signal ledger and quarantine on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from sfsync.state import (
    active_signals,
    history,
    previous_scores,
    quarantine,
    quarantine_counts,
    quarantined_rows,
    record_quarantine,
    save_snapshots,
    snapshot_dates,
    snapshots,
    start_run,
    sync_signals,
)


def scores(ids, score, band="green", usage=30.0):
    return pd.DataFrame(
        {
            "account_id": ids,
            "health_score": pd.array([score] * len(ids), dtype="Int64"),
            "health_band": band,
            "usage_points": usage,
            "engagement_points": [np.nan] + [20.0] * (len(ids) - 1),
            "segment": "A",
            "lifecycle_phase": "adoption",
            "signals": "",
            "owner_id": "005000000000001AAA",
            "explanation": "ignored extra column",
        }
    )


def test_previous_scores_gives_each_accounts_latest_snapshot_strictly_before(store):
    run = start_run(store, "nightly", date(2025, 3, 1))
    save_snapshots(store, run, "default", date(2025, 1, 1), scores(["A1", "A2"], 50, "orange"))
    save_snapshots(store, run, "default", date(2025, 2, 1), scores(["A1"], 70, "yellow", 25.0))
    save_snapshots(store, run, "default", date(2025, 3, 1), scores(["A1", "A2"], 90))
    save_snapshots(store, run, "other", date(2025, 2, 15), scores(["A1"], 10, "red"))

    prev = previous_scores(store, date(2025, 3, 1), scorecard="default")
    assert list(prev["account_id"]) == ["A1", "A2"]
    assert list(prev["health_score"]) == [70, 50]
    assert str(prev["health_score"].dtype) == "Int64"
    assert list(prev["health_band"]) == ["yellow", "orange"]
    assert list(prev["as_of"]) == [pd.Timestamp("2025-02-01"), pd.Timestamp("2025-01-01")]
    assert list(prev["usage_points"]) == [25.0, 30.0]
    assert pd.isna(prev["engagement_points"].iloc[0])
    assert "explanation" not in prev.columns

    assert previous_scores(store, date(2025, 1, 1), "default").empty
    # the (scorecard, as_of) order is accepted too
    assert list(previous_scores(store, "default", date(2025, 1, 2))["health_score"]) == [50, 50]
    assert list(previous_scores(store, date(2025, 3, 1), "other")["health_score"]) == [10]


def test_saving_the_same_day_again_replaces_the_rows(store):
    save_snapshots(store, None, "default", date(2025, 3, 1), scores(["A1", "A2"], 40, "orange"))
    save_snapshots(store, None, "default", date(2025, 3, 1), scores(["A1"], 85))
    rows = history(store, date(2025, 3, 1), date(2025, 3, 1), scorecard="default")
    assert list(zip(rows["account_id"], rows["health_score"], strict=True)) == [
        ("A1", 85),
        ("A2", 40),
    ]


def test_history_filters_by_dates_scorecard_and_accounts(store):
    for day, score in [(1, 10), (2, 20), (3, 30)]:
        save_snapshots(store, None, "default", date(2025, 3, day), scores(["A1", "A2"], score))
    rows = history(store, date(2025, 3, 2), date(2025, 3, 3), account_ids=["A2"])
    assert list(rows["health_score"]) == [20, 30]
    assert set(rows["account_id"]) == {"A2"}
    assert snapshot_dates(store, "default") == [date(2025, 3, d) for d in (1, 2, 3)]


def test_save_snapshots_needs_account_ids(store):
    with pytest.raises(ValueError, match="account_id"):
        save_snapshots(store, None, "default", date(2025, 3, 1), pd.DataFrame({"x": [1]}))


def test_large_snapshot_saves_are_chunked_and_complete(store):
    n = 12_000
    ids = [f"001{i:015d}" for i in range(n)]
    assert save_snapshots(store, None, "default", date(2025, 3, 1), scores(ids, 60)) == n
    prev = previous_scores(store, date(2025, 3, 2))
    assert len(prev) == n and prev["health_score"].eq(60).all()
    assert prev["usage_points"].eq(30.0).all() and prev["engagement_points"].isna().sum() == 1
    again = scores(ids, 75, "yellow")  # a re-run the same day replaces every row
    assert save_snapshots(store, None, "default", date(2025, 3, 1), again) == n
    prev = previous_scores(store, date(2025, 3, 2))
    assert len(prev) == n and prev["health_score"].eq(75).all()
    assert prev["health_band"].eq("yellow").all()


def signals(*rows):
    return pd.DataFrame(rows, columns=["account_id", "code", "kind", "severity"])


def keys(frame):
    return list(zip(frame["account_id"], frame["code"], strict=True))


def test_signal_ledger_new_still_active_cleared_and_reappearing(store):
    day1, day2, day3, day4 = (date(2025, 3, d) for d in (1, 2, 3, 4))
    first = sync_signals(
        store,
        day1,
        signals(("A1", "red_band", "churn", "high"), ("A2", "near_plan_limit", "upsell", None)),
    )
    assert keys(first.new) == [("A1", "red_band"), ("A2", "near_plan_limit")]
    assert first.still_active.empty and first.cleared.empty

    again = sync_signals(
        store,
        day1,
        signals(("A1", "red_band", "churn", "high"), ("A2", "near_plan_limit", "upsell", None)),
    )
    assert again.new.empty and len(again.still_active) == 2  # a re-run alerts nothing new

    second = sync_signals(store, day2, signals(("A1", "red_band", "churn", "high")))
    assert second.new.empty
    assert keys(second.still_active) == [("A1", "red_band")]
    assert list(second.still_active["first_seen"]) == [pd.Timestamp(day1)]
    assert keys(second.cleared) == [("A2", "near_plan_limit")]
    assert list(second.cleared["kind"]) == ["upsell"]

    third = sync_signals(store, day3, signals(("A2", "near_plan_limit", "upsell", "low")))
    assert keys(third.new) == [("A2", "near_plan_limit")]  # came back after clearing: new
    assert keys(third.cleared) == [("A1", "red_band")]

    active = active_signals(store)
    assert keys(active) == [("A2", "near_plan_limit")]
    assert list(active["first_seen"]) == [pd.Timestamp(day3)]

    scoped = sync_signals(store, day4, signals(), scope=["A1"])  # A2 not evaluated: kept
    assert scoped.cleared.empty
    assert keys(active_signals(store)) == [("A2", "near_plan_limit")]


def test_signal_severity_follows_the_latest_run(store):
    sync_signals(store, date(2025, 3, 1), signals(("A1", "score_drop", "churn", "medium")))
    sync_signals(store, date(2025, 3, 2), signals(("A1", "score_drop", "churn", "high")))
    assert list(active_signals(store)["severity"]) == ["high"]


def test_signals_without_kind_are_rejected(store):
    with pytest.raises(ValueError, match="kind"):
        sync_signals(store, date(2025, 3, 1), signals(("A1", "red_band", None, "high")))


def test_quarantine_records_rows_with_reasons_and_counts_per_run(store):
    run = start_run(store, "weekly-usage-import", date(2025, 3, 1))
    other = start_run(store, "weekly-usage-import", date(2025, 3, 8))
    bad = pd.DataFrame(
        {
            "tenant_id": ["t1", "t2"],
            "month": ["2025-13", "2025-02"],
            "deliveries": [1.0, np.nan],
            "reason": ["month 2025-13 is not YYYY-MM", "deliveries is empty"],
            "row_ref": ["line 2", "line 5"],
        }
    )
    assert record_quarantine(store, run, "usage.csv", bad) == 2
    assert record_quarantine(store, run, "metabase card 1", bad.drop(columns="row_ref")) == 2
    assert record_quarantine(store, other, "usage.csv", bad.iloc[:1]) == 1
    assert record_quarantine(store, run, "usage.csv", bad.iloc[:0]) == 0
    assert quarantine_counts(store, run) == {"metabase card 1": 2, "usage.csv": 2}
    assert quarantine_counts(store, other) == {"usage.csv": 1}
    rows = quarantined_rows(store, run)
    assert list(rows["row_ref"]) == ["line 2", "line 5", "0", "1"]
    assert json.loads(rows["data"].iloc[1]) == {
        "tenant_id": "t2",
        "month": "2025-02",
        "deliveries": None,
    }
    with pytest.raises(ValueError, match="reason"):
        record_quarantine(store, run, "x", bad.drop(columns="reason"))


def test_quarantine_record_takes_rows_of_several_sources(store):
    run = start_run(store, "nightly", date(2025, 3, 1))
    rows = pd.DataFrame(
        {
            "source": ["usage", "accounts", "usage"],
            "row_ref": ["row 3", "001A", "row 9"],
            "reason": ["month is not YYYY-MM", "no Id", "negative deliveries"],
        }
    )
    assert quarantine.record(store, run, rows) == 3
    assert quarantine_counts(store, run) == {"accounts": 1, "usage": 2}


def test_save_scores_is_the_same_as_save_snapshots(store):
    assert snapshots.save_scores is save_snapshots


def test_scores_on_or_before_is_the_trend_baseline(store):
    run = start_run(store, "nightly", date(2025, 3, 1))
    save_snapshots(store, run, "default", date(2025, 1, 1), scores(["A1", "A2"], 50, "orange"))
    save_snapshots(store, run, "default", date(2025, 2, 15), scores(["A1"], 70, "yellow"))
    save_snapshots(store, run, "default", date(2025, 3, 14), scores(["A1", "A2"], 90))
    base = snapshots.scores_on_or_before(store, "default", date(2025, 2, 15))  # the day counts
    assert list(base["account_id"]) == ["A1", "A2"]
    assert list(base["health_score"]) == [70, 50]
    assert snapshots.scores_on_or_before(store, "default", date(2024, 12, 31)).empty
