"""Trend against the previous stored snapshot (``health_trend`` and the ``score_drop`` input)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sfsync.errors import InputDataError
from sfsync.scoring.arrays import index_in, text_array


def score_change(
    account_ids: pd.Series, scores: np.ndarray, previous: pd.DataFrame | None
) -> np.ndarray:
    """Current minus previous score per account (float; NaN without a previous score).

    ``previous`` has ``account_id`` and ``health_score`` (the latest snapshot before this run);
    when an account appears more than once the last row wins.
    """
    if previous is None or len(previous) == 0:
        return np.full(len(account_ids), np.nan)
    for column in ("account_id", "health_score"):
        if column not in previous.columns:
            raise InputDataError(f"the previous scores frame lacks the column '{column}'")
    positions = index_in(previous["account_id"], text_array(account_ids))
    prev_scores = pd.to_numeric(previous["health_score"], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    known = positions >= 0
    last_row = np.full(len(account_ids), -1, dtype=np.int64)
    np.maximum.at(last_row, positions[known], np.flatnonzero(known))  # the last row wins
    matched = np.where(last_row >= 0, prev_scores[np.maximum(last_row, 0)], np.nan)
    return scores - matched
