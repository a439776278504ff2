"""Pure statistics for scorecard calibration (seed 000, step 2: move points toward what
predicts renewal).

Inputs are plain frames so that the statistics can be tested without a state store:

* ``observations``: one row per account — ``account_id``, ``churned`` (bool), ``health_score``,
  ``health_band`` and one column per measure holding the points the account earned on it.
* ``measure_max``: the scorecard's maximum points per measure.

The separation measure is the AUC (probability that a retained account scored higher than a
churned one; 0.5 = no separation, 1.0 = perfect), computed with the Mann-Whitney rank formula so
that ties count half. Counts are reported with every figure so that small samples are visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sfsync.catalogue import BANDS

BAND_ORDER = list(BANDS)


def auc_retained_above_churned(values: pd.Series, churned: pd.Series) -> float | None:
    """AUC of ``values`` ranking retained accounts above churned ones; None if a class is empty."""
    values = pd.to_numeric(values, errors="coerce")
    mask = values.notna()
    values, churned = values[mask], churned[mask].astype(bool)
    n_churned = int(churned.sum())
    n_retained = int((~churned).sum())
    if n_churned == 0 or n_retained == 0:
        return None
    ranks = values.rank(method="average")
    rank_sum_retained = float(ranks[~churned].sum())
    u = rank_sum_retained - n_retained * (n_retained + 1) / 2
    return u / (n_retained * n_churned)


def separation(auc: float | None) -> float | None:
    """The AUC in the direction that separates: ``max(auc, 1 - auc)`` (an input whose low
    values go with renewal separates as well as one whose high values do)."""
    return None if auc is None else max(auc, 1.0 - auc)


def evidence_weight(auc: float | None) -> float:
    """How much an input's points should grow with the evidence: its AUC above chance (0.5),
    0 when it separates no better than chance or could not be computed."""
    return max((auc if auc is not None else 0.5) - 0.5, 0.0)


def sample_blend(accounts: int, shrinkage_accounts: int) -> float:
    """How far a suggestion may move from the current points: ``n / (n + shrinkage)``, so
    that a handful of accounts cannot rewrite the scorecard."""
    return accounts / (accounts + shrinkage_accounts) if accounts else 0.0


def rank_correlation(a: pd.Series, b: pd.Series, *, min_pairs: int = 10) -> float | None:
    """Spearman rank correlation over the rows where both have a value; None with fewer than
    ``min_pairs`` such rows or when either is constant there."""
    a = pd.to_numeric(a, errors="coerce").astype("float64")
    b = pd.to_numeric(b, errors="coerce").astype("float64")
    both = a.notna() & b.notna()
    if int(both.sum()) < min_pairs:
        return None
    a, b = a[both].rank(), b[both].rank()
    if a.nunique() < 2 or b.nunique() < 2:
        return None
    return float(np.corrcoef(a.to_numpy(), b.to_numpy())[0, 1])


@dataclass(frozen=True)
class MeasureSeparation:
    """How well one measure separated churned from retained accounts."""

    measure: str
    auc: float | None
    n_accounts: int
    mean_points_retained: float | None
    mean_points_churned: float | None
    current_max: float
    suggested_max: float


def churn_by_band(observations: pd.DataFrame) -> pd.DataFrame:
    """Accounts, churned accounts and churn rate per band, green to red."""
    grouped = observations.groupby("health_band")["churned"].agg(["size", "sum"])
    grouped = grouped.reindex(BAND_ORDER).fillna(0).astype(int)
    grouped.columns = ["accounts", "churned"]
    grouped["churn_rate"] = np.where(
        grouped["accounts"] > 0, grouped["churned"] / grouped["accounts"].clip(lower=1), np.nan
    )
    return grouped.reset_index().rename(columns={"index": "health_band"})


def suggest_points(
    observations: pd.DataFrame,
    measure_max: dict[str, float],
    *,
    shrinkage_accounts: int = 50,
) -> list[MeasureSeparation]:
    """Suggest a new maximum per measure, moving points toward measures that predict renewal.

    Each measure's evidence weight is ``max(AUC - 0.5, 0)``; the suggested maxima distribute the
    scorecard's current total in proportion to those weights. With few accounts the suggestion
    is shrunk toward the current points (``n / (n + shrinkage_accounts)``), so that a handful of
    churned customers cannot rewrite the scorecard.
    """
    total = float(sum(measure_max.values()))
    churned = observations["churned"].astype(bool)
    n = len(observations)
    rows: list[tuple[str, float | None, int, float | None, float | None]] = []
    for measure in measure_max:
        if measure in observations:
            points = pd.to_numeric(observations[measure], errors="coerce")
        else:
            points = pd.Series(np.nan, index=observations.index)
        valid = points.notna()
        auc = auc_retained_above_churned(points, churned)
        mean_ret = float(points[valid & ~churned].mean()) if (valid & ~churned).any() else None
        mean_chu = float(points[valid & churned].mean()) if (valid & churned).any() else None
        rows.append((measure, auc, int(valid.sum()), mean_ret, mean_chu))

    weights = {m: evidence_weight(auc) for m, auc, *_ in rows}
    weight_sum = sum(weights.values())
    blend = sample_blend(n, shrinkage_accounts)
    result = []
    for measure, auc, count, mean_ret, mean_chu in rows:
        current = float(measure_max[measure])
        evidence = total * weights[measure] / weight_sum if weight_sum > 0 else current
        suggested = round((1 - blend) * current + blend * evidence)
        result.append(
            MeasureSeparation(measure, auc, count, mean_ret, mean_chu, current, float(suggested))
        )
    return _rebalance_to_total(result, total)


def _rebalance_to_total(rows: list[MeasureSeparation], total: float) -> list[MeasureSeparation]:
    """Fix rounding so that the suggested maxima add up to the current total exactly."""
    diff = total - sum(r.suggested_max for r in rows)
    if diff == 0 or not rows:
        return rows
    order = sorted(range(len(rows)), key=lambda i: -(rows[i].auc or 0.5))
    out = list(rows)
    i = 0
    while diff != 0:
        idx = order[i % len(order)]
        step = 1.0 if diff > 0 else -1.0
        if out[idx].suggested_max + step >= 0:
            r = out[idx]
            out[idx] = MeasureSeparation(
                r.measure,
                r.auc,
                r.n_accounts,
                r.mean_points_retained,
                r.mean_points_churned,
                r.current_max,
                r.suggested_max + step,
            )
            diff -= step
        i += 1
    return out
