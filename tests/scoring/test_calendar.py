"""Month arithmetic of SPEC §10: clamped month addition, scoring month, whole months."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfsync.calendar import (
    calendar_months_until,
    latest_shifted_on_or_before,
    month_text,
    previous_month,
    scoring_month,
    shift_months_clamped,
    shift_months_clamped_array,
    whole_months_between,
)

D = date


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2025, 1, 31), 1, D(2025, 2, 28)),  # Jan 31 + 1 month, common year
        (D(2024, 1, 31), 1, D(2024, 2, 29)),  # leap year
        (D(2024, 2, 29), 12, D(2025, 2, 28)),
        (D(2024, 2, 29), 48, D(2028, 2, 29)),
        (D(2024, 3, 31), -1, D(2024, 2, 29)),
        (D(2025, 5, 31), -3, D(2025, 2, 28)),
        (D(2025, 12, 15), 1, D(2026, 1, 15)),
        (D(2025, 1, 15), -1, D(2024, 12, 15)),
        (D(2025, 8, 31), 1, D(2025, 9, 30)),
    ],
)
def test_shift_months_clamped_clamps_the_day(day, months, expected):
    assert shift_months_clamped(day, months) == expected
    array = shift_months_clamped_array(np.array([day], dtype="datetime64[D]"), months)
    assert array[0].astype(date) == expected


@pytest.mark.parametrize(
    ("as_of", "month", "previous"),
    [
        (D(2025, 3, 15), "2025-02", "2025-01"),
        (D(2025, 3, 1), "2025-02", "2025-01"),
        (D(2025, 3, 31), "2025-02", "2025-01"),
        (D(2025, 1, 1), "2024-12", "2024-11"),
        (D(2024, 3, 1), "2024-02", "2024-01"),
    ],
)
def test_scoring_month_is_the_last_complete_month(as_of, month, previous):
    assert month_text(scoring_month(as_of)) == month
    assert previous_month(month) == previous


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (D(2024, 12, 15), D(2025, 3, 15), 3),
        (D(2024, 12, 16), D(2025, 3, 15), 2),
        (D(2024, 11, 30), D(2025, 2, 28), 3),  # Nov 30 + 3 months = Feb 28
        (D(2024, 1, 31), D(2024, 2, 29), 1),
        (D(2024, 1, 31), D(2024, 2, 28), 0),
        (D(2025, 3, 15), D(2025, 3, 15), 0),
        (D(2025, 3, 16), D(2025, 3, 15), -1),
    ],
)
def test_whole_months_between(start, end, months):
    got = whole_months_between(np.array([start], dtype="datetime64[D]"), end)
    assert got[0] == months


def test_calendar_months_until_is_exact_at_whole_months():
    as_of = D(2025, 1, 31)
    targets = np.array(
        ["2025-04-30", "2025-05-01", "2025-07-31", "2025-08-01", "2024-12-31", "NaT"],
        dtype="datetime64[D]",
    )
    got = calendar_months_until(as_of, targets)
    assert got[0] == 3 and got[1] > 3 and got[2] == 6 and got[3] > 6
    assert got[4] == -1 and np.isnan(got[5])


@given(
    st.dates(min_value=D(1990, 1, 1), max_value=D(2060, 12, 31)),
    st.lists(st.dates(min_value=D(1900, 1, 1), max_value=D(2200, 12, 31)), max_size=20),
)
def test_calendar_months_until_brackets_each_target_between_whole_month_shifts(as_of, days):
    """value = m + f with as_of + m months <= target < as_of + (m + 1) months, f in [0, 1)."""
    got = calendar_months_until(as_of, np.array(days, dtype="datetime64[D]"))
    for target, value in zip(days, got, strict=True):
        m = int(np.floor(value))
        assert shift_months_clamped(as_of, m) <= target < shift_months_clamped(as_of, m + 1)
        low, high = shift_months_clamped(as_of, m), shift_months_clamped(as_of, m + 1)
        assert value - m == pytest.approx((target - low).days / (high - low).days)


@given(
    st.dates(min_value=D(1990, 1, 1), max_value=D(2060, 12, 31)),
    st.integers(0, 14),
    st.lists(st.integers(-40, 500), min_size=1, max_size=20),
)
def test_a_month_shift_threshold_is_one_date_comparison(as_of, months, offsets):
    """The renewal window rule compares renewal dates with one precomputed day."""
    last = latest_shifted_on_or_before(as_of, months)
    for days in offsets:
        day = as_of + timedelta(days=days)
        assert (shift_months_clamped(day, -months) <= as_of) == (day <= last)


@pytest.mark.parametrize(
    ("as_of", "months", "last"),
    [
        (D(2025, 2, 28), 1, D(2025, 3, 31)),  # Mar 29-31 minus a month clamp to Feb 28
        (D(2024, 2, 29), 1, D(2024, 3, 31)),  # leap year
        (D(2024, 2, 28), 1, D(2024, 3, 28)),  # Mar 29 - 1 month = Feb 29 > Feb 28
        (D(2025, 4, 30), 2, D(2025, 6, 30)),
        (D(2025, 3, 15), 2, D(2025, 5, 15)),
        (D(2025, 3, 15), 0, D(2025, 3, 15)),
    ],
)
def test_the_month_shift_threshold_covers_clamped_month_ends(as_of, months, last):
    assert latest_shifted_on_or_before(as_of, months) == last
