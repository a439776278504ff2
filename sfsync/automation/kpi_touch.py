"""The 48-hour rule as KPIs (seed 001 §3.2/§5: a new signal → contact within 48 hours). Pure.

A *new signal* is a churn signal of the signal ledger first seen in the report month. It is
detected at the start of its first-seen day (local time: the nightly run scores as of that
day). Its *first touch* is the account's earliest completed touch at or after that moment:
a completed Task (at its completion time when known, else its date) or a past Event (its
date). Tasks sfsync closed itself are no touch (the readers leave them out).

- ``touch_within_48h``: new signals whose first touch came within ``hours`` (48) hours.
- ``median_hours_to_touch``: the median hours from detection to first touch over the new
  signals that were touched by the time of the report.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd


class TouchFigures(NamedTuple):
    new_signals: int
    within: int
    touched: int
    median_hours: float | None


def first_touch_hours(signals: pd.DataFrame, touches: pd.DataFrame) -> pd.Series:
    """Hours from each signal's detection (``first_seen`` at 00:00) to the account's first
    touch at or after it (NaN when none). ``touches`` has account_id and ``at`` (naive local
    timestamps); the result is indexed like ``signals``."""
    if signals.empty:
        return pd.Series(dtype="float64")
    detected = pd.to_datetime(signals["first_seen"]).dt.normalize()
    if touches is None or touches.empty:
        return pd.Series(float("nan"), index=signals.index, dtype="float64")
    by_account = {
        a: sorted(g) for a, g in pd.to_datetime(touches["at"]).groupby(touches["account_id"])
    }
    hours = []
    for account, when in zip(signals["account_id"], detected, strict=True):
        later = [t for t in by_account.get(account, []) if t >= when]
        hours.append((later[0] - when).total_seconds() / 3600 if later else float("nan"))
    return pd.Series(hours, index=signals.index, dtype="float64")


def touch_figures(
    signals: pd.DataFrame | None,
    touches: pd.DataFrame | None,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    hours: float = 48,
) -> TouchFigures:
    """The 48-hour figures of the churn signals first seen in ``[start, end]``."""
    if signals is None or signals.empty:
        return TouchFigures(0, 0, 0, None)
    first = pd.to_datetime(signals["first_seen"])
    new = signals[(first >= start) & (first <= end)]
    if "kind" in new:
        new = new[new["kind"] == "churn"]
    delays = first_touch_hours(new, touches)
    touched = delays.dropna()
    within = int((touched <= hours).sum())
    median = float(touched.median()) if len(touched) else None
    return TouchFigures(len(new), within, len(touched), median)
