"""Proposed bin edges on small frames whose answer can be worked out by hand: quantile edges,
neighbours merged until the churn rate falls at every edge, points by churn rate."""

from __future__ import annotations

import pandas as pd
import pytest

from sfsync.ops.calibrate_bins import measure_bins, nice, propose_bins, quantile_edges
from sfsync.scoring import scorecard_from_dict

VALUES = pd.Series(range(30), dtype="float64")  # terciles: 0-9, 10-19, 20-29


def _churned(flags) -> pd.Series:
    return pd.Series(list(flags), dtype="bool")


def _shape(bins):
    return [(b.lower, b.upper, b.accounts, b.churned, b.points) for b in bins]


def test_a_clean_split_keeps_the_one_edge_that_separates():
    # everyone below 10 churned: terciles 100 % / 0 % / 0 %; the two upper bins churn alike,
    # so their edge (20) separates nothing and goes
    churned = _churned(v < 10 for v in range(30))
    bins = propose_bins(VALUES, churned, max_points=10, higher_is_better=True)
    assert _shape(bins) == [(None, 10, 10, 10, 0), (10, None, 20, 0, 10)]


def test_lower_is_better_gives_the_points_to_the_low_values():
    churned = _churned(v >= 20 for v in range(30))
    bins = propose_bins(VALUES, churned, max_points=8, higher_is_better=False)
    assert _shape(bins) == [(None, 20, 20, 0, 8), (20, None, 10, 10, 0)]


def test_points_follow_the_churn_rates():
    # terciles churn 10/10, 5/10 and 0/10: 0, half of the maximum, the maximum
    churned = _churned(v < 10 or 10 <= v < 15 for v in range(30))
    bins = propose_bins(VALUES, churned, max_points=10, higher_is_better=True)
    assert _shape(bins) == [(None, 10, 10, 10, 0), (10, 20, 10, 5, 5), (20, None, 10, 0, 10)]


def test_neighbours_out_of_order_are_merged():
    # terciles churn 5/10, 8/10, 0/10: the middle churns more than the lowest, so the first two
    # merge (13 of 20 = 65 %) and only the edge at 20 is left
    churned = _churned(v < 5 or 10 <= v < 18 for v in range(30))
    bins = propose_bins(VALUES, churned, max_points=10, higher_is_better=True)
    assert _shape(bins) == [(None, 20, 20, 13, 0), (20, None, 10, 0, 10)]


def test_no_proposal_when_no_edge_separates():
    churned = _churned(v % 5 == 0 for v in range(30))  # 2 of 10 churned in every tercile
    assert propose_bins(VALUES, churned, max_points=10, higher_is_better=True) is None
    constant = pd.Series([4.0] * 30)
    assert propose_bins(constant, churned, max_points=10, higher_is_better=True) is None


def test_missing_values_are_left_out():
    values = pd.concat([VALUES, pd.Series([float("nan")] * 5)], ignore_index=True)
    churned = _churned([v < 10 for v in range(30)] + [True] * 5)
    bins = propose_bins(values, churned, max_points=10, higher_is_better=True)
    assert sum(b.accounts for b in bins) == 30 and sum(b.churned for b in bins) == 10


def test_many_equal_values_and_readable_edges():
    # 20 zeros and 1..10: the lower tercile edge is 0 (no bin below the smallest value), the
    # upper one the value at two thirds, 1
    values = pd.Series([0.0] * 20 + [float(v) for v in range(1, 11)])
    assert quantile_edges(values, 3) == [1.0]
    assert nice(0.41378) == 0.41 and nice(0.041378) == 0.041 and nice(1234.5) == 1200
    assert nice(7.0) == 7.0 and nice(0.0) == 0.0
    rates = pd.Series([0.10 + 0.01 * v for v in range(30)])  # 0.1 .. 0.39: edges 0.2, 0.3
    assert quantile_edges(rates, 3) == [pytest.approx(0.2), pytest.approx(0.3)]


def test_a_small_bin_is_merged_into_its_smaller_neighbour():
    # 8 + 4 + 18 accounts at values 0, 1, 2: tercile edges 1 and 2; a bin needs 5 accounts
    # (10 % of 30 is fewer), so the 4 at value 1 merge into the smaller neighbour, value 0's
    values = pd.Series([0.0] * 8 + [1.0] * 4 + [2.0] * 18)
    churned = _churned([True] * 8 + [False] * 4 + [False] * 18)
    bins = propose_bins(values, churned, max_points=10, higher_is_better=True)
    assert _shape(bins) == [(None, 2, 12, 8, 0), (2, None, 18, 0, 10)]


def test_measure_bins_keep_each_measures_count_and_maximum():
    card = scorecard_from_dict({
        "name": "t",
        "categories": {"usage": {"max_points": 25, "measures": {
            "deliveries": {"type": "bins", "input": "deliveries_this_month", "missing": "zero",
                           "bins": [{"lt": 1, "points": 0}, {"ge": 1, "lt": 3, "points": 10},
                                    {"ge": 3, "points": 25}]},
            "meeting": {"type": "boolean", "input": "meeting_this_quarter", "missing": "zero",
                        "points_true": 0, "points_false": 0}}}},
        "bands": [{"name": "green", "min": 0, "max": 100}],
    })  # fmt: skip
    values = pd.DataFrame({"deliveries_this_month": VALUES})
    churned = _churned(v < 10 or 10 <= v < 15 for v in range(30))
    proposals, none = measure_bins(card, values, churned)
    assert none == [] and [p.measure for p in proposals] == ["deliveries"]
    assert _shape(proposals[0].bins)[-1] == (20, None, 10, 0, 25)  # the measure's maximum
    assert len(proposals[0].bins) == 3 and proposals[0].category == "usage"
