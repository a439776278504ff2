"""Vectorised scoring: measures -> points -> categories -> score and band (SPEC §4, §10).

Each measure is evaluated for all accounts at once (numpy masks, ``np.select`` for bins,
factorised lookups), never row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sfsync.scoring.arrays import factorize_text
from sfsync.scoring.features import FEATURES
from sfsync.scoring.scorecard import (
    BenchmarkMeasure,
    Bin,
    BinsMeasure,
    BooleanMeasure,
    ChecklistMeasure,
    LookupMeasure,
    Scorecard,
    measure_inputs,
)

SCORED, MISSING_ZERO, NOT_APPLICABLE = 0, 1, 2
STATUS_NAMES = np.array(["scored", "missing_zero", "not_applicable"], dtype=object)
#: tolerance for comparing computed benchmark edges (b * (1 - t) is not exact in binary)
_EDGE_EPS = 1e-12


@dataclass
class MeasureResult:
    """One measure evaluated for every account."""

    category: str
    name: str
    label: str
    input_name: str
    value: pd.Series  # the input value (for explanations)
    bin_index: np.ndarray  # int, -1 when missing
    bin_labels: list[str]
    points: np.ndarray  # float; 0 for missing_zero, NaN for not_applicable
    max_points: float
    status: np.ndarray  # int8: SCORED / MISSING_ZERO / NOT_APPLICABLE


def _numeric(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype("Float64")
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _bin_conditions(values: np.ndarray, bins: list[Bin]) -> list[np.ndarray]:
    conditions = []
    with np.errstate(invalid="ignore"):
        for b in bins:
            cond = ~np.isnan(values)
            if b.ge is not None:
                cond &= values >= b.ge
            if b.gt is not None:
                cond &= values > b.gt
            if b.le is not None:
                cond &= values <= b.le
            if b.lt is not None:
                cond &= values < b.lt
            conditions.append(cond)
    return conditions


def _bin_index(values: np.ndarray, bins: list[Bin]) -> np.ndarray:
    """Index of the bin holding each value; -1 for NaN or a value outside every bin."""
    return np.select(_bin_conditions(values, bins), np.arange(len(bins)), default=-1)


def _folded_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Factorised codes and the distinct values trimmed and case-folded (few, so in Python)."""
    codes, uniques = factorize_text(values)
    return codes, [u.strip().casefold() for u in uniques.to_pylist()]


def _lookup_index(values: pd.Series, measure: LookupMeasure) -> np.ndarray:
    """Group index per account; ``len(groups)`` for ``other``; -1 when missing/unmatched."""
    table = {v.strip().casefold(): g for g, grp in enumerate(measure.groups) for v in grp.values}
    fallback = len(measure.groups) if measure.other is not None else -1
    codes, uniques = _folded_codes(values)
    mapped = np.array([table.get(u, fallback) for u in uniques] + [-1], dtype=np.int64)
    return mapped[codes]  # code -1 (NA) picks the trailing -1


def _benchmark_rates(keys: pd.Series, table: dict[str, float]) -> np.ndarray:
    """Benchmark per account: its key's rate, else the ``default`` row, else NaN."""
    folded = {k.strip().casefold(): v for k, v in table.items()}
    default = folded.get("default", np.nan)
    codes, uniques = _folded_codes(keys)
    mapped = np.array([folded.get(u, default) for u in uniques] + [default], dtype=np.float64)
    return mapped[codes]


def _benchmark_index(rate: np.ndarray, bench: np.ndarray, tolerance: float) -> np.ndarray:
    low, high = bench * (1 - tolerance), bench * (1 + tolerance)
    eps = _EDGE_EPS * np.maximum(1.0, np.abs(bench))
    with np.errstate(invalid="ignore"):
        below = rate < low - eps
        above = rate > high + eps
    known = ~np.isnan(rate) & ~np.isnan(bench)
    return np.select([~known, below, above], [-1, 0, 2], default=1)


def bin_labels(measure) -> list[str]:
    """The canonical (language-neutral) label of each bin of ``measure``, in engine order."""
    if isinstance(measure, BinsMeasure | ChecklistMeasure):
        return [b.describe() for b in measure.bins]
    if isinstance(measure, LookupMeasure):
        groups = measure.groups + ([measure.other] if measure.other is not None else [])
        return [g.label for g in groups]
    if isinstance(measure, BooleanMeasure):
        return ["yes", "no"]
    return ["below benchmark", "average", "above benchmark"]


def _usage_inputs(card: Scorecard) -> set[str]:
    names = {name for name, f in FEATURES.items() if f.usage}
    return names | {name for name, spec in card.inputs.items() if spec.source == "usage"}


