"""Calibration (seed 000, step 2): compare the score history with what actually happened.

From the snapshots in the state store (overall score, band, per-measure points) and each
account's outcome (churned or retained, ``sfsync.ops.outcomes``) this reports churn rate per
band, the AUC of the overall score and of each measure (with counts, so small samples are
visible), suggested maximum points per measure (``calibrate_stats.suggest_points``), and writes
a proposed scorecard next to the live one (``<name>.proposed.yaml``): the live scorecard with
each measure's points scaled to its suggested maximum and category maxima updated so that it
validates with the scoring engine's loader. The live scorecard is never changed.

Given a way to read the job's frames as of a date (``read_inputs``), it also evaluates the
*candidate inputs* the scorecard does not read — the engagement logs and the other usage
figures — at the same observations (``calibrate_inputs``, ``calibrate_candidates``), proposes
which to add, proposes bin edges for the ``bins`` measures and the proposed candidates
(``calibrate_bins``), and prints them as a scorecard YAML snippet checked with the loader
(``calibrate_snippet``).

One observation per account: its snapshot in ``[date_from, date_to]`` that is the last
(``pick="last"``, default) or first (``pick="first"``) one dated before its churn date.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import structlog
import yaml

from sfsync.configfile import validate_data
from sfsync.errors import ConfigError, InputDataError
from sfsync.ops.calibrate_bins import MeasureBins, measure_bins
from sfsync.ops.calibrate_candidates import (
    CandidateResult,
    candidate_inputs,
    evaluate_candidates,
)
from sfsync.ops.calibrate_flags import (
    BackwardMeasure,
    BandInversion,
    backwards_measures,
    band_inversions,
)
from sfsync.ops.calibrate_inputs import ReadFrames, observation_inputs
from sfsync.ops.calibrate_snippet import build_snippet, verify_snippet
from sfsync.ops.calibrate_stats import (
    MeasureSeparation,
    auc_retained_above_churned,
    churn_by_band,
    suggest_points,
)
from sfsync.scoring import load_scorecard
from sfsync.scoring.scorecard import Scorecard, localized, max_points, measure_inputs
from sfsync.state.snapshots import history
from sfsync.templates import DEFAULT_LANGUAGE

log = structlog.get_logger(__name__)

MIN_CHURNED_WARNING = 10  # below this many churned accounts the figures are noted as fragile


def read_history(store: Any, scorecard: str, date_from: date, date_to: date) -> pd.DataFrame:
    """Snapshots of ``scorecard`` dated ``date_from..date_to``: account_id, as_of,
    health_score, health_band and one column per measure (points; NaN = did not apply)."""
    frame = history(store, date_from, date_to, scorecard=scorecard, with_measure_points=True)
    frame = frame[["account_id", "as_of", "health_score", "health_band", "measure_points"]]
    points = pd.DataFrame.from_records(
        [json.loads(p) if p else {} for p in frame["measure_points"]], index=frame.index
    ).astype("float64")
    frame = pd.concat([frame.drop(columns="measure_points"), points], axis=1)
    score = frame["health_score"].astype("object")  # int64, or float64 with NaN when missing
    frame["health_score"] = pd.to_numeric(score.where(score.notna(), None), errors="coerce")
    return frame


def observations(history: pd.DataFrame, outcomes: pd.DataFrame, pick: str = "last") -> pd.DataFrame:
    """One row per account with an outcome: its chosen snapshot plus ``churned`` (pure)."""
    merged = history.merge(outcomes, on="account_id", how="inner")
    before_churn = merged["churn_date"].isna() | (merged["as_of"] < merged["churn_date"])
    merged = merged.loc[before_churn].sort_values(["account_id", "as_of"])
    grouped = merged.groupby("account_id", sort=True)
    chosen = grouped.tail(1) if pick == "last" else grouped.head(1)
    return chosen.reset_index(drop=True)


@dataclass
class CalibrationReport:
    """Everything ``sfsync calibrate`` prints and draws."""

    scorecard: str
    date_from: date
    date_to: date
    accounts: int
    churned: int
    snapshots: int
    bands: pd.DataFrame
    overall_auc: float | None
    measures: list[MeasureSeparation]
    categories: dict[str, str] = field(default_factory=dict)  # measure -> category
    proposed_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # measure/category -> label (language)
    backwards: list[BackwardMeasure] = field(default_factory=list)
    band_inversions: list[BandInversion] = field(default_factory=list)
    scorecard_file: str = ""  # the live scorecard's file name
    inputs_read: bool = False  # the inputs' values were read: candidates and bins below
    candidates: list[CandidateResult] = field(default_factory=list)
    measure_bins: list[MeasureBins] = field(default_factory=list)
    no_edges: list[str] = field(default_factory=list)  # bins measures no edge separates
    snippet: dict[str, Any] = field(default_factory=dict)  # checked with the loader

    def label(self, name: str) -> str:
        """A measure's or category's label in the report's language (its name when none)."""
        return self.labels.get(name, name)


