"""Explanations: why each account got its score, in the language of a template set.

- :func:`explanation_text` — one text per account for a Salesforce long-text field: the score
  and band, the next action for the band, then one measure per line (``・配信数 1–2回 = 15/25``),
  a note when measures did not apply and the score was re-normalised, and the data-quality
  flags (Japanese templates; English on request). The text depends
  only on which bin each measure fell in (and the data-quality flags), so it is rendered once
  per distinct combination and broadcast as a pandas Categorical (vectorised even for a
  million accounts).
- :func:`explanation_frame` — the long breakdown (input value, bin, points, status).
- :func:`render_account` — a readable multi-line report of one account (``sfsync explain``).

Wording: sentence shapes from ``mappings/templates/<lang>/explanation.yaml``
(:mod:`sfsync.scoring.wording`); category, measure and bin labels from the scorecard, per
language (``labels: {ja: …}``) with ``label`` as the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sfsync.scoring.arrays import unique_inverse
from sfsync.scoring.engine import bin_labels
from sfsync.scoring.scorecard import (
    BenchmarkMeasure,
    BooleanMeasure,
    LookupMeasure,
    bin_points,
    localized,
)

if TYPE_CHECKING:
    from sfsync.scoring.engine import Totals
    from sfsync.scoring.scorecard import Scorecard
    from sfsync.scoring.wording import Wording

_STATUS = np.array(["scored", "missing_zero", "not_applicable"], dtype=object)


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Labels:
    """The scorecard's names in one language: categories, measures and each measure's bins."""

    categories: dict[str, str]
    measures: dict[str, str]
    bins: dict[str, list[str]]  # measure -> label per bin index (engine order)


def card_labels(card: Scorecard, wording: Wording) -> Labels:
    """Labels of ``card`` in ``wording``'s language (``labels[lang]``, else ``label``, else key)."""
    lang = wording.language
    categories = {
        name: localized(cat.labels, lang, cat.label or name)
        for name, cat in card.categories.items()
    }
    measures, bins = {}, {}
    for _, name, m in card.measures():
        measures[name] = localized(m.labels, lang, m.label or name)
        if isinstance(m, BooleanMeasure):
            keys = ["boolean_true", "boolean_false"]
            bins[name] = [wording.label("explanation_values", k) for k in keys]
        elif isinstance(m, BenchmarkMeasure):
            keys = ["below_benchmark", "average", "above_benchmark"]
            bins[name] = [wording.label("explanation_values", k) for k in keys]
        elif isinstance(m, LookupMeasure):
            groups = m.groups + ([m.other] if m.other is not None else [])
            bins[name] = [localized(g.labels, lang, g.label) for g in groups]
        else:  # bins and checklist measures
            bins[name] = [localized(b.labels, lang, b.describe()) for b in m.bins]
    return Labels(categories, measures, bins)


def flag_labels(codes: str | None, wording: Wording, separator: str) -> str | None:
    """``;``-joined data-quality codes as their labels (unknown codes are shown as they are)."""
    if codes is None or pd.isna(codes) or not codes:
        return None
    known = {k for (section, k, _) in wording.texts if section == "explanation_data_quality"}
    return separator.join(
        wording.label("explanation_data_quality", c) if c in known else c for c in codes.split(";")
    )


def _states(totals: Totals) -> list[np.ndarray]:
    """Per measure, per account: bin index, or len(bins) for missing-zero, +1 for n/a."""
    return [
        np.where(m.status == 0, m.bin_index, len(m.bin_labels) + m.status - 1).astype(np.int64)
        for m in totals.measures
    ]


def _measure_texts(totals: Totals, card: Scorecard, wording: Wording, labels: Labels):
    """Per measure, the rendered text of each state (bin 0..k-1, missing-zero, n/a).

    A state fixes the points too, so each text is rendered once per measure, not per account."""
    w = wording.text
    out = []
    for m in totals.measures:
        name = labels.measures[m.name]
        max_points = _fmt(m.max_points)
        points = bin_points(card.categories[m.category].measures[m.name])
        texts = [
            w("explanation", "measure").format(
                measure=name, bin=bin_label, points=_fmt(p), max_points=max_points
            )
            for bin_label, p in zip(labels.bins[m.name], points, strict=True)
        ]
        texts.append(
            w("explanation", "measure_missing").format(measure=name, max_points=max_points)
        )
        texts.append(
            w("explanation", "measure_not_applicable").format(measure=name, max_points=max_points)
        )
        out.append(texts)
    return out


