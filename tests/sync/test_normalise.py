"""Normalisation: values that Salesforce considers equal compare equal."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from sfsync.salesforce.mapping import FieldMapping
from sfsync.salesforce.normalise import ValueProblem, normalise, same

TOKYO = ZoneInfo("Asia/Tokyo")


def spec(type_, **kw):
    return FieldMapping(field="X__c", type=type_, **kw)


def equal(type_, desired, current, **kw):
    s = spec(type_, **kw)
    new = normalise(desired, s, TOKYO, desired=True)
    old = normalise(current, s, TOKYO, desired=False)
    return same(old, new, s)


@pytest.mark.parametrize(
    "type_, desired, current",
    [
        ("double", 72, 72.0),
        ("double", pd.array([72], dtype="Int64")[0], "72"),
        ("int", 72.0, 72),
        ("currency", 1_000_000, 1e6),
        ("date", "2025-03-15", date(2025, 3, 15)),
        ("date", pd.Timestamp("2025-03-15"), "2025/03/15"),
        ("date", "2025-03-15T00:00:00+09:00", "2025-03-15"),
        # 2025-03-14T15:00Z is 2025-03-15 in Tokyo: the org's time zone decides the date
        ("date", "2025-03-14T15:00:00.000+0000", "2025-03-15"),
        ("datetime", datetime(2025, 3, 15, 9, 0), "2025-03-15T00:00:00.000+0000"),
        ("datetime", "2025-03-15T09:00:00+09:00", "2025-03-15T00:00:00Z"),
        ("picklist", "green", "Green"),
        ("multipicklist", "red_band;competitor", "Competitor;RED_BAND"),
        ("multipicklist", ["score_drop", "red_band"], "red_band;score_drop;"),
        ("string", "abc", "abc"),
        ("boolean", True, "true"),
        ("boolean", None, False),
        ("double", None, None),
        ("string", "", None),
        ("multipicklist", "", None),
    ],
)
def test_equal_values_compare_equal(type_, desired, current):
    assert equal(type_, desired, current)


def test_percent_scale_makes_a_ratio_equal_to_the_stored_percent():
    assert equal("percent", 0.72, 72, scale=100)


@pytest.mark.parametrize(
    "type_, desired, current",
    [
        ("double", 72, 71.5),
        ("double", 0, None),
        ("date", "2025-03-15", "2025-03-16"),
        ("datetime", "2025-03-15T09:00:00+09:00", "2025-03-15T09:00:00Z"),
        ("picklist", "green", "Red"),
        ("multipicklist", "red_band", "red_band;competitor"),
        ("string", "abc", "ABC"),
        ("boolean", True, False),
    ],
)
def test_different_values_differ(type_, desired, current):
    assert not equal(type_, desired, current)


def test_written_values_use_the_org_spelling_and_formats():
    band = spec("picklist", org_values=("Green", "Red"))
    assert normalise("GREEN", band, TOKYO, desired=True) == "Green"
    signals = spec("multipicklist", org_values=("competitor", "red_band"))
    assert normalise("Red_Band; competitor", signals, TOKYO, desired=True) == "competitor;red_band"
    assert normalise(72.0, spec("double"), TOKYO, desired=True) == 72
    assert normalise(71.25, spec("double"), TOKYO, desired=True) == 71.25
    assert normalise(2.5, spec("int"), TOKYO, desired=True) == 3
    assert normalise(date(2025, 3, 15), spec("datetime"), TOKYO, desired=True) == (
        "2025-03-15T00:00:00+09:00"
    )
    # a date value into a datetime field of the org is midnight in the org's zone
    as_dt = spec("date", org_type="datetime")
    assert normalise("2025-03-15", as_dt, TOKYO, desired=True) == "2025-03-15T00:00:00+09:00"


def test_text_longer_than_the_field_is_cut_or_rejected():
    assert normalise("x" * 10, spec("textarea", length=5, truncate=True), TOKYO, desired=True) == (
        "xxxx…"
    )
    with pytest.raises(ValueProblem, match="value of 10 characters exceeds the field length 5"):
        normalise("x" * 10, spec("string", length=5), TOKYO, desired=True)


def test_scale_applies_to_desired_values_only():
    pct = spec("percent", scale=100)
    assert normalise(0.5, pct, TOKYO, desired=True) == 50
    assert normalise(50, pct, TOKYO, desired=False) == 50


@pytest.mark.parametrize(
    "type_, value", [("double", "abc"), ("date", "15th March"), ("boolean", "maybe")]
)
def test_values_of_the_wrong_type_are_problems(type_, value):
    with pytest.raises(ValueProblem):
        normalise(value, spec(type_), TOKYO, desired=True)