def evaluate_measure(
    card: Scorecard,
    category: str,
    name: str,
    measure,
    features: pd.DataFrame,
    linked: np.ndarray,
    benchmarks: dict[str, float],
) -> MeasureResult:
    """Points, bin and status of one measure for every account."""
    if isinstance(measure, BinsMeasure):
        value = features[measure.input]
        index = _bin_index(_numeric(value), measure.bins)
        points_table = [b.points for b in measure.bins]
        input_name = measure.input
    elif isinstance(measure, ChecklistMeasure):
        steps = pd.DataFrame({s: features[s].astype("boolean") for s in measure.steps})
        answered = steps.notna().any(axis=1).to_numpy()
        count = steps.fillna(False).sum(axis=1).to_numpy(dtype=np.float64)
        count = np.where(answered, count, np.nan)
        value = pd.Series(count)
        index = _bin_index(count, measure.bins)
        points_table = [b.points for b in measure.bins]
        input_name = f"{len(measure.steps)} steps"
    elif isinstance(measure, LookupMeasure):
        value = features[measure.input]
        index = _lookup_index(value, measure)
        groups = measure.groups + ([measure.other] if measure.other is not None else [])
        points_table = [g.points for g in groups]
        input_name = measure.input
    elif isinstance(measure, BooleanMeasure):
        value = features[measure.input].astype("boolean")
        flags = value.to_numpy(dtype=bool, na_value=False)
        index = np.where(value.isna().to_numpy(), -1, np.where(flags, 0, 1))
        points_table = [measure.points_true, measure.points_false]
        input_name = measure.input
    elif isinstance(measure, BenchmarkMeasure):
        value = features[measure.input]
        bench = _benchmark_rates(features[measure.benchmark_key], benchmarks)
        index = _benchmark_index(_numeric(value), bench, measure.tolerance)
        p = measure.points
        points_table = [p.below, p.average, p.above]
        input_name = measure.input
    else:  # pragma: no cover - the discriminated union makes this unreachable
        raise TypeError(f"unknown measure type {type(measure).__name__}")

    index = np.asarray(index, dtype=np.int64)
    weighted = np.array(points_table + [0.0], dtype=np.float64) * measure.weight
    missing = index < 0
    policy = MISSING_ZERO if measure.missing == "zero" else NOT_APPLICABLE
    status = np.where(missing, policy, SCORED).astype(np.int8)
    if set(measure_inputs(measure)) & _usage_inputs(card):
        status[~linked] = NOT_APPLICABLE  # SPEC §10: no tenant -> usage measures n/a
    points = np.where(status == NOT_APPLICABLE, np.nan, weighted[index])  # -1 -> 0.0 pad
    return MeasureResult(
        category=category,
        name=name,
        label=measure.label or name,
        input_name=input_name,
        value=value.reset_index(drop=True),
        bin_index=np.where(status == SCORED, index, -1),
        bin_labels=bin_labels(measure),
        points=points,
        max_points=card.measure_max(measure),
        status=status,
    )


def round_half_up_ratio(earned: np.ndarray, possible: np.ndarray, integral: bool) -> np.ndarray:
    """``round_half_up(100 * earned / possible)`` as float (NaN where possible is 0).

    With whole-number points the division is done exactly in integers, so that 50.5 never
    becomes 50.49999 on the way."""
    ok = possible > 0
    if integral:
        e = np.rint(np.where(ok, earned, 0)).astype(np.int64)
        d = np.rint(np.where(ok, possible, 1)).astype(np.int64)
        value = ((200 * e + d) // (2 * d)).astype(np.float64)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.floor(100.0 * earned / possible + 0.5 + 1e-9)
    return np.where(ok, value, np.nan)


@dataclass
class Totals:
    measures: list[MeasureResult]
    category_points: dict[str, np.ndarray]  # NaN where no measure of the category applies
    score: np.ndarray  # float, NaN when nothing applies
    band_code: np.ndarray  # index into band_names; len(bands) when no score
    band_names: list[str | None]  # the card's band names, then None

    @property
    def band(self) -> np.ndarray:
        """Band name per account (object array, None when no score)."""
        return np.array(self.band_names, dtype=object)[self.band_code]


def score_features(
    card: Scorecard, features: pd.DataFrame, linked: np.ndarray, benchmarks: dict[str, float]
) -> Totals:
    """Evaluate every measure, sum categories (capped when asked), normalise, and band."""
    n = len(features)
    measures: list[MeasureResult] = []
    earned_total = np.zeros(n)
    possible_total = np.zeros(n)
    category_points: dict[str, np.ndarray] = {}
    for cat_name, category in card.categories.items():
        earned = np.zeros(n)
        possible = np.zeros(n)
        for name, measure in category.measures.items():
            result = evaluate_measure(card, cat_name, name, measure, features, linked, benchmarks)
            measures.append(result)
            applies = result.status != NOT_APPLICABLE
            earned += np.where(applies, result.points, 0.0)
            possible += np.where(applies, result.max_points, 0.0)
        if category.cap:
            earned = np.minimum(earned, category.max_points)
            possible = np.minimum(possible, category.max_points)
        category_points[cat_name] = np.where(possible > 0, earned, np.nan)
        earned_total += earned
        possible_total += possible
    score = round_half_up_ratio(earned_total, possible_total, card.integral_points)
    names = [b.name for b in card.bands] + [None]
    return Totals(measures, category_points, score, band_codes(score, card), names)


def band_codes(score: np.ndarray, card: Scorecard) -> np.ndarray:
    """Index of each score's band in ``card.bands`` (``len(card.bands)`` where NaN)."""
    with np.errstate(invalid="ignore"):
        conditions = [(score >= b.min) & (score <= b.max) for b in card.bands]
    return np.select(conditions, np.arange(len(card.bands)), default=len(card.bands))


def assign_band(score: np.ndarray, card: Scorecard) -> np.ndarray:
    """Band name per score (None where the score is NaN)."""
    names = np.array([b.name for b in card.bands] + [None], dtype=object)
    return names[band_codes(score, card)]
