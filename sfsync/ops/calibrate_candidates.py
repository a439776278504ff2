"""Candidate inputs: which inputs the scorecard does not read yet would separate churned from
renewed accounts (seed 000: "which engagement logs tell renewal from churn?"). Pure.

**Candidates** (:func:`candidate_inputs`): every built-in usage input of
:data:`sfsync.scoring.features.FEATURES` (number or yes/no; the scoring month's value, not the
previous month's) that no measure reads — the engagement logs (video and document views, mails
delivered, opened and clicked, open and click rates, tutorial completed, days from contract
start to tutorial completion) and the other usage figures — plus every numeric usage column no
built-in input reads (a scorecard declares it under ``inputs`` to use it).

**Evaluation**: each candidate's value at the same observations as the measures (each
account's chosen snapshot date), its AUC (``calibrate_stats``; reported in the direction that
separates, with that direction) and the accounts it could be computed for.

**Proposal rule**, candidates taken best separation first:

1. ``no_data``: no account has a value;
2. ``few``: values for fewer than :data:`MIN_COVERAGE` of the observed accounts, or fewer
   than :data:`MIN_PER_CLASS` churned or renewed accounts with a value;
3. ``weak``: separation below :data:`MIN_SEPARATION`;
4. ``no_edges``: a number whose values no bin edge splits into bins with different churn
   rates (``calibrate_bins``);
5. ``redundant``: rank correlation of at least :data:`REDUNDANT_RHO` (either sign) with the
   points of a measure of the scorecard or with a candidate proposed before it — it would
   count the same thing twice;
6. otherwise ``proposed``, with suggested maximum points by the same evidence weighting as the
   measures' (``calibrate_stats.suggest_points``): the scorecard's total shared in proportion
   to ``AUC - 0.5`` among the measures and the proposed candidates, shrunk toward 0 when few
   accounts were observed; at least 1 point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import pandas as pd

from sfsync.ops.calibrate_bins import ProposedBin, propose_bins
from sfsync.ops.calibrate_stats import (
    MeasureSeparation,
    auc_retained_above_churned,
    evidence_weight,
    rank_correlation,
    sample_blend,
    separation,
)
from sfsync.scoring.features import FEATURES

MIN_SEPARATION = 0.7
MIN_COVERAGE = 0.5
MIN_PER_CLASS = 5
REDUNDANT_RHO = 0.7
CANDIDATE_BINS = 3
VERDICTS = ("proposed", "redundant", "no_edges", "weak", "few", "no_data")


@dataclass(frozen=True)
class Candidate:
    """An input calibration evaluates: a built-in input, or a usage column to declare."""

    input: str
    kind: str  # number | boolean
    declared: bool = False  # True: not built in; the scorecard declares it under ``inputs``


@dataclass(frozen=True)
class CandidateResult:
    """How one candidate separated churned from renewed accounts, and the verdict."""

    candidate: Candidate
    auc: float | None  # probability that a renewed account had the higher value
    accounts: int  # observed accounts with a value
    churned: int  # of which churned
    coverage: float  # accounts / observed accounts
    verdict: str  # one of VERDICTS
    like: str | None = None  # redundant: the measure or candidate it duplicates
    like_measure: bool = False  # ``like`` is a measure of the scorecard
    rho: float | None = None  # its rank correlation with ``like``
    points: float = 0.0  # proposed: suggested maximum points
    bins: list[ProposedBin] | None = None  # proposed number: the bins it would score by

    @property
    def input(self) -> str:
        return self.candidate.input

    @property
    def separation(self) -> float | None:
        return separation(self.auc)

    @property
    def higher_is_better(self) -> bool:
        """True when higher values went with renewal."""
        return self.auc is None or self.auc >= 0.5


def candidate_inputs(read: Iterable[str], usage_columns: Mapping[str, str]) -> list[Candidate]:
    """The candidates of a scorecard that reads the inputs ``read``: the built-in usage inputs
    it does not read, then the usage columns ``usage_columns`` (name -> kind) that no built-in
    input reads and the scorecard does not declare."""
    read = set(read)
    out = [
        Candidate(name, feature.kind)
        for name, feature in FEATURES.items()
        if feature.usage
        and feature.kind in ("number", "boolean")
        and not name.endswith("_previous_month")
        and name not in read
    ]
    out += [Candidate(c, kind, declared=True) for c, kind in usage_columns.items() if c not in read]
    return out


def _order(results: list[CandidateResult]) -> list[CandidateResult]:
    return sorted(results, key=lambda r: (-(r.separation or 0.0), -r.accounts, r.input))


def evaluate_candidates(
    candidates: list[Candidate],
    values: pd.DataFrame,
    churned: pd.Series,
    measure_points: pd.DataFrame,
    measures: list[MeasureSeparation],
    *,
    shrinkage_accounts: int = 50,
) -> list[CandidateResult]:
    """Evaluate and judge every candidate (the module's rule), best separation first.

    ``values``: one column per candidate input, one row per observation; ``churned``: the
    observations' outcomes; ``measure_points``: the points each measure gave them (columns
    named by measure); ``measures``: the measures' separation (their AUC and current maxima).
    """
    churned = churned.astype(bool).reset_index(drop=True)
    values = values.reset_index(drop=True)
    measure_points = measure_points.reset_index(drop=True)
    n = len(churned)
    judged: list[CandidateResult] = []
    for candidate in candidates:
        column = _numbers(values, candidate.input)
        has = column.notna()
        result = CandidateResult(
            candidate,
            auc_retained_above_churned(column, churned),
            int(has.sum()),
            int((has & churned).sum()),
            float(has.mean()) if n else 0.0,
            "no_data",
        )
        judged.append(replace(result, verdict=_first_verdict(result, column, churned)))
    proposed: list[tuple[CandidateResult, pd.Series]] = []
    out = []
    for result in _order(judged):
        if result.verdict == "proposed":
            column = _numbers(values, result.input)
            twin = _twin(column, measure_points, proposed)
            if twin is not None:
                result = replace(result, verdict="redundant", like=twin[0],
                                 like_measure=twin[1], rho=twin[2])  # fmt: skip
            else:
                proposed.append((result, column))
        out.append(result)
    return _with_points(out, values, churned, measures, n, shrinkage_accounts)


def _numbers(values: pd.DataFrame, name: str) -> pd.Series:
    """A column as float64 (yes/no as 1/0; NaN where missing or absent)."""
    if name not in values.columns:
        return pd.Series(float("nan"), index=values.index)
    column = values[name]
    if pd.api.types.is_bool_dtype(column.dtype):
        column = column.astype("Float64")
    return pd.to_numeric(column, errors="coerce").astype("float64")


def _first_verdict(result: CandidateResult, column: pd.Series, churned: pd.Series) -> str:
    """Rules 1-4 (redundancy needs the candidates proposed before it)."""
    if result.accounts == 0:
        return "no_data"
    if (
        result.coverage < MIN_COVERAGE
        or result.churned < MIN_PER_CLASS
        or result.accounts - result.churned < MIN_PER_CLASS
    ):
        return "few"
    if (result.separation or 0.0) < MIN_SEPARATION:
        return "weak"
    if result.candidate.kind == "number" and propose_bins(
        column, churned, max_points=1, higher_is_better=result.higher_is_better,
        count=CANDIDATE_BINS,
    ) is None:  # fmt: skip
        return "no_edges"
    return "proposed"


def _twin(
    column: pd.Series,
    measure_points: pd.DataFrame,
    proposed: list[tuple[CandidateResult, pd.Series]],
) -> tuple[str, bool, float] | None:
    """The measure or earlier proposed candidate ``column`` correlates with most, when at
    least :data:`REDUNDANT_RHO`: (name, is a measure, rho)."""
    best: tuple[str, bool, float] | None = None
    others = [(m, True, measure_points[m]) for m in measure_points.columns]
    others += [(r.input, False, v) for r, v in proposed]
    for name, is_measure, other in others:
        rho = rank_correlation(column, other)
        if (
            rho is not None
            and abs(rho) >= REDUNDANT_RHO
            and (best is None or abs(rho) > abs(best[2]))
        ):
            best = (name, is_measure, rho)
    return best


def _with_points(
    results: list[CandidateResult],
    values: pd.DataFrame,
    churned: pd.Series,
    measures: list[MeasureSeparation],
    n: int,
    shrinkage_accounts: int,
) -> list[CandidateResult]:
    """Rule 6: the proposed candidates' points (and, for numbers, their bins)."""
    total = sum(m.current_max for m in measures)
    chosen = [r for r in results if r.verdict == "proposed"]
    weights = sum(evidence_weight(m.auc) for m in measures)
    weights += sum(evidence_weight(r.separation) for r in chosen)
    blend = sample_blend(n, shrinkage_accounts)
    out = []
    for r in results:
        if r.verdict == "proposed":
            share = evidence_weight(r.separation) / weights if weights > 0 else 0.0
            points = float(max(1, round(total * share * blend)))
            bins = None
            if r.candidate.kind == "number":
                bins = propose_bins(
                    _numbers(values, r.input), churned, max_points=points,
                    higher_is_better=r.higher_is_better, count=CANDIDATE_BINS,
                )  # fmt: skip
            r = replace(r, points=points, bins=bins)
        out.append(r)
    return out
