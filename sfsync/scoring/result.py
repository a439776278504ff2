"""``score_accounts``: canonical frames in, one scored row per account out (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd

from sfsync.errors import InputDataError
from sfsync.scoring.arrays import release_unused_memory, strings_from_codes, unique_inverse
from sfsync.scoring.contact import contact_changed
from sfsync.scoring.engagement_signals import engagement_signals
from sfsync.scoring.engine import NOT_APPLICABLE, Totals, score_features
from sfsync.scoring.explain import explanation_frame, explanation_text
from sfsync.scoring.features import Features, build_features
from sfsync.scoring.rules import (
    PHASES,
    SEGMENTS,
    Rules,
    compute_signals,
    lifecycle_phase,
    segment,
)
from sfsync.scoring.scorecard import Scorecard, measure_inputs
from sfsync.scoring.trend import score_change
from sfsync.scoring.wording import Wording, resolve_wording
from sfsync.templates import TemplateSet

SIGNAL_COLUMNS = ["account_id", "code", "kind", "severity"]


def join_codes(names: list[str], masks: list[np.ndarray], n: int) -> pd.Series:
    """Per account, the names whose mask is set, sorted and ``;``-joined (missing when none).

    Each distinct combination of flags is joined once and broadcast with an Arrow take."""
    if not names:
        return strings_from_codes([None], np.zeros(n, dtype=np.int64))
    order = sorted(range(len(names)), key=lambda i: names[i])
    if len(names) <= 62:
        keys = np.zeros(n, dtype=np.int64)
        for bit, i in enumerate(order):
            keys |= np.asarray(masks[i], dtype=np.int64) << bit
        first, inverse = unique_inverse(keys, 1 << len(names))
        texts = []
        for key in keys[first]:
            chosen = [names[i] for bit, i in enumerate(order) if key >> bit & 1]
            texts.append(";".join(chosen) or None)
        return strings_from_codes(texts, inverse)
    matrix = np.column_stack([np.asarray(masks[i], dtype=bool) for i in order])
    _, first, inverse = np.unique(matrix, axis=0, return_index=True, return_inverse=True)
    texts = [";".join(names[order[j]] for j in np.flatnonzero(matrix[r])) or None for r in first]
    return strings_from_codes(texts, inverse.ravel())


@dataclass
class ScoreResult:
    """Result of :func:`score_accounts`.

    ``scores``: one row per account (columns in docs/ARCHITECTURE.md "Scoring").
    ``signals``: long frame ``account_id, code, kind, severity`` of every active signal.
    ``explanations``: long frame ``account_id, category, measure, input_value, bin, points,
    max_points, status`` (built on first access).
    ``wording``: the explanation templates the ``explanation`` column was written with.
    """

    scores: pd.DataFrame
    signals: pd.DataFrame
    scorecard: Scorecard
    as_of: date
    scoring_month: str
    _totals: Totals = field(repr=False)
    _account_ids: pd.Series = field(repr=False)
    wording: Wording | None = field(default=None, repr=False)

    @cached_property
    def explanations(self) -> pd.DataFrame:
        return explanation_frame(self._account_ids, self._totals)

    @cached_property
    def measure_points(self) -> pd.DataFrame:
        """The points of every measure, one row per account (index ``account_id``, the first
        row of an account seen twice) and one float column per measure name (sorted; NaN where
        the measure did not apply): the ``points`` of :attr:`explanations`, pivoted, without
        building the long frame."""
        columns: dict[str, np.ndarray] = {}
        for m in self._totals.measures:
            columns.setdefault(m.name, np.asarray(m.points, dtype="float64"))
        index = pd.Index(self._account_ids.to_numpy(), name="account_id")
        wide = pd.DataFrame({name: columns[name] for name in sorted(columns)}, index=index)
        return wide[~wide.index.duplicated(keep="first")]


def _int_column(values: np.ndarray, integral: bool) -> pd.Series:
    series = pd.Series(values, dtype="Float64")
    return series.round(0).astype("Int64") if integral else series.round(2)


def score_accounts(
    accounts: pd.DataFrame,
    usage: pd.DataFrame,
    activities: pd.DataFrame,
    *,
    as_of: date,
    scorecard: Scorecard,
    benchmarks: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    trend_baseline: pd.DataFrame | None | Literal["previous"] = "previous",
    rules: Rules | None = None,
    templates: TemplateSet | None = None,
    language: str | None = None,
) -> ScoreResult:
    """Score every account of ``accounts`` as of ``as_of`` (a local calendar date).

    ``benchmarks``: frame ``industry, rate`` (a ``default`` row applies to unlisted industries);
    None uses the scorecard's ``benchmarks_file``. ``previous``: the previous stored snapshot
    (``account_id, health_score, health_band``) for ``score_drop`` (and the features).
    ``trend_baseline``: the stored scores ``health_trend`` compares with (the nightly job: the
    latest at least ``trend_days`` older, :mod:`sfsync.scoring.trend`); ``"previous"``: the
    same as ``previous``; None: no baseline (the trend is empty).
    ``rules`` overrides the scorecard's rules. ``templates``: the template set the
    ``explanation`` column is written with (its ``explanation*`` sections, and the scorecard's
    labels in its language); required. Pure: no clock, no I/O.

    A scorecard whose declared inputs are absent on every row is an InputDataError naming
    them (every account would otherwise silently score 0).
    """
    wording = resolve_wording(templates, language)  # checked before any work: fail fast
    problem = input_coverage_problem(scorecard, accounts, usage)
    if problem:
        raise InputDataError(problem)
    rules = rules or scorecard.rules
    extra = {name: spec.source for name, spec in scorecard.inputs.items()}
    with_previous = previous is not None and len(previous) > 0 and "account_id" in previous
    feats: Features = build_features(
        accounts,
        usage,
        activities,
        as_of=as_of,
        extra_inputs=extra,
        previous_ids=previous["account_id"] if with_previous else None,
    )
    release_unused_memory()  # the feature phase's temporaries
    account_ids = pd.Series(pd.array(feats.account_ids, dtype="string"))
    table = benchmark_table(benchmarks) if benchmarks is not None else scorecard.benchmark_table
    totals = score_features(scorecard, feats.frame, feats.linked, table)
    n = len(accounts)

    change = score_change(account_ids, totals.score, previous, feats.previous_positions)
    phase = lifecycle_phase(feats.frame, as_of, rules.phases)
    segs = segment(feats.frame, feats.linked, rules.segments)
    phase_names = np.array(PHASES, dtype=object)[phase]
    band = totals.band
    contact_baseline = previous if isinstance(trend_baseline, str) else trend_baseline
    changed_contact = contact_changed(account_ids, accounts, contact_baseline)
    signals = compute_signals(
        feats.frame, feats.linked, band, change, phase_names, rules.signals, changed_contact
    )
    signals += engagement_signals(
        feats.frame,
        accounts["tenant_id"].reset_index(drop=True),
        usage,
        feats.linked,
        as_of=as_of,
        rules=rules.signals,
    )
    churn = [s for s in signals if s.kind == "churn"]
    upsell = [s for s in signals if s.kind == "upsell"]
    flags = {
        "unlinked_tenant": ~feats.linked,
        "no_contract_start": np.isnat(feats.frame["contract_start"].to_numpy("datetime64[D]")),
        "no_usage_rows": feats.linked & ~feats.frame["has_usage_rows"].to_numpy(dtype=bool),
    }
    scoring_month = feats.scoring_month
    del feats  # frees the feature columns no measure refers to before the output is built
    release_unused_memory()

    integral = scorecard.integral_points
    # Numbers and the explanation first: then the per-account totals the result does not keep
    # (category points, score, band) are freed before the text columns are built.
    health_score = _int_column(totals.score, True)
    category_columns = {
        f"{cat_name}_points": _int_column(points, integral)
        for cat_name, points in totals.category_points.items()
    }
    if not isinstance(trend_baseline, str):
        change = score_change(account_ids, totals.score, trend_baseline)
    health_trend = _int_column(change, True)
    explanation = explanation_text(totals, scorecard, wording, flags)
    health_band = strings_from_codes(totals.band_names, totals.band_code)
    missing = [m.status != 0 for m in totals.measures]
    # the result keeps the measures only (for ``explanations``)
    totals = Totals(totals.measures, {}, np.zeros(0), np.zeros(0, dtype=np.int8), [])
    del change, phase_names, band
    release_unused_memory()

    out = {"account_id": account_ids, "health_score": health_score, "health_band": health_band}
    out.update(category_columns)
    out["health_trend"] = health_trend
    out["segment"] = strings_from_codes(SEGMENTS, segs)
    out["lifecycle_phase"] = strings_from_codes(PHASES, phase)
    del segs, phase
    for column, group in (
        ("churn_signals", churn),
        ("upsell_signals", upsell),
        ("signals", signals),
    ):
        out[column] = join_codes([s.code for s in group], [s.active for s in group], n)
    out["missing_measures"] = join_codes([m.name for m in totals.measures], missing, n)
    del missing
    out["data_quality"] = join_codes(list(flags), list(flags.values()), n)
    out["explanation"] = explanation
    scores = pd.DataFrame(out, copy=False)

    release_unused_memory()
    signal_frame = _signal_frame(account_ids, signals)
    return ScoreResult(
        scores=scores,
        signals=signal_frame,
        scorecard=scorecard,
        as_of=as_of,
        scoring_month=scoring_month,
        _totals=totals,
        _account_ids=account_ids,
        wording=wording,
    )


def input_coverage_problem(
    card: Scorecard, accounts: pd.DataFrame, usage: pd.DataFrame
) -> str | None:
    """Why the scorecard cannot score these frames: every input it declares is empty on every
    row of the frame it comes from, so every account would silently score the minimum. None
    when one declared input has a value, when none is declared, or when a declared column is
    missing altogether (the feature builder names it)."""
    frames = {"accounts": accounts, "usage": usage}
    if not card.inputs or not len(accounts):
        return None
    empty = []
    for column, spec in card.inputs.items():
        frame = frames[spec.source]
        if column not in frame.columns or frame[column].notna().any():
            return None
        empty.append(f"{spec.source} column '{column}'")
    readers = [
        f"{cat}.{name}"
        for cat, name, measure in card.measures()
        if any(col in card.inputs for col in measure_inputs(measure))
    ]
    shown = ", ".join(empty[:6]) + (f" and {len(empty) - 6} more" if len(empty) > 6 else "")
    more = ", …" if len(readers) > 5 else ""
    return (
        f"the scorecard {card.name} cannot score these accounts: its inputs ({shown}) are "
        f"empty on every row, so its measures ({', '.join(readers[:5])}{more}) would score 0 "
        "for everyone; fill them in the source (its column mapping) or use another scorecard"
    )


def _signal_frame(account_ids: pd.Series, signals) -> pd.DataFrame:
    """Long frame of active signals, ordered by account (input order) then code."""
    if not signals:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in SIGNAL_COLUMNS})
    ordered = sorted(signals, key=lambda s: s.code)
    # row-major nonzero of the account x code matrix: by account, then by code
    rows_all, which = np.nonzero(np.column_stack([s.active for s in ordered]))
    return pd.DataFrame(
        {
            "account_id": account_ids.take(rows_all).reset_index(drop=True),
            "code": strings_from_codes([s.code for s in ordered], which),
            "kind": strings_from_codes([s.kind for s in ordered], which),
            "severity": strings_from_codes([s.severity for s in ordered], which),
        },
        copy=False,
    )


def benchmark_table(frame: pd.DataFrame) -> dict[str, float]:
    """``industry, rate`` frame -> {industry: rate}."""
    if not {"industry", "rate"} <= set(frame.columns):
        raise InputDataError("benchmarks need the columns 'industry' and 'rate'")
    rates = pd.to_numeric(frame["rate"], errors="coerce")
    keys = frame["industry"].astype("string").str.strip()
    return {k: float(r) for k, r in zip(keys, rates, strict=True) if pd.notna(k) and pd.notna(r)}


__all__ = ["ScoreResult", "score_accounts", "benchmark_table", "NOT_APPLICABLE"]
