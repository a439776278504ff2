"""Trend against the previous stored snapshot (``health_trend`` and the ``score_drop`` input)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sfsync.errors import InputDataError


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
    ids = previous["account_id"].astype("string").str.strip()
    prev_scores = pd.to_numeric(previous["health_score"], errors="coerce").astype("Float64")
    lookup = pd.Series(prev_scores.to_numpy(), index=pd.Index(ids)).groupby(level=0).last()
    matched = lookup.reindex(pd.Index(account_ids)).to_numpy(dtype=np.float64, na_value=np.nan)
    return scores - matched
