"""The date of each account's latest completed QBR (``Last_QBR_Date__c``), pure.

The list view "S/A accounts without a QBR this quarter" filters on it, so a CSM sees at a
glance which S/A accounts still need this quarter's QBR (seed 001 §3.2).
"""

from __future__ import annotations

from datetime import date

import pandas as pd


def last_qbr_dates(
    account_ids: pd.Series, activities: pd.DataFrame | None, as_of: date
) -> pd.Series:
    """Per account of ``account_ids`` (same order), the date of its latest completed activity
    of type ``qbr`` on or before ``as_of``; NaT for an account without one.

    ``activities``: columns ``account_id, date, type, completed`` (None: no activities)."""
    ids = pd.Series(account_ids, copy=False).reset_index(drop=True)
    if activities is None or activities.empty:
        return pd.Series(pd.NaT, index=ids.index, dtype="datetime64[ns]")
    day = pd.to_datetime(activities["date"])
    if getattr(day.dt, "tz", None) is not None:  # a date-time of the org: its local day
        day = day.dt.tz_localize(None)
    day = day.dt.normalize().astype("datetime64[ns]")
    held = (
        (activities["type"].astype("string").str.strip().str.lower() == "qbr").fillna(False)
        & activities["completed"].fillna(False).astype(bool)
        & (day <= pd.Timestamp(as_of))
    ).to_numpy(dtype=bool)
    latest = (
        pd.DataFrame({"account_id": activities["account_id"].astype("string")[held],
                      "day": day[held]})
        .groupby("account_id")["day"].max()
    )  # fmt: skip
    wanted = pd.DataFrame({"account_id": ids.astype("string")})
    merged = wanted.merge(latest.rename("day"), left_on="account_id", right_index=True, how="left")
    return merged["day"].astype("datetime64[ns]").reset_index(drop=True)
