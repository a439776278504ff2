"""Score change against a stored snapshot: ``health_trend`` and the ``score_drop`` input.

- ``health_trend`` (``Health_Trend__c``): the change against each account's latest stored score
  at least ``trend_days`` (default 28) days older than the as-of date (:func:`trend_baseline_day`;
  the state store's ``scores_on_or_before``). On a nightly schedule it therefore does not move
  day over day, and two runs on one day see the same baseline (never None because of a re-run).
- ``score_drop``: the change against the previous stored score (SPEC §10).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from sfsync.errors import InputDataError
from sfsync.scoring.arrays import index_in, text_array

DEFAULT_TREND_DAYS = 28


def trend_baseline_day(as_of: date, trend_days: int = DEFAULT_TREND_DAYS) -> date:
    """The latest snapshot date ``health_trend`` compares with: ``as_of`` − ``trend_days``."""
    return as_of - timedelta(days=trend_days)


def score_change(
    account_ids: pd.Series,
    scores: np.ndarray,
    previous: pd.DataFrame | None,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """Current minus previous score per account (float; NaN without a previous score).

    ``previous`` has ``account_id`` and ``health_score`` (the latest snapshot before this run);
    when an account appears more than once the last row wins. ``positions``: each previous
    row's account position (-1 when unknown), when the caller has already matched the ids.
    """
    if previous is None or len(previous) == 0:
        return np.full(len(account_ids), np.nan)
    for column in ("account_id", "health_score"):
        if column not in previous.columns:
            raise InputDataError(f"the previous scores frame lacks the column '{column}'")
    if positions is None:
        positions = index_in(previous["account_id"], text_array(account_ids))
    prev_scores = pd.to_numeric(previous["health_score"], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    known = positions >= 0
    last_row = np.full(len(account_ids), -1, dtype=np.int64)
    np.maximum.at(last_row, positions[known], np.flatnonzero(known))  # the last row wins
    matched = np.where(last_row >= 0, prev_scores[np.maximum(last_row, 0)], np.nan)
    return scores - matched


DEFAULT_DIRECTION_DEAD_BAND = 5


def trend_direction(trend: pd.Series, dead_band: float = DEFAULT_DIRECTION_DEAD_BAND) -> pd.Series:
    """``Health_Direction__c`` from ``health_trend``: ``up`` above ``+dead_band``, ``down``
    below ``-dead_band``, ``flat`` in between (inclusive); missing where the trend is missing.

    The dead band keeps a change of a point or two (noise on a nightly schedule) from
    flipping the direction back and forth."""
    values = pd.to_numeric(trend, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    codes = np.where(values > dead_band, "up", np.where(values < -dead_band, "down", "flat"))
    out = pd.Series(codes, index=trend.index, dtype="object")
    out[np.isnan(values)] = None
    return out.astype("string")
