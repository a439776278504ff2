"""``score_accounts``: canonical frames in, one scored row per account out (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd

from sfsync.errors import InputDataError
from sfsync.scoring.engine import NOT_APPLICABLE, Totals, score_features
from sfsync.scoring.explain import explanation_frame, explanation_text
from sfsync.scoring.features import Features, build_features
from sfsync.scoring.rules import Rules, compute_signals, lifecycle_phase, segment
from sfsync.scoring.scorecard import Scorecard
from sfsync.scoring.trend import score_change

SIGNAL_COLUMNS = ["account_id", "code", "kind", "severity"]


def join_codes(names: list[str], masks: list[np.ndarray], n: int) -> np.ndarray:
    """Per account, the names whose mask is set, sorted and ``;``-joined (None when none).

    Vectorised: each distinct combination of flags is joined once and then broadcast."""
    if not names:
        return np.full(n, None, dtype=object)
    order = sorted(range(len(names)), key=lambda i: names[i])
    matrix = np.column_stack([np.asarray(masks[i], dtype=bool) for i in order])
    packed = np.packbits(matrix, axis=1)
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    uniques, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    texts = []
    for row in first:
        chosen = [names[order[j]] for j in np.flatnonzero(matrix[row])]
        texts.append(";".join(chosen) if chosen else None)
    return np.array(texts, dtype=object)[inverse.ravel()]


@dataclass
class ScoreResult:
    """Result of :func:`score_accounts`.

    ``scores``: one row per account (columns in docs/ARCHITECTURE.md "Scoring").
    ``signals``: long frame ``account_id, code, kind, severity`` of every active signal.
    ``explanations``: long frame ``account_id, category, measure, input_value, bin, points,
    max_points, status`` (built on first access).
    """

    scores: pd.DataFrame
    signals: pd.DataFrame
    scorecard: Scorecard
    as_of: date
    scoring_month: str
    _totals: Totals = field(repr=False)
    _account_ids: pd.Series = field(repr=False)

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
) -> ScoreResult:
    """Score every account of ``accounts`` as of ``as_of`` (a local calendar date).

    ``benchmarks``: frame ``industry, rate`` (a ``default`` row applies to unlisted industries);
    None uses the scorecard's ``benchmarks_file``. ``previous``: the previous stored snapshot
    (``account_id, health_score, health_band``) for ``health_trend`` and ``score_drop``.
    ``rules`` overrides the scorecard's rules. Pure: no clock, no I/O.
    """
    rules = rules or scorecard.rules
    account_ids = accounts["account_id"].astype("string").str.strip().reset_index(drop=True)
    dupes = account_ids[account_ids.duplicated() & account_ids.notna()]
    if len(dupes):
        raise InputDataError(
            f"accounts contain duplicate account_id values, e.g. {dupes.iloc[0]} "
            f"({len(dupes)} duplicates); each account must appear once"
        )
    extra = {name: spec.source for name, spec in scorecard.inputs.items()}
    feats: Features = build_features(accounts, usage, activities, as_of=as_of, extra_inputs=extra)
    table = benchmark_table(benchmarks) if benchmarks is not None else scorecard.benchmark_table
    totals = score_features(scorecard, feats.frame, feats.linked, table)
    n = len(accounts)

    change = score_change(account_ids, totals.score, previous)
    phase = lifecycle_phase(feats.frame, as_of, rules.phases)
    segs = segment(feats.frame, feats.linked, rules.segments)
    signals = compute_signals(feats.frame, feats.linked, totals.band, change, phase, rules.signals)
    churn = [s for s in signals if s.kind == "churn"]
    upsell = [s for s in signals if s.kind == "upsell"]

    integral = scorecard.integral_points
    out = {"account_id": account_ids, "health_score": _int_column(totals.score, True)}
    out["health_band"] = pd.Series(totals.band, dtype="string")
    for cat_name, points in totals.category_points.items():
        out[f"{cat_name}_points"] = _int_column(points, integral)
    out["health_trend"] = _int_column(change, True)
    out["segment"] = pd.Series(segs, dtype="string")
    out["lifecycle_phase"] = pd.Series(phase, dtype="string")
    for column, group in (
        ("churn_signals", churn),
        ("upsell_signals", upsell),
        ("signals", signals),
    ):
        codes = join_codes([s.code for s in group], [s.active for s in group], n)
        out[column] = pd.Series(codes, dtype="string")
    missing = [m.status != 0 for m in totals.measures]
    names = [m.name for m in totals.measures]
    out["missing_measures"] = pd.Series(join_codes(names, missing, n), dtype="string")
    flags = {
        "unlinked_tenant": ~feats.linked,
        "no_contract_start": np.isnat(feats.frame["contract_start"].to_numpy("datetime64[D]")),
        "no_usage_rows": feats.linked & ~feats.frame["has_usage_rows"].to_numpy(dtype=bool),
    }
    out["data_quality"] = pd.Series(
        join_codes(list(flags), list(flags.values()), n), dtype="string"
    )
    out["explanation"] = pd.Series(explanation_text(totals, scorecard), dtype="string")
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
    )


def _signal_frame(account_ids: pd.Series, signals) -> pd.DataFrame:
    parts = []
    for s in signals:
        ids = account_ids[s.active]
        parts.append(
            pd.DataFrame(
                {"account_id": ids.to_numpy(), "code": s.code, "kind": s.kind}
                | {"severity": s.severity}
            )
        )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in SIGNAL_COLUMNS})
    frame = pd.concat(parts, ignore_index=True).astype("string")
    return frame.sort_values(["account_id", "code"], ignore_index=True)


def benchmark_table(frame: pd.DataFrame) -> dict[str, float]:
    """``industry, rate`` frame -> {industry: rate}."""
    if not {"industry", "rate"} <= set(frame.columns):
        raise InputDataError("benchmarks need the columns 'industry' and 'rate'")
    rates = pd.to_numeric(frame["rate"], errors="coerce")
    keys = frame["industry"].astype("string").str.strip()
    return {k: float(r) for k, r in zip(keys, rates, strict=True) if pd.notna(k) and pd.notna(r)}


__all__ = ["ScoreResult", "score_accounts", "benchmark_table", "NOT_APPLICABLE"]
