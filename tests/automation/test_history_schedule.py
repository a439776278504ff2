"""When the nightly job writes its periodic score-history snapshot (pure)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from sfsync.automation.history_schedule import history_due, period_of
from sfsync.jobs import HistorySpec, Job
from sfsync.salesforce.history import history_frame

WEEKLY = HistorySpec()  # weekly, Monday
MONDAY = date(2025, 3, 10)


def test_weekly_periods_are_iso_weeks():
    assert period_of(MONDAY, WEEKLY) == "2025-W11"
    assert period_of(MONDAY + timedelta(days=6), WEEKLY) == "2025-W11"
    assert period_of(date(2024, 12, 30), WEEKLY) == "2025-W01"  # ISO year
    assert period_of(MONDAY, HistorySpec(every="monthly")) == "2025-03"
    assert period_of(MONDAY, HistorySpec(every="off")) is None


def test_weekly_snapshot_once_a_week_on_or_after_the_weekday():
    due = history_due(MONDAY, WEEKLY, None)
    assert due is not None and due.period == "2025-W11"
    assert due.previous_day == MONDAY - timedelta(days=7)
    # written on Monday: a re-run and Tuesday to Sunday write nothing
    for offset in range(0, 7):
        assert history_due(MONDAY + timedelta(days=offset), WEEKLY, MONDAY) is None
    # Monday's run failed: Tuesday catches up
    assert history_due(MONDAY + timedelta(days=1), WEEKLY, None).period == "2025-W11"


def test_weekday_and_monthly_day():
    thursday = HistorySpec(weekday="thursday")
    assert history_due(MONDAY, thursday, None) is None
    assert history_due(MONDAY + timedelta(days=2), thursday, None) is None
    assert history_due(MONDAY + timedelta(days=3), thursday, None).period == "2025-W11"
    monthly = HistorySpec(every="monthly", day=5)
    assert history_due(date(2025, 3, 4), monthly, None) is None
    due = history_due(date(2025, 3, 31), monthly, None)
    assert due.period == "2025-03" and due.previous_day == date(2025, 2, 28)
    assert history_due(date(2025, 3, 31), monthly, date(2025, 3, 5)) is None
    assert history_due(MONDAY, HistorySpec(every="off"), None) is None


def test_history_settings_are_validated():
    base = {"sources": {"accounts": {"kind": "file", "path": "a.csv"}},
            "compute": {"kind": "score"}}  # fmt: skip
    assert Job.model_validate(base).history.every == "weekly"
    # YAML reads an unquoted `every: off` as false
    assert Job.model_validate({**base, "history": {"every": False}}).history.every == "off"
    for bad in ({"every": "daily"}, {"weekday": "montag"}, {"every": "monthly", "day": 31}):
        with pytest.raises(ValueError):
            Job.model_validate({**base, "history": bad})


def test_history_frame_keys_by_period_and_records_the_band_change():
    scores = pd.DataFrame(
        {"account_id": ["001A", "001B", "001C"], "health_band": ["red", "green", "yellow"]}
    )
    previous = pd.DataFrame({"account_id": ["001A", "001B"], "health_band": ["orange", "green"]})
    frame = history_frame(scores, MONDAY, period="2025-W11", previous=previous)
    assert list(frame["history_key"]) == ["001A:2025-W11", "001B:2025-W11", "001C:2025-W11"]
    assert list(frame["previous_band"].fillna("")) == ["orange", "green", ""]
    assert (frame["score_date"] == pd.Timestamp(MONDAY)).all()
    # the backfill's key stays the date
    assert history_frame(scores, MONDAY)["history_key"][0] == "001A:2025-03-10"
