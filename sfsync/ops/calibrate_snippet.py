"""The scorecard YAML snippet that calibration proposes, and its check with the loader.

The snippet has the scorecard's own shape and holds only what changes:

- ``inputs``: the usage columns that proposed candidates read and no built-in input reads;
- ``categories.<CANDIDATE_CATEGORY>``: the proposed candidates as measures (numbers scored by
  their proposed bins, yes/no inputs by ``boolean`` points), the category's ``max_points``
  raised by their points (a new category when the scorecard has none of that name);
- ``categories.<category>.measures.<measure>.bins``: proposed bins of existing measures, with
  the measure's current maximum points.

Pasting it means what :func:`apply_snippet` does: mappings are merged key by key, a list (a
measure's ``bins``) replaces the one it lands on. :func:`verify_snippet` applies it to the live
scorecard and loads the result with the scorecard loader, so a snippet that is printed loads.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from sfsync.ops.calibrate_bins import MeasureBins, ProposedBin
from sfsync.ops.calibrate_candidates import CandidateResult
from sfsync.scoring import load_scorecard
from sfsync.scoring.scorecard import Scorecard

CANDIDATE_CATEGORY = "engagement_logs"
SUFFIX = "_this_month"
# inputs whose missing value means "not yet": no points (the others do not apply when missing)
MISSING_IS_ZERO = frozenset({"days_to_tutorial"})


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def bins_yaml(bins: list[ProposedBin]) -> list[dict[str, Any]]:
    """Bins as scorecard YAML: ``ge`` (inclusive) lower and ``lt`` (exclusive) upper bounds."""
    out = []
    for b in bins:
        row: dict[str, Any] = {}
        if b.lower is not None:
            row["ge"] = _number(b.lower)
        if b.upper is not None:
            row["lt"] = _number(b.upper)
        row["points"] = _number(b.points)
        out.append(row)
    return out


def measure_key(input_name: str, taken: set[str]) -> str:
    """The measure's name: its input without ``_this_month``, or the input when that is
    taken."""
    short = input_name.removesuffix(SUFFIX)
    return short if short not in taken else input_name


def candidate_measure(result: CandidateResult, label: str, language: str) -> dict[str, Any]:
    """A proposed candidate as a scorecard measure (raw YAML data)."""
    name = result.input
    data: dict[str, Any] = {"label": label, "labels": {language: label}}
    missing = "zero" if name in MISSING_IS_ZERO else "not_applicable"
    if result.bins is not None:
        data.update(type="bins", input=name, missing=missing, bins=bins_yaml(result.bins))
    else:
        good, bad = (result.points, 0) if result.higher_is_better else (0, result.points)
        data.update(type="boolean", input=name, missing=missing,
                    points_true=_number(good), points_false=_number(bad))  # fmt: skip
    return data


def build_snippet(
    card: Scorecard,
    candidates: list[CandidateResult],
    measure_bins: list[MeasureBins],
    *,
    label: Callable[[str], str],
    category_label: str,
    language: str,
) -> dict[str, Any]:
    """The snippet (raw YAML data) for the proposed candidates and bins; empty when there is
    nothing to propose. ``label(input)`` names a candidate in ``language``."""
    snippet: dict[str, Any] = {}
    proposed = [c for c in candidates if c.verdict == "proposed"]
    declared = {c.input: c.candidate.kind for c in proposed if c.candidate.declared}
    if declared:
        snippet["inputs"] = {n: {"source": "usage", "kind": k} for n, k in declared.items()}
    categories: dict[str, Any] = {}
    for b in measure_bins:
        measures = categories.setdefault(b.category, {}).setdefault("measures", {})
        measures[b.measure] = {"bins": bins_yaml(b.bins)}
    if proposed:
        taken = {name for _, name, _ in card.measures()}
        measures = {}
        for c in proposed:
            key = measure_key(c.input, taken)
            taken.add(key)
            measures[key] = candidate_measure(c, label(c.input), language)
        added = sum(c.points for c in proposed)
        existing = card.categories.get(CANDIDATE_CATEGORY)
        block: dict[str, Any] = categories.setdefault(CANDIDATE_CATEGORY, {})
        if existing is None:
            block.update(label=category_label, labels={language: category_label})
        block["max_points"] = _number(added + (existing.max_points if existing else 0))
        block.setdefault("measures", {}).update(measures)
    if categories:
        snippet["categories"] = categories
    return snippet


def apply_snippet(raw: dict[str, Any], snippet: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with ``snippet`` pasted in: mappings merged key by key, lists replaced."""
    out = dict(raw)
    for key, value in snippet.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply_snippet(out[key], value)
        else:
            out[key] = value
    return out


def snippet_text(snippet: dict[str, Any]) -> str:
    """The snippet as YAML in the scorecards' style (bins and labels on one line each)."""
    return yaml.safe_dump(
        snippet, allow_unicode=True, sort_keys=False, default_flow_style=None, width=100
    )


def verify_snippet(scorecard_path: Path, snippet: dict[str, Any]) -> None:
    """Paste ``snippet`` into the live scorecard (a copy) and load it with the scorecard
    loader: a ConfigError when the result would not load. The live file is not touched."""
    path = Path(scorecard_path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    merged = apply_snippet(raw, snippet)
    for key in ("rules_file", "benchmarks_file"):  # relative to the live file's folder
        if merged.get(key):
            merged[key] = str((path.parent / merged[key]).resolve())
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        copy.write_text(snippet_text(merged), encoding="utf-8")
        load_scorecard(copy)
