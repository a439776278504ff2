"""NRR from the ARR kept in the score snapshots (pure: frames in, numbers out).

The base is the end of the month ``nrr_months`` before the report month (the start of the
measured period, seed 001 §1.1: (期首MRR + upsell − downgrade − churn) / 期首MRR). Each
account's base ARR is its latest snapshot ARR on or before that day; accounts with a base ARR
above zero make up the cohort. Their ARR now is the latest snapshot ARR dated in the report
month; a cohort account without one (no longer scored) or churned by the month end counts 0.
ARR is yearly and MRR monthly; the ratio is the same.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd


class NrrFigures(NamedTuple):
    """The sums behind NRR, or why it cannot be computed (``reason``, a ``kpi_reasons`` key)."""

    now: float | None
    base: float | None
    reason: str | None = None
    params: dict[str, str] = {}


def nrr_from_arr_snapshots(
    snapshots: pd.DataFrame | None,
    *,
    base_day: pd.Timestamp,
    start: pd.Timestamp,
    end: pd.Timestamp,
    churned: pd.Series | None = None,
) -> NrrFigures:
    """ARR now (snapshots dated in ``[start, end]``) over the cohort's ARR on ``base_day``.

    ``churned`` maps account_id to its churn date (NaT when active); an account churned on or
    before ``end`` counts 0 now whatever its last snapshot said.
    """
    day = base_day.date().isoformat()
    if snapshots is None or snapshots.empty or "arr" not in snapshots:
        return NrrFigures(None, None, "no_arr_snapshots", {"day": day})
    s = snapshots[["account_id", "as_of", "arr"]].copy()
    s["as_of"] = pd.to_datetime(s["as_of"])
    s["arr"] = pd.to_numeric(s["arr"], errors="coerce")
    s = s[s["arr"].notna()].sort_values("as_of")
    base = s[s["as_of"] <= base_day].drop_duplicates("account_id", keep="last")
    base = base[base["arr"] > 0].set_index("account_id")["arr"]
    if base.empty:
        return NrrFigures(None, None, "no_arr_snapshots", {"day": day})
    in_month = s[(s["as_of"] >= start) & (s["as_of"] <= end)]
    if in_month.empty:
        return NrrFigures(None, None, "no_arr_in_month", {"month": start.strftime("%Y-%m")})
    now = in_month.drop_duplicates("account_id", keep="last").set_index("account_id")["arr"]
    now = now.reindex(base.index).fillna(0.0)
    if churned is not None and not churned.empty:
        gone = pd.to_datetime(churned.reindex(base.index))
        now[(gone.notna() & (gone <= end)).to_numpy()] = 0.0
    return NrrFigures(float(now.sum()), float(base.sum()))
