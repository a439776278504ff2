"""Warnings of a calibration: measures that predict backwards and bands whose churn rates are
out of order. Pure: the calibration's figures in, flags out.

- A measure *predicts backwards* when its AUC (probability that a retained account got more
  points than a churned one) is below :data:`BACKWARDS_AUC`: its points go to the accounts that
  churn. 0.5 is chance; 0.4 leaves room for noise.
- Bands are *out of order* when a better band (green → yellow → orange → red) has a higher churn
  rate than the next worse band that has accounts.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

BACKWARDS_AUC = 0.4
BAND_ORDER = ("green", "yellow", "orange", "red")


class BackwardMeasure(NamedTuple):
    measure: str
    auc: float
    accounts: int


class BandInversion(NamedTuple):
    """``better`` churned more often than ``worse`` (rates as fractions)."""

    better: str
    better_rate: float
    worse: str
    worse_rate: float


def backwards_measures(measures, threshold: float = BACKWARDS_AUC) -> list[BackwardMeasure]:
    """The measures (``MeasureSeparation``) whose AUC is below ``threshold``, worst first."""
    out = [
        BackwardMeasure(m.measure, float(m.auc), int(m.n_accounts))
        for m in measures
        if m.auc is not None and not pd.isna(m.auc) and m.auc < threshold
    ]
    return sorted(out, key=lambda b: b.auc)


def band_inversions(bands: pd.DataFrame) -> list[BandInversion]:
    """Adjacent bands with accounts (in :data:`BAND_ORDER`) whose churn rates decrease."""
    rows = bands[bands["accounts"] > 0].set_index("health_band")
    present = [b for b in BAND_ORDER if b in rows.index]
    out = []
    for better, worse in zip(present, present[1:], strict=False):
        b, w = float(rows.at[better, "churn_rate"]), float(rows.at[worse, "churn_rate"])
        if b > w:
            out.append(BandInversion(better, b, worse, w))
    return out
