"""The inputs' values at the calibration's observations, computed by the scoring engine itself.

The state store keeps each snapshot's points, not the values behind them. To evaluate inputs
the scorecard does not read (``calibrate_candidates``) and to place bin edges
(``calibrate_bins``), calibration needs the values: for each snapshot date that has
observations, the job's canonical frames as of that date (read by the caller, as the backfill
read them) go through :func:`sfsync.scoring.features.build_features`, so a value here is the
value the scorer saw — or would have seen — on that date. Pure apart from the ``read``
callable it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd

from sfsync.scoring.features import FEATURES, USAGE_COLUMNS, USAGE_COLUMNS_READ, build_features


@dataclass(frozen=True)
class InputFrames:
    """A job's canonical frames as of one date."""

    accounts: pd.DataFrame
    usage: pd.DataFrame
    activities: pd.DataFrame


ReadFrames = Callable[[date], InputFrames]


def extra_usage_columns(usage: pd.DataFrame) -> dict[str, str]:
    """The numeric and yes/no usage columns that no built-in input reads (and that are not
    named like one): name -> kind."""
    out = {}
    for column in usage.columns:
        if column in USAGE_COLUMNS_READ or column in USAGE_COLUMNS or column in FEATURES:
            continue
        dtype = usage[column].dtype
        if pd.api.types.is_bool_dtype(dtype):
            out[str(column)] = "boolean"
        elif pd.api.types.is_numeric_dtype(dtype):
            out[str(column)] = "number"
    return out


def _numeric_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The number and yes/no columns of ``frame`` as float64 (yes/no as 1/0, missing NaN)."""
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column.dtype):
            columns[name] = column.astype("Float64").astype("float64")
        elif pd.api.types.is_numeric_dtype(column.dtype):
            columns[name] = column.astype("float64")
    return pd.DataFrame(columns, index=frame.index)


def observation_inputs(
    observations: pd.DataFrame, read: ReadFrames, declared: Mapping[str, str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every number and yes/no input per observation, row-aligned with ``observations``
    (``account_id``, ``as_of``), and the extra usage columns found (name -> kind).

    The inputs are the built-in ones, those the scorecard declares (``declared``: name ->
    ``accounts`` or ``usage``) and every extra usage column (its scoring-month value). An
    account the frames of its date do not hold has no values (NaN).
    """
    parts = []
    found: dict[str, str] = {}
    for as_of, rows in observations.groupby("as_of", sort=True):
        frames = read(pd.Timestamp(as_of).date())
        extra = extra_usage_columns(frames.usage)
        found.update(extra)
        inputs = {**{c: "usage" for c in extra}, **declared}
        features = build_features(
            frames.accounts, frames.usage, frames.activities,
            as_of=pd.Timestamp(as_of).date(), extra_inputs=inputs,
        ).frame  # fmt: skip
        values = _numeric_columns(features)
        values.index = frames.accounts["account_id"].astype(str).to_numpy()
        picked = values.reindex(rows["account_id"].astype(str).to_numpy())
        picked.index = rows.index
        parts.append(picked)
    if not parts:
        return pd.DataFrame(index=observations.index), found
    return pd.concat(parts).reindex(observations.index), found
