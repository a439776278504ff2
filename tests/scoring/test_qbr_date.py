"""Last_QBR_Date__c: the latest completed QBR on or before the as-of date, per account."""

from __future__ import annotations

from datetime import date

import pandas as pd

from sfsync.scoring.qbr import last_qbr_dates


def test_latest_completed_qbr_up_to_the_as_of_date() -> None:
    activities = pd.DataFrame(
        {
            "account_id": ["a1", "a1", "a1", "a2", "a2", "a3"],
            "date": pd.to_datetime(
                [
                    "2026-01-10",
                    "2026-04-02 15:30:00",
                    "2026-06-01",
                    "2026-03-01",
                    "2026-03-05",
                    "2026-02-01",
                ],
                format="ISO8601",
            ),  # fmt: skip
            "type": ["QBR", "qbr", "QBR", "Meeting", "QBR", "QBR"],
            "completed": pd.array([True, True, True, True, False, None], dtype="boolean"),
        }
    )
    got = last_qbr_dates(pd.Series(["a3", "a1", "a2", "a9"]), activities, date(2026, 5, 1))
    assert got.tolist()[1] == pd.Timestamp("2026-04-02")  # the June QBR lies after the as-of date
    assert got.isna().tolist() == [True, False, True, True]  # open, meeting, none: no QBR


def test_no_activities_gives_no_dates() -> None:
    got = last_qbr_dates(pd.Series(["a1", "a2"]), None, date(2026, 5, 1))
    assert len(got) == 2 and got.isna().all()