def _render_rows(
    totals: Totals,
    card: Scorecard,
    rows: np.ndarray,
    states: list[np.ndarray],
    wording: Wording,
    flag_names: list[str],
) -> list[str]:
    """The explanation of each account in ``rows`` (one per distinct breakdown)."""
    w = wording.text
    labels = card_labels(card, wording)
    measure_texts = _measure_texts(totals, card, wording, labels)
    header, no_score = w("explanation", "header"), w("explanation", "no_score")
    category_tpl = w("explanation", "category")
    category_na_tpl = w("explanation", "category_not_applicable")
    dq_tpl = w("explanation", "data_quality")
    part_sep = w("explanation", "separators", "part")
    measure_sep = w("explanation", "separators", "measure")
    flag_sep = w("explanation", "separators", "flag")
    flag_text = {f: wording.label("explanation_data_quality", f) for f in flag_names}
    # plain Python values of the chosen rows (numpy scalar indexing is slow in a loop)
    picked = [state[rows].tolist() for state in states]
    scores = totals.score[rows].tolist()
    bands = [wording.band(totals.band_names[c]) for c in totals.band_code[rows].tolist()]
    band_names = [totals.band_names[c] for c in totals.band_code[rows].tolist()]
    action_tpl = w("explanation", "next_action")
    renormalised_tpl = w("explanation", "renormalised")
    categories = []  # (label, max text, measure indices, points per row, cap)
    for cat_name, category in card.categories.items():
        members = [j for j, m in enumerate(totals.measures) if m.category == cat_name]
        if members:
            points = totals.category_points[cat_name][rows].tolist()
            label = labels.categories[cat_name]
            cap = category.max_points if category.cap else None
            categories.append((label, _fmt(category.max_points), members, points, cap))
    not_applicable = [len(m.bin_labels) + 1 for m in totals.measures]
    nominal = _possible(totals, categories, lambda j: True)
    texts = []
    for i in range(len(rows)):
        score = scores[i]
        parts = [no_score if score != score else header.format(score=int(score), band=bands[i])]
        action = wording.action(band_names[i]) if score == score else None
        if action:
            parts.append(action_tpl.format(action=action))
        for label, max_text, members, points, _ in categories:
            measures = measure_sep.join(measure_texts[j][picked[j][i]] for j in members)
            got = points[i]
            if got != got:  # NaN: no measure of the category applies
                parts.append(
                    category_na_tpl.format(category=label, max_points=max_text, measures=measures)
                )
            else:
                parts.append(
                    category_tpl.format(
                        category=label, points=_fmt(got), max_points=max_text, measures=measures
                    )
                )
        applying = {j for j, na in enumerate(not_applicable) if picked[j][i] != na}
        possible = _possible(totals, categories, applying.__contains__)
        if score == score and 0 < possible < nominal:  # measures dropped: score re-normalised
            parts.append(renormalised_tpl.format(possible=_fmt(possible), total=_fmt(nominal)))
        if flag_names:
            bits = picked[-1][i]
            chosen = [flag_text[f] for b, f in enumerate(flag_names) if bits >> b & 1]
            if chosen:
                parts.append(dq_tpl.format(flags=flag_sep.join(chosen)))
        texts.append(part_sep.join(parts))
    return texts


def _possible(totals: Totals, categories, applies) -> float:
    """The points an account could earn from the measures for which ``applies(j)`` holds
    (capped categories capped), as the engine normalises the score."""
    total = 0.0
    for _, _, members, _, cap in categories:
        possible = sum(totals.measures[j].max_points for j in members if applies(j))
        total += min(possible, cap) if cap is not None else possible
    return total


def explanation_text(
    totals: Totals,
    card: Scorecard,
    wording: Wording,
    flags: dict[str, np.ndarray] | None = None,
) -> pd.Series:
    """One explanation per account in ``wording``'s language (a categorical Series of strings).

    ``flags``: data-quality flag code -> boolean mask per account; set flags are named at the
    end of the text with their template labels."""
    n = len(totals.score)
    if n == 0 or not totals.measures:
        return pd.Series(pd.Categorical.from_codes(np.zeros(n, dtype=np.int64), categories=[""]))
    flag_names = list(flags or {})
    states = _states(totals)
    radices = [len(m.bin_labels) + 2 for m in totals.measures]
    if flag_names:  # the set of flags is one more "measure" of the key
        bits = np.zeros(n, dtype=np.int64)
        for bit, name in enumerate(flag_names):
            bits |= np.asarray(flags[name], dtype=np.int64) << bit
        states.append(bits)
        radices.append(1 << len(flag_names))
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
    texts = _render_rows(totals, card, first, states, wording, flag_names)
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