def calibrate(
    store: Any,
    scorecard_path: Path,
    outcomes: pd.DataFrame,
    date_from: date,
    date_to: date,
    *,
    pick: str = "last",
    write_proposal: bool = True,
    shrinkage_accounts: int = 50,
    language: str | None = None,
    read_inputs: ReadFrames | None = None,
    input_label: Callable[[str], str] = str,
    category_label: str = "engagement logs",
) -> CalibrationReport:
    """Measure, suggest, flag, and write the proposed scorecard (see the module docstring).

    Measures and categories are labelled in ``language`` (the scorecard's ``labels``); measures
    that predict backwards and bands out of order are flagged (:mod:`calibrate_flags`).
    With ``read_inputs`` (the job's frames as of a date) the candidate inputs, bins and the
    snippet are added; ``input_label`` and ``category_label`` name the snippet's measures and
    category in ``language``."""
    card = load_scorecard(scorecard_path)
    history = read_history(store, card.name, date_from, date_to)
    if history.empty:
        raise InputDataError(
            f"no score snapshots of scorecard {card.name!r} between {date_from} and {date_to}",
            hint="run `sfsync backfill JOB --from … --to …` first to build the history",
        )
    obs = observations(history, outcomes, pick)
    if obs.empty:
        raise InputDataError(
            "no account of the score history has an outcome",
            hint="check that the outcomes use the same 18-character Account Ids",
        )
    measure_max = {name: card.measure_max(m) for _, name, m in card.measures()}
    churned = obs["churned"].astype(bool)
    suggestions = suggest_points(obs, measure_max, shrinkage_accounts=shrinkage_accounts)
    report = CalibrationReport(
        scorecard=card.name,
        date_from=date_from,
        date_to=date_to,
        accounts=len(obs),
        churned=int(churned.sum()),
        snapshots=len(history),
        bands=churn_by_band(obs),
        overall_auc=auc_retained_above_churned(obs["health_score"], churned),
        measures=suggestions,
        categories={name: cat for cat, name, _ in card.measures()},
        scorecard_file=Path(scorecard_path).name,
        labels={
            **{
                c: localized(cat.labels, language, cat.label or c)
                for c, cat in card.categories.items()
            },
            **{
                n: localized(getattr(m, "labels", {}), language, getattr(m, "label", None) or n)
                for _, n, m in card.measures()
            },
        },  # fmt: skip
    )
    report.backwards = backwards_measures(suggestions)
    report.band_inversions = band_inversions(report.bands)
    if read_inputs is not None:
        _propose_inputs(report, card, obs, read_inputs, shrinkage_accounts)
        report.snippet = build_snippet(
            card, report.candidates, report.measure_bins, label=input_label,
            category_label=category_label, language=language or DEFAULT_LANGUAGE,
        )  # fmt: skip
        if report.snippet:
            verify_snippet(scorecard_path, report.snippet)
    if write_proposal:
        report.proposed_path = write_proposed_scorecard(scorecard_path, card, suggestions)
    log.info("calibration_done", scorecard=card.name, accounts=report.accounts,
             churned=report.churned, overall_auc=report.overall_auc)  # fmt: skip
    return report


def _propose_inputs(
    report: CalibrationReport,
    card: Scorecard,
    obs: pd.DataFrame,
    read_inputs: ReadFrames,
    shrinkage_accounts: int,
) -> None:
    """Read the inputs' values at the observations; judge the candidates, propose bins."""
    declared = {name: spec.source for name, spec in card.inputs.items()}
    values, extra = observation_inputs(obs, read_inputs, declared)
    churned = obs["churned"].astype(bool)
    read = {i for _, _, m in card.measures() for i in measure_inputs(m)}
    measure_names = [m.measure for m in report.measures if m.measure in obs.columns]
    report.inputs_read = True
    report.candidates = evaluate_candidates(
        candidate_inputs(read, extra), values, churned, obs[measure_names], report.measures,
        shrinkage_accounts=shrinkage_accounts,
    )  # fmt: skip
    report.measure_bins, report.no_edges = measure_bins(card, values, churned)


