"""The weekly leading KPIs (seed 001 §1.2: average health score and red share are measured
weekly), from the stored score snapshots. Pure: frames in, a frame out.

A week runs Monday to Sunday; the weeks shown are those whose Monday lies in the report month
or that contain its first day. Each week uses every account's latest snapshot dated in that
week; a week without snapshots is left out (nothing was measured).
"""

from __future__ import annotations

import pandas as pd

WEEKLY_COLUMNS = ["week_start", "week_end", "accounts", "average_score", "red", "red_share"]


def weekly_leading_kpis(
    snapshots: pd.DataFrame | None,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    book: set | None = None,
) -> pd.DataFrame:
    """One row per week of the month ``[start, end]`` with snapshots: week_start, week_end,
    accounts, average_score, red (accounts), red_share. ``book`` limits the accounts."""
    if snapshots is None or snapshots.empty:
        return pd.DataFrame(columns=WEEKLY_COLUMNS)
    s = snapshots.copy()
    s["as_of"] = pd.to_datetime(s["as_of"])
    s = s[s["health_score"].notna()]
    if book is not None:
        s = s[s["account_id"].isin(book)]
    first_monday = start - pd.Timedelta(days=start.weekday())
    rows = []
    monday = first_monday
    while monday <= end:
        sunday = monday + pd.Timedelta(days=6)
        week = s[(s["as_of"] >= monday) & (s["as_of"] <= sunday)]
        if not week.empty:
            latest = week.sort_values("as_of").drop_duplicates("account_id", keep="last")
            scores = pd.to_numeric(latest["health_score"]).astype("float64")
            red = int((latest["health_band"] == "red").sum())
            rows.append(
                {
                    "week_start": monday.date(),
                    "week_end": sunday.date(),
                    "accounts": len(latest),
                    "average_score": float(scores.mean()),
                    "red": red,
                    "red_share": red / len(latest),
                }
            )
        monday += pd.Timedelta(days=7)
    return pd.DataFrame(rows, columns=WEEKLY_COLUMNS)