def render_account(
    scores_row: pd.Series, breakdown: pd.DataFrame, card: Scorecard, wording: Wording
) -> str:
    """A readable multi-line report of one account for ``sfsync explain``, in ``wording``'s
    language."""

    def w(key: str, **values) -> str:
        return wording.text("explain_report", key).format(**values)

    def word(key: str) -> str:
        return wording.text("explain_report", "words", key)

    labels = card_labels(card, wording)
    flag_sep = wording.text("explanation", "separators", "flag")
    missing = scores_row["missing_measures"]
    missing_names = None
    if isinstance(missing, str) and missing:
        missing_names = flag_sep.join(labels.measures.get(m, m) for m in missing.split(";"))
    band = scores_row["health_band"]
    band = None if pd.isna(band) else band
    segment, phase = scores_row["segment"], scores_row["lifecycle_phase"]
    signals = scores_row["signals"]
    signal_names = None
    if isinstance(signals, str) and signals:
        signal_names = flag_sep.join(wording.signal(c) for c in signals.split(";"))
    lines = [
        w("title", account_id=scores_row["account_id"], scorecard=card.name),
        w(
            "score",
            score=_na(scores_row["health_score"]),
            band=_na(None if band is None else wording.band(band)),
            trend=_na(_trend_text(scores_row["health_trend"])),
        ),
        w(
            "segment",
            segment=_na(None if pd.isna(segment) else wording.segment(segment)),
            phase=_na(None if pd.isna(phase) else wording.phase(phase)),
        ),
        w("signals", signals=_na(signal_names, word("none"))),
        w(
            "data_quality",
            flags=_na(flag_labels(scores_row["data_quality"], wording, flag_sep), word("ok")),
        ),
    ]
    action = wording.action(band)
    if action:
        lines.append(w("next_action", action=action))
    lines.append("")
    for cat_name, category in card.categories.items():
        points = scores_row.get(f"{cat_name}_points")
        lines.append(
            w(
                "category",
                category=labels.categories[cat_name],
                points=_na(points, word("not_available")),
                max_points=_fmt(category.max_points),
            )
        )
        rows = breakdown[breakdown["category"] == cat_name]
        for _, r in rows.iterrows():
            measure = r["measure"]
            values = {
                "measure": labels.measures[measure],
                "value": _na(human_value(r["input_value"], wording), word("missing_value")),
            }
            if r["status"] == "not_applicable":
                lines.append(w("measure_not_applicable", **values))
            elif r["status"] == "missing_zero":
                lines.append(w("measure_missing", max_points=_fmt(r["max_points"]), **values))
            else:
                lines.append(
                    w(
                        "measure",
                        bin=_bin_label(card, labels, cat_name, measure, r["bin"]),
                        points=_fmt(r["points"]),
                        max_points=_fmt(r["max_points"]),
                        **values,
                    )
                )
    lines.append("")
    lines.append(w("missing_measures", measures=_na(missing_names, word("none"))))
    return "\n".join(lines)


def _bin_label(card: Scorecard, labels: Labels, category: str, measure: str, canonical) -> str:
    """The localised label of the bin whose canonical label (engine order) is ``canonical``."""
    canonical_labels = bin_labels(card.categories[category].measures[measure])
    try:
        return labels.bins[measure][canonical_labels.index(canonical)]
    except ValueError:
        return str(canonical)


def human_number(value: float) -> str:
    """A number as people read it: whole numbers without decimals, numbers of 10 and more
    rounded to whole numbers, smaller ones to two significant digits (2.7857 -> 2.8)."""
    if value != value:
        return "-"
    if float(value).is_integer() or abs(value) >= 10:
        return f"{round(value):d}"
    return f"{value:.2g}"


def human_value(text, wording: Wording):
    """A breakdown input value (``_value_text``) for people: yes/no in the template language,
    numbers rounded (:func:`human_number`), anything else as it is; None stays None."""
    if text is None or pd.isna(text):
        return None
    if text in ("yes", "no"):
        key = "boolean_true" if text == "yes" else "boolean_false"
        return wording.label("explanation_values", key)
    try:
        number = float(text)
    except ValueError:
        return text
    return human_number(number)


def _trend_text(value):
    """The trend with its sign (+5, -12, 0); None when there is none."""
    if value is None or pd.isna(value):
        return None
    number = float(value)
    return ("+" if number > 0 else "") + human_number(number)


def _na(value, default: str = "-") -> str:
    return default if value is None or pd.isna(value) else str(value)
