"""Explanations: why each account got its score.

- :func:`explanation_text` — one compact line per account for a Salesforce long-text field,
  e.g. ``Score 72 (yellow) | usage 23/40: deliveries 1–2 = 15/25; login days 1–5 = 8/15 | …``.
  The text depends only on which bin each measure fell in, so it is rendered once per distinct
  combination and broadcast (vectorised even for a million accounts).
- :func:`explanation_frame` — the long breakdown (input value, bin, points, status).
- :func:`render_account` — a readable multi-line report of one account (``sfsync explain``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sfsync.scoring.arrays import unique_inverse

if TYPE_CHECKING:
    from sfsync.scoring.engine import Totals
    from sfsync.scoring.scorecard import Scorecard

_STATUS = np.array(["scored", "missing_zero", "not_applicable"], dtype=object)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _states(totals: Totals) -> list[np.ndarray]:
    """Per measure, per account: bin index, or len(bins) for missing-zero, +1 for n/a."""
    return [
        np.where(m.status == 0, m.bin_index, len(m.bin_labels) + m.status - 1).astype(np.int64)
        for m in totals.measures
    ]


def _render(totals: Totals, card: Scorecard, row: int, states: list[np.ndarray]) -> str:
    score = totals.score[row]
    head = (
        f"Score {int(score)} ({totals.band_names[totals.band_code[row]]})"
        if not np.isnan(score)
        else "No score (no measure applies)"
    )
    parts = [head]
    by_category: dict[str, list[str]] = {}
    for j, m in enumerate(totals.measures):
        state = states[j][row]
        k = len(m.bin_labels)
        if state < k:
            text = f"{m.label} {m.bin_labels[state]} = {_fmt(m.points[row])}/{_fmt(m.max_points)}"
        elif state == k:
            text = f"{m.label} missing = 0/{_fmt(m.max_points)}"
        else:
            text = f"{m.label} not applicable"
        by_category.setdefault(m.category, []).append(text)
    for cat_name, texts in by_category.items():
        points = totals.category_points[cat_name][row]
        got = "n/a" if np.isnan(points) else _fmt(points)
        label = card.categories[cat_name].label or cat_name
        cat_max = _fmt(card.categories[cat_name].max_points)
        parts.append(f"{label} {got}/{cat_max}: " + "; ".join(texts))
    return " | ".join(parts)


def explanation_text(totals: Totals, card: Scorecard) -> pd.Series:
    """One explanation per account (a categorical Series of strings)."""
    n = len(totals.score)
    if n == 0 or not totals.measures:
        return pd.Series(pd.Categorical.from_codes(np.zeros(n, dtype=np.int64), categories=[""]))
    states = _states(totals)
    radices = [len(m.bin_labels) + 2 for m in totals.measures]
    bound = float(np.prod(np.array(radices, dtype=float)))
    if bound < 2**62:
        key = np.zeros(n, dtype=np.int64)
        for state, radix in zip(states, radices, strict=True):
            key = key * radix + state
        first, inverse = unique_inverse(key, int(bound))
    else:
        matrix = np.column_stack(states)
        _, first, inverse = np.unique(matrix, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
    texts = [_render(totals, card, row, states) for row in first]
    # A categorical column: accounts with the same breakdown share one string, which keeps a
    # million explanations to a few hundred distinct texts in memory.
    categories, remap = np.unique(np.array(texts, dtype=object), return_inverse=True)
    codes = remap.ravel()[inverse]
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype="string"))
    )


def _value_text(values: pd.Series) -> pd.Series:
    """Input values as short strings (numbers without a useless ``.0``), None for missing."""
    if pd.api.types.is_bool_dtype(values.dtype):
        text = values.astype("boolean").map({True: "yes", False: "no"})
        return text.astype("string")
    if pd.api.types.is_numeric_dtype(values.dtype):
        text = pd.Series(values, dtype="Float64").round(4).astype("string")
        return text.str.replace(r"\.0$", "", regex=True)
    return values.astype("string")


def explanation_frame(account_ids: pd.Series, totals: Totals) -> pd.DataFrame:
    """Long breakdown: one row per account and measure."""
    parts = []
    for m in totals.measures:
        labels = np.array(list(m.bin_labels) + [None], dtype=object)
        parts.append(
            pd.DataFrame(
                {
                    "account_id": account_ids.to_numpy(),
                    "category": m.category,
                    "measure": m.name,
                    "input_value": _value_text(m.value).to_numpy(),
                    "bin": labels[m.bin_index],
                    "points": m.points,
                    "max_points": m.max_points,
                    "status": _STATUS[m.status],
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            columns=[
                "account_id",
                "category",
                "measure",
                "input_value",
                "bin",
                "points",
                "max_points",
                "status",
            ]
        )
    # account-major order: all measures of the first account, then the next account, ...
    k, n = len(parts), len(account_ids)
    order = np.arange(k * n).reshape(k, n).T.ravel()
    return pd.concat(parts, ignore_index=True).take(order).reset_index(drop=True)


def render_account(scores_row: pd.Series, breakdown: pd.DataFrame, card: Scorecard) -> str:
    """A readable multi-line report of one account for ``sfsync explain``."""
    lines = [
        f"Account {scores_row['account_id']}  (scorecard: {card.name})",
        f"  Health score: {_na(scores_row['health_score'])}   band: {_na(scores_row['health_band'])}"
        f"   trend: {_na(scores_row['health_trend'])}",
        f"  Segment: {_na(scores_row['segment'])}   phase: {_na(scores_row['lifecycle_phase'])}",
        f"  Signals: {_na(scores_row['signals'], 'none')}",
        f"  Data quality: {_na(scores_row['data_quality'], 'ok')}",
        "",
    ]
    for cat_name, category in card.categories.items():
        points = scores_row.get(f"{cat_name}_points")
        lines.append(
            f"  {category.label or cat_name}: {_na(points, 'n/a')} / {_fmt(category.max_points)}"
        )
        rows = breakdown[breakdown["category"] == cat_name]
        for _, r in rows.iterrows():
            measure = card.categories[cat_name].measures[r["measure"]]
            label = measure.label or r["measure"]
            value = _na(r["input_value"], "missing")
            if r["status"] == "not_applicable":
                outcome = "not applicable (dropped, score re-normalised)"
            elif r["status"] == "missing_zero":
                outcome = f"missing -> 0 / {_fmt(r['max_points'])}"
            else:
                outcome = f"bin {r['bin']} -> {_fmt(r['points'])} / {_fmt(r['max_points'])}"
            lines.append(f"    - {label}: {value}  =>  {outcome}")
    lines.append("")
    lines.append(f"  Missing measures: {_na(scores_row['missing_measures'], 'none')}")
    return "\n".join(lines)


def _na(value, default: str = "-") -> str:
    return default if value is None or pd.isna(value) else str(value)
