"""sfsync/calendar.py: the two kinds of month arithmetic, the scoring month, quarters and the
signal Task key built from them (key strings unchanged: ``signal:<code>:<account>:<YYYY-MM>``)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from sfsync.calendar import (
    add_months,
    fiscal_quarter,
    month_start,
    month_text,
    parse_month,
    previous_month,
    scoring_month,
    shift_month_text,
    shift_months_clamped,
)
from sfsync.jobs import run_parameters
from sfsync.salesforce.tasks import signal_task_key

days = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
shifts = st.integers(min_value=-600, max_value=600)


@given(days, shifts)
def test_add_months_is_the_month_of_the_clamped_shift(day, n):
    assert add_months(day, n) == month_start(shift_months_clamped(day, n))
    assert add_months(day, n).day == 1


@given(days, shifts, shifts)
def test_add_months_composes(day, a, b):
    assert add_months(add_months(day, a), b) == add_months(day, a + b)


@given(days, shifts)
def test_shift_months_clamped_keeps_the_day_or_clamps_to_month_end(day, n):
    shifted = shift_months_clamped(day, n)
    assert month_start(shifted) == add_months(day, n)
    if shifted.day != day.day:
        assert shifted.day < day.day and (shifted + timedelta(days=1)).day == 1


@given(days)
def test_scoring_month_is_the_month_before_the_as_of_month(as_of):
    month = scoring_month(as_of)
    assert month.day == 1
    assert add_months(month, 1) == month_start(as_of)
    # the Task key month of before this refactor: the day before the 1st of the as-of month
    old = (as_of.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert month_text(month) == old


@given(days, st.sampled_from(["no_login_60d", "red_band"]))
def test_signal_task_key_is_unchanged(as_of, code):
    expected_month = (as_of.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert signal_task_key(code, "001A", as_of) == f"signal:{code}:001A:{expected_month}"


def test_examples_of_spec_section_10():
    assert month_text(scoring_month(date(2025, 3, 15))) == "2025-02"
    assert month_text(scoring_month(date(2025, 3, 1))) == "2025-02"
    assert month_text(scoring_month(date(2025, 1, 10))) == "2024-12"
    assert shift_months_clamped(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 1)
    assert previous_month("2025-01") == "2024-12"
    assert shift_month_text("2024-11", 3) == "2025-02"
    assert parse_month("2025-02") == date(2025, 2, 1)


def test_run_parameters_use_the_scoring_month():
    assert run_parameters(date(2025, 3, 15), 3) == {
        "as_of": "2025-03-15",
        "scoring_month": "2025-02",
        "previous_month": "2025-01",
        "from_month": "2024-12",
        "to_month": "2025-02",
        "as_of_month": "2025-03",
    }


def _fiscal_quarter_before(as_of: date, fiscal_year_start_month: int) -> tuple[str, date, date]:
    """The pandas implementation fiscal_quarter replaced (automation/followups.py)."""
    offset = (as_of.month - fiscal_year_start_month) % 12
    start = pd.Timestamp(as_of.year, as_of.month, 1) - pd.DateOffset(months=offset % 3)
    fy = start.year if start.month >= fiscal_year_start_month else start.year - 1
    end = start + pd.DateOffset(months=3) - pd.Timedelta(days=1)
    return f"{fy}Q{offset // 3 + 1}", start.date(), end.date()


@given(st.dates(min_value=date(1700, 1, 1), max_value=date(2200, 12, 31)), st.integers(1, 12))
def test_fiscal_quarter_contains_the_day_and_matches_the_old_implementation(as_of, start_month):
    label, first, last = fiscal_quarter(as_of, start_month)
    assert first <= as_of <= last
    assert first.day == 1 and add_months(first, 3) == last + timedelta(days=1)
    assert (label, first, last) == _fiscal_quarter_before(as_of, start_month)
