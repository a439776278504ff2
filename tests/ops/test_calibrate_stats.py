"""Calibration statistics on synthetic histories with a planted predictive measure."""

import numpy as np
import pandas as pd
import pytest

from sfsync.ops.calibrate_stats import auc_retained_above_churned, churn_by_band, suggest_points


def _history(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    churned = rng.random(n) < 0.3
    # "logins" truly predicts churn: churned accounts mostly score 0, retained mostly 15.
    logins = np.where(churned, rng.choice([0, 8], n, p=[0.8, 0.2]), rng.choice([8, 15], n))
    # "tickets" is noise: independent of churn.
    tickets = rng.choice([0, 10, 20], n)
    score = logins + tickets
    band = np.select([score >= 30, score >= 20, score >= 10], ["green", "yellow", "orange"], "red")
    return pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "churned": churned,
            "health_score": score,
            "health_band": band,
            "logins": logins,
            "tickets": tickets,
        }
    )


def test_auc_is_one_for_perfect_separation_and_half_for_ties():
    churned = pd.Series([True, True, False, False])
    assert auc_retained_above_churned(pd.Series([0, 1, 2, 3]), churned) == 1.0
    assert auc_retained_above_churned(pd.Series([3, 2, 1, 0]), churned) == 0.0
    assert auc_retained_above_churned(pd.Series([5, 5, 5, 5]), churned) == 0.5


def test_auc_is_undefined_without_both_classes():
    assert auc_retained_above_churned(pd.Series([1, 2]), pd.Series([False, False])) is None


def test_suggestion_moves_points_to_the_predictive_measure():
    history = _history(2000)
    rows = {r.measure: r for r in suggest_points(history, {"logins": 15, "tickets": 20})}
    assert rows["logins"].auc > 0.8
    assert abs(rows["tickets"].auc - 0.5) < 0.05
    assert rows["logins"].suggested_max > 15
    assert rows["tickets"].suggested_max < 20
    assert rows["logins"].suggested_max + rows["tickets"].suggested_max == 35


def test_small_samples_barely_move_the_points():
    history = _history(12, seed=3)
    rows = {r.measure: r for r in suggest_points(history, {"logins": 15, "tickets": 20})}
    assert abs(rows["logins"].suggested_max - 15) <= 4
    assert rows["logins"].n_accounts == 12


def test_churn_rate_per_band_keeps_counts():
    frame = pd.DataFrame(
        {
            "health_band": ["green", "green", "red", "red", "red"],
            "churned": [False, False, True, True, False],
        }
    )
    table = churn_by_band(frame).set_index("health_band")
    assert table.loc["red", "accounts"] == 3
    assert table.loc["red", "churned"] == 2
    assert table.loc["red", "churn_rate"] == pytest.approx(2 / 3)
    assert table.loc["yellow", "accounts"] == 0