def proposed_path_for(scorecard_path: Path) -> Path:
    return scorecard_path.with_name(f"{scorecard_path.stem}.proposed.yaml")


def _round(value: float) -> float | int:
    value = round(value, 1)
    return int(value) if float(value).is_integer() else value


def _scale_measure(data: dict, factor: float) -> None:
    """Multiply every point value of one measure (raw YAML dict) by ``factor``, in place."""
    kind = data.get("type")
    if kind in ("bins", "checklist"):
        for b in data["bins"]:
            b["points"] = _round(b["points"] * factor)
    elif kind == "lookup":
        for g in data["groups"]:
            g["points"] = _round(g["points"] * factor)
        if data.get("other"):
            data["other"]["points"] = _round(data["other"]["points"] * factor)
    elif kind == "boolean":
        data["points_true"] = _round(data["points_true"] * factor)
        data["points_false"] = _round(data["points_false"] * factor)
    elif kind == "benchmark":
        for k in ("below", "average", "above"):
            data["points"][k] = _round(data["points"][k] * factor)


def proposed_scorecard(raw: dict, card: Any, suggestions: list[MeasureSeparation]) -> dict:
    """The live scorecard (raw YAML data) with points scaled to the suggested maxima (pure)."""
    out = json.loads(json.dumps(raw))  # deep copy of plain YAML data
    suggested = {s.measure: s.suggested_max for s in suggestions}
    for cat_name, category in card.categories.items():
        raw_cat = out["categories"][cat_name]
        old_total = sum(card.measure_max(m) for m in category.measures.values())
        new_total = 0.0
        for name, measure in category.measures.items():
            current = card.measure_max(measure)
            target = suggested.get(name, current)
            factor = target / current if current else 1.0
            _scale_measure(raw_cat["measures"][name], factor)
            scaled = validate_data("<proposed>", raw_cat["measures"][name], type(measure))
            new_total += max_points(scaled) * measure.weight
        if new_total <= 0:  # a category must keep some points: give each measure's top one
            for name in category.measures:
                _scale_measure_top_to(raw_cat["measures"][name], 1.0)
            new_total = sum(m.weight for m in category.measures.values())
        if category.cap:
            raw_cat["max_points"] = _round(category.max_points * new_total / old_total)
        else:
            raw_cat["max_points"] = _round(new_total)
    out["description"] = (
        f"{raw.get('description') or card.name} - proposed by sfsync calibrate"
    ).strip()
    return out


def _scale_measure_top_to(data: dict, value: float) -> None:
    kind = data.get("type")
    if kind in ("bins", "checklist"):
        max(data["bins"], key=lambda b: b["points"])["points"] = value
    elif kind == "lookup":
        max(data["groups"], key=lambda g: g["points"])["points"] = value
    elif kind == "boolean":
        data["points_true"] = value
    elif kind == "benchmark":
        data["points"]["above"] = value


def write_proposed_scorecard(
    scorecard_path: Path, card: Any, suggestions: list[MeasureSeparation]
) -> Path:
    """Write ``<name>.proposed.yaml`` beside the live file and check it loads; return its path."""
    raw = yaml.safe_load(Path(scorecard_path).read_text(encoding="utf-8"))
    proposal = proposed_scorecard(raw, card, suggestions)
    path = proposed_path_for(Path(scorecard_path))
    header = (
        f"# Proposed by `sfsync calibrate` from {Path(scorecard_path).name}: points per measure\n"
        "# scaled to the suggested maxima. The live scorecard is unchanged; review this file\n"
        "# and copy it over the live one (or point a job at it) to use it.\n"
    )
    text = yaml.safe_dump(proposal, allow_unicode=True, sort_keys=False, width=100)
    path.write_text(header + text, encoding="utf-8")
    try:
        load_scorecard(path)
    except ConfigError:
        path.unlink(missing_ok=True)
        raise
    return path


def suggestion_table(report: CalibrationReport) -> list[dict[str, Any]]:
    """Rows for the HTML page and JSON output."""
    return [
        {
            "measure": m.measure,
            "category": report.categories.get(m.measure, ""),
            "auc": None if m.auc is None or math.isnan(m.auc) else round(m.auc, 3),
            "accounts": m.n_accounts,
            "current_max": m.current_max,
            "suggested_max": m.suggested_max,
        }
        for m in report.measures
    ]
