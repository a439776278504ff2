"""Input guards (SPEC §12): a broken feed is caught, a normal month passes."""

from __future__ import annotations

import pandas as pd
import pytest

from sfsync.guards.inputs import check_inputs, input_figures

LIMITS = {"min_row_ratio": 0.5, "min_coverage_ratio": 0.5, "min_measure_ratio": 0.5}
TENANTS = [f"t{i:03d}" for i in range(100)]


def usage(months: dict[str, int], *, deliveries=1.0, login_days=3.0) -> pd.DataFrame:
    """Rows for the first ``n`` tenants of each month."""
    rows = [
        {"tenant_id": t, "month": m, "deliveries": deliveries, "login_days": login_days}
        for m, n in months.items()
        for t in TENANTS[:n]
    ]
    return pd.DataFrame(rows, columns=["tenant_id", "month", "deliveries", "login_days"])


def figures(frame: pd.DataFrame, rows: int | None = None) -> dict:
    return input_figures(
        "usage",
        len(frame) if rows is None else rows,
        frame,
        linked_tenants=TENANTS,
        scoring_month="2025-02",
        previous_month="2025-01",
    )


def checks(frame: pd.DataFrame, last: dict | None = None) -> list[str]:
    return [f.check for f in check_inputs(figures(frame), last, **LIMITS)]


def test_a_normal_month_passes_with_and_without_history():
    normal = usage({"2025-01": 90, "2025-02": 85})
    assert checks(normal) == []
    assert checks(normal, last=figures(usage({"2024-12": 88, "2025-01": 90}))) == []


def test_figures_count_linked_tenants_per_month_and_filled_measures():
    frame = usage({"2025-01": 90, "2025-02": 85})
    frame.loc[frame.index[-10:], "deliveries"] = None  # ten of February's rows
    fig = figures(frame)
    assert (fig["linked_tenants"], fig["tenants_scoring"], fig["tenants_previous"]) == (100, 85, 90)
    assert fig["filled"]["deliveries"] == [pytest.approx(75 / 85), 1.0]
    assert fig["filled"]["login_days"] == [1.0, 1.0]


def test_a_scoring_month_without_rows_is_caught_even_on_a_first_run():
    found = check_inputs(figures(usage({"2025-01": 90})), None, **LIMITS)
    assert [f.check for f in found] == ["scoring_month_missing"]
    assert "2025-02" in found[0].message and "90 of 100" in found[0].message


def test_a_header_only_file_is_caught():
    assert checks(usage({})) == ["scoring_month_missing"]


def test_coverage_collapsing_against_the_previous_month_is_caught():
    found = check_inputs(figures(usage({"2025-01": 90, "2025-02": 30})), None, **LIMITS)
    assert [f.check for f in found] == ["scoring_month_coverage"]
    assert "30 of 100" in found[0].message and "90" in found[0].message
    assert "min_coverage_ratio" in found[0].message


def test_coverage_at_the_threshold_passes():
    assert checks(usage({"2025-01": 90, "2025-02": 45})) == []
    assert checks(usage({"2025-01": 90, "2025-02": 44})) == ["scoring_month_coverage"]


def test_coverage_collapsing_against_the_last_successful_run_is_caught():
    # the feed lost its previous month as well: only the last run shows the collapse
    last = figures(usage({"2025-01": 90, "2025-02": 88}))
    found = check_inputs(figures(usage({"2025-02": 20})), last, **LIMITS)
    assert "scoring_month_coverage" in [f.check for f in found]


@pytest.mark.parametrize("measure", ["deliveries", "login_days"])
def test_a_measure_empty_in_every_row_is_caught(measure):
    frame = usage({"2025-01": 90, "2025-02": 85})
    frame.loc[frame["month"] == "2025-02", measure] = None
    found = check_inputs(figures(frame), None, **LIMITS)
    assert [f.check for f in found] == ["measure_empty"]
    assert f"{measure} is empty in every row of 2025-02" in found[0].message


def test_a_measure_never_filled_is_not_a_finding():
    frame = usage({"2025-01": 90, "2025-02": 85})
    frame["plan_usage_ratio"] = None  # the feed does not have it at all
    assert checks(frame) == []


def test_rows_collapsing_against_the_last_successful_run_are_caught():
    last = figures(usage({"2025-01": 90, "2025-02": 88}), rows=10_000)
    found = check_inputs(figures(usage({"2025-01": 90, "2025-02": 88}), rows=4_000), last, **LIMITS)
    assert [f.check for f in found] == ["rows_collapsed"]
    assert "4,000 rows read, against 10,000" in found[0].message


def test_a_source_without_tenants_is_judged_by_its_rows_only():
    last = input_figures("activities", 1000, pd.DataFrame())
    now = input_figures("activities", 100, pd.DataFrame())
    assert [f.check for f in check_inputs(now, last, **LIMITS)] == ["rows_collapsed"]
    assert check_inputs(now, None, **LIMITS) == []


def test_thresholds_are_settings():
    frame = usage({"2025-01": 90, "2025-02": 30})
    relaxed = dict(LIMITS, min_coverage_ratio=0.2)
    assert check_inputs(figures(frame), None, **relaxed) == []


@pytest.mark.parametrize("lost", ["dropped", "emptied"])
def test_a_measure_the_feed_stopped_returning_is_caught_against_the_last_run(lost):
    """A renamed column in the query (or a misspelt ``source:``) empties a measure in every
    month of tonight's data: the months agree with each other, only the last run shows it."""
    last = figures(usage({"2025-01": 90, "2025-02": 88}))
    frame = usage({"2025-01": 90, "2025-02": 85})
    if lost == "dropped":
        frame = frame.drop(columns="deliveries")
    else:
        frame["deliveries"] = None
    found = check_inputs(figures(frame), last, **LIMITS)
    assert [f.check for f in found] == ["measure_empty"]
    state = "missing from the source" if lost == "dropped" else "empty in every row"
    assert found[0].message.startswith(f"deliveries is {state} of 2025-02, against 100%")
    assert "the last successful run" in found[0].message
    assert checks(usage({"2025-01": 90, "2025-02": 85}), last) == []  # both runs filled
    assert checks(frame) == []  # a first run has nothing to compare with


def test_a_measure_emptied_within_the_data_is_reported_once():
    last = figures(usage({"2025-01": 90, "2025-02": 88}))
    frame = usage({"2025-01": 90, "2025-02": 85})
    frame.loc[frame["month"] == "2025-02", "deliveries"] = None
    found = check_inputs(figures(frame), last, **LIMITS)
    assert [f.check for f in found] == ["measure_empty"]
    assert "of 2025-01" in found[0].message  # the within-data finding, not a second one
