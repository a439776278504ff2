"""Proposed bin edges for one input: simple, explainable, and outcome-checked. Pure.

The rule, in the order it is applied to an input's values at the observations:

1. **Quantile edges**: cut the values into ``count`` groups of about equal size (each edge is
   an observed value, so counts stay whole numbers; a fractional edge is rounded to two
   significant digits). An edge at or below the smallest value would leave an empty bin and
   is dropped, as are repeated edges (many equal values).
2. **Enough accounts per bin**: a bin with fewer than :data:`MIN_BIN_ACCOUNTS` accounts or
   :data:`MIN_BIN_SHARE` of them is merged into its smaller neighbour.
3. **Monotone churn rates**: walking from the worse values to the better ones (the direction
   the input separates in), each bin must churn less than the one before; two neighbours that
   break this are merged, until none does. So every edge that is left really separates.
4. **Points by churn rate**: the bin that churned most gets 0 points, the one that churned
   least the maximum, the others in proportion to how much less they churned than the worst.

One bin left means no edge separates the outcomes: no proposal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sfsync.ops.calibrate_stats import auc_retained_above_churned
from sfsync.scoring.scorecard import BinsMeasure, Scorecard, max_points

MIN_BIN_ACCOUNTS = 5
MIN_BIN_SHARE = 0.10


@dataclass(frozen=True)
class ProposedBin:
    """Accounts with ``lower <= value < upper`` (a missing side is unbounded)."""

    lower: float | None
    upper: float | None
    accounts: int
    churned: int
    points: float

    @property
    def churn_rate(self) -> float:
        return self.churned / self.accounts if self.accounts else 0.0


def nice(value: float) -> float:
    """An edge people can read: whole numbers stay, others keep two significant digits."""
    if float(value).is_integer() or value == 0:
        return float(value)
    digits = 1 - math.floor(math.log10(abs(value)))
    return round(float(value), digits)


def quantile_edges(values: pd.Series, count: int) -> list[float]:
    """The inner edges cutting ``values`` into ``count`` groups of about equal size (rule 1)."""
    v = np.sort(values.to_numpy(dtype=np.float64))
    edges = []
    for i in range(1, count):
        edge = nice(float(np.quantile(v, i / count, method="higher")))
        if edge > v[0] and (not edges or edge > edges[-1]):
            edges.append(edge)
    return edges


def _counts(values: np.ndarray, churned: np.ndarray, edges: list[float]) -> list[list[int]]:
    """Per bin: [accounts, churned] (bins are [edge_i, edge_i+1))."""
    which = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    size = len(edges) + 1
    accounts = np.bincount(which, minlength=size)
    lost = np.bincount(which, weights=churned.astype(np.float64), minlength=size)
    return [[int(a), int(c)] for a, c in zip(accounts, lost, strict=True)]


def _merge(edges: list[float], counts: list[list[int]], i: int) -> None:
    """Merge bin ``i`` with bin ``i + 1`` in place (drop the edge between them)."""
    counts[i] = [counts[i][0] + counts[i + 1][0], counts[i][1] + counts[i + 1][1]]
    del counts[i + 1]
    del edges[i]


def _merge_small(edges: list[float], counts: list[list[int]], minimum: int) -> None:
    """Rule 2: merge each bin under ``minimum`` accounts into its smaller neighbour."""
    while len(counts) > 1:
        small = [i for i, (a, _) in enumerate(counts) if a < minimum]
        if not small:
            return
        i = min(small, key=lambda j: counts[j][0])
        if i == 0:
            _merge(edges, counts, 0)
        elif i == len(counts) - 1 or counts[i - 1][0] <= counts[i + 1][0]:
            _merge(edges, counts, i - 1)
        else:
            _merge(edges, counts, i)


def _merge_until_monotone(edges: list[float], counts: list[list[int]], higher_is_better: bool):
    """Rule 3: merge neighbours until churn rates fall strictly from worse to better values."""

    def rate(i: int) -> float:
        return counts[i][1] / counts[i][0]

    while len(counts) > 1:
        for i in range(len(counts) - 1):
            falls = rate(i + 1) < rate(i) if higher_is_better else rate(i + 1) > rate(i)
            if not falls:
                _merge(edges, counts, i)
                break
        else:
            return


def propose_bins(
    values: pd.Series,
    churned: pd.Series,
    *,
    max_points: float,
    higher_is_better: bool,
    count: int = 3,
) -> list[ProposedBin] | None:
    """Bins for ``values`` (missing values are left out) following the module's rule, lowest
    values first; None when fewer than two bins separate the outcomes."""
    values = pd.to_numeric(values, errors="coerce").astype("float64")
    known = values.notna().to_numpy()
    v = values.to_numpy()[known]
    lost = churned.astype(bool).to_numpy()[known]
    if len(v) < 2 * MIN_BIN_ACCOUNTS or np.unique(v).size < 2:
        return None
    edges = quantile_edges(pd.Series(v), max(2, count))
    counts = _counts(v, lost, edges)
    _merge_small(edges, counts, max(MIN_BIN_ACCOUNTS, math.ceil(MIN_BIN_SHARE * len(v))))
    _merge_until_monotone(edges, counts, higher_is_better)
    if len(counts) < 2:
        return None
    rates = [c / a for a, c in counts]
    worst, best = max(rates), min(rates)
    bounds = [None, *edges, None]
    return [
        ProposedBin(bounds[i], bounds[i + 1], a, c,
                    _points(max_points, (worst - rates[i]) / (worst - best)))
        for i, (a, c) in enumerate(counts)
    ]  # fmt: skip


def _points(max_points: float, share: float) -> float:
    """``share`` of ``max_points`` as scorecards write points: the best bin gets the maximum
    exactly, the others whole numbers (one decimal below 1), never above the maximum."""
    if share >= 1.0:
        return float(max_points)
    value = max_points * share
    rounded = round(value) if value >= 1 or value == 0 else round(value, 1)
    return float(min(rounded, max_points))


@dataclass(frozen=True)
class MeasureBins:
    """Proposed bins for a ``bins`` measure of the scorecard (its current maximum kept)."""

    category: str
    measure: str
    input: str
    auc: float | None  # of the input's values (renewed above churned)
    bins: list[ProposedBin]


def measure_bins(
    card: Scorecard, values: pd.DataFrame, churned: pd.Series
) -> tuple[list[MeasureBins], list[str]]:
    """Proposed bins for each ``bins`` measure whose input has values: as many bins as it has
    now (2 to 5), its maximum points kept, in the direction its values separate. Also the
    measures that have values but no edge separating them (no proposal); a measure with
    fewer than ``2 * MIN_BIN_ACCOUNTS`` values is left out of both."""
    proposals, none = [], []
    for category, name, measure in card.measures():
        if not isinstance(measure, BinsMeasure) or measure.input not in values.columns:
            continue
        column = pd.to_numeric(values[measure.input], errors="coerce")
        if int(column.notna().sum()) < 2 * MIN_BIN_ACCOUNTS:
            continue
        auc = auc_retained_above_churned(column, churned)
        bins = propose_bins(
            column, churned, max_points=max_points(measure),
            higher_is_better=auc is None or auc >= 0.5, count=min(max(len(measure.bins), 2), 5),
        )  # fmt: skip
        if bins is None:
            none.append(name)
        else:
            proposals.append(MeasureBins(category, name, measure.input, auc, bins))
    return proposals, none
