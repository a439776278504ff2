"""``score_accounts``: canonical frames in, one scored row per account out (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd

from sfsync.errors import InputDataError
from sfsync.scoring.arrays import factorize_text, strings_from_codes, unique_inverse
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
from sfsync.scoring.scorecard import Scorecard
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
    rules: Rules | None = None,
    templates: TemplateSet | None = None,
    language: str | None = None,
) -> ScoreResult:
    """Score every account of ``accounts`` as of ``as_of`` (a local calendar date).

    ``benchmarks``: frame ``industry, rate`` (a ``default`` row applies to unlisted industries);
    None uses the scorecard's ``benchmarks_file``. ``previous``: the previous stored snapshot
    (``account_id, health_score, health_band``) for ``health_trend`` and ``score_drop``.
    ``rules`` overrides the scorecard's rules. ``templates``: the template set the
    ``explanation`` column is written with (its ``explanation*`` sections, and the scorecard's
    labels in its language); without it, the repository's ``mappings/templates/<language>``
    (``language`` defaults to ``ja``; loaded once per process). Pure apart from that default:
    no clock, no I/O.
    """
    wording = resolve_wording(templates, language)  # checked before any work: fail fast
    rules = rules or scorecard.rules
    id_codes, id_values = factorize_text(accounts["account_id"])
    if len(id_values) != len(accounts):
        if (id_codes < 0).any():
            raise InputDataError(f"{int((id_codes < 0).sum())} account(s) have no account_id")
        dupe = id_values[int(np.bincount(id_codes).argmax())].as_py()
        raise InputDataError(
            f"accounts contain duplicate account_id values, e.g. {dupe}; "
            "each account must appear once"
        )
    account_ids = pd.Series(pd.array(id_values, dtype="string"))  # unique: codes are 0..n-1
    extra = {name: spec.source for name, spec in scorecard.inputs.items()}
    feats: Features = build_features(
        accounts, usage, activities, as_of=as_of, extra_inputs=extra, account_ids=id_values
    )
    table = benchmark_table(benchmarks) if benchmarks is not None else scorecard.benchmark_table
    totals = score_features(scorecard, feats.frame, feats.linked, table)
    n = len(accounts)

    change = score_change(account_ids, totals.score, previous)
    phase = lifecycle_phase(feats.frame, as_of, rules.phases)
    segs = segment(feats.frame, feats.linked, rules.segments)
    phase_names = np.array(PHASES, dtype=object)[phase]
    band = totals.band
    signals = compute_signals(feats.frame, feats.linked, band, change, phase_names, rules.signals)
    churn = [s for s in signals if s.kind == "churn"]
    upsell = [s for s in signals if s.kind == "upsell"]

    integral = scorecard.integral_points
    out = {"account_id": account_ids, "health_score": _int_column(totals.score, True)}
    out["health_band"] = strings_from_codes(totals.band_names, totals.band_code)
    for cat_name, points in totals.category_points.items():
        out[f"{cat_name}_points"] = _int_column(points, integral)
    out["health_trend"] = _int_column(change, True)
    out["segment"] = strings_from_codes(SEGMENTS, segs)
    out["lifecycle_phase"] = strings_from_codes(PHASES, phase)
    for column, group in (
        ("churn_signals", churn),
        ("upsell_signals", upsell),
        ("signals", signals),
    ):
        out[column] = join_codes([s.code for s in group], [s.active for s in group], n)
    missing = [m.status != 0 for m in totals.measures]
    out["missing_measures"] = join_codes([m.name for m in totals.measures], missing, n)
    flags = {
        "unlinked_tenant": ~feats.linked,
        "no_contract_start": np.isnat(feats.frame["contract_start"].to_numpy("datetime64[D]")),
        "no_usage_rows": feats.linked & ~feats.frame["has_usage_rows"].to_numpy(dtype=bool),
    }
    out["data_quality"] = join_codes(list(flags), list(flags.values()), n)
    out["explanation"] = explanation_text(totals, scorecard, wording, flags)
    scores = pd.DataFrame(out)

    signal_frame = _signal_frame(account_ids, signals)
    return ScoreResult(
        scores=scores,
        signals=signal_frame,
        scorecard=scorecard,
        as_of=as_of,
        scoring_month=feats.scoring_month,
        _totals=totals,
        _account_ids=account_ids,
        wording=wording,
    )


def _signal_frame(account_ids: pd.Series, signals) -> pd.DataFrame:
    """Long frame of active signals, ordered by account (input order) then code."""
    if not signals:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in SIGNAL_COLUMNS})
    by_code = sorted(range(len(signals)), key=lambda i: signals[i].code)
    rows = [np.flatnonzero(signals[i].active) for i in by_code]
    which = np.concatenate([np.full(len(r), j, dtype=np.int64) for j, r in enumerate(rows)])
    rows_all = np.concatenate(rows)
    order = np.lexsort((which, rows_all))
    rows_all, which = rows_all[order], which[order]
    ordered = [signals[i] for i in by_code]
    return pd.DataFrame(
        {
            "account_id": account_ids.take(rows_all).reset_index(drop=True),
            "code": strings_from_codes([s.code for s in ordered], which),
            "kind": strings_from_codes([s.kind for s in ordered], which),
            "severity": strings_from_codes([s.severity for s in ordered], which),
        }
    )


def benchmark_table(frame: pd.DataFrame) -> dict[str, float]:
    """``industry, rate`` frame -> {industry: rate}."""
    if not {"industry", "rate"} <= set(frame.columns):
        raise InputDataError("benchmarks need the columns 'industry' and 'rate'")
    rates = pd.to_numeric(frame["rate"], errors="coerce")
    keys = frame["industry"].astype("string").str.strip()
    return {k: float(r) for k, r in zip(keys, rates, strict=True) if pd.notna(k) and pd.notna(r)}


__all__ = ["ScoreResult", "score_accounts", "benchmark_table", "NOT_APPLICABLE"]
