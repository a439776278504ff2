"""The calibration report's sections on inputs: the candidate inputs not in the scorecard
(AUC, direction, accounts, verdict), the proposed bin edges with each bin's churn rate, and
the scorecard YAML snippet — as printed lines and as HTML, in the language of the
``calibration`` templates. Inputs are named by the ``calibration_inputs`` templates, measures
and categories by the scorecard's labels: no internal code is shown.
"""

from __future__ import annotations

from html import escape

from sfsync.ops.calibrate import CalibrationReport
from sfsync.ops.calibrate_bins import ProposedBin
from sfsync.ops.calibrate_candidates import (
    MIN_COVERAGE,
    MIN_PER_CLASS,
    MIN_SEPARATION,
    REDUNDANT_RHO,
    CandidateResult,
)
from sfsync.ops.calibrate_snippet import snippet_text
from sfsync.templates import TemplateSet

INPUTS_SECTION = "calibration_inputs"


def text(templates: TemplateSet, key: str, **values) -> str:
    """The ``calibration`` template ``key`` rendered with ``values``."""
    return templates.render("calibration", key, values)["text"]


def input_label(templates: TemplateSet, name: str) -> str:
    """An input's label (``calibration_inputs``); a usage column's name in words otherwise."""
    if templates.has(INPUTS_SECTION, name):
        return templates.render(INPUTS_SECTION, name, {})["text"]
    return text(templates, "usage_column", column=name)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:,g}"


def bin_text(templates: TemplateSet, b: ProposedBin) -> str:
    """One bin's range, churn rate and points in words."""
    if b.lower is None:
        span = text(templates, "bin_below", upper=_number(b.upper))
    elif b.upper is None:
        span = text(templates, "bin_above", lower=_number(b.lower))
    else:
        span = text(templates, "bin_between", lower=_number(b.lower), upper=_number(b.upper))
    return text(templates, "bin_part", bin=span, rate=f"{b.churn_rate:.0%}", churned=b.churned,
                accounts=b.accounts, points=_number(b.points))  # fmt: skip


def _verdict(report: CalibrationReport, templates: TemplateSet, c: CandidateResult) -> str:
    if c.verdict == "proposed":
        return text(templates, "verdict_proposed", category=text(templates, "candidate_category"),
                    points=_number(c.points))  # fmt: skip
    if c.verdict == "redundant":
        like = report.label(c.like) if c.like_measure else input_label(templates, str(c.like))
        return text(templates, "verdict_redundant", like=like, rho=f"{c.rho:.2f}")
    if c.verdict == "few":
        return text(templates, "verdict_few", churned=c.churned, retained=c.accounts - c.churned)
    if c.verdict == "weak":
        return text(templates, "verdict_weak", min_auc=f"{MIN_SEPARATION:.2f}")
    return text(templates, f"verdict_{c.verdict}")


def candidate_rows(report: CalibrationReport, templates: TemplateSet) -> list[list[str]]:
    """Per candidate, best first: input, AUC, direction, accounts (share), verdict."""
    rows = []
    for c in report.candidates:
        auc = text(templates, "no_value") if c.separation is None else f"{c.separation:.2f}"
        direction = "" if c.auc is None else text(
            templates, "higher_renews" if c.higher_is_better else "lower_renews"
        )  # fmt: skip
        accounts = text(templates, "accounts_coverage", accounts=f"{c.accounts:,}",
                        coverage=f"{c.coverage:.0%}")  # fmt: skip
        rows.append([input_label(templates, c.input), auc, direction, accounts,
                     _verdict(report, templates, c)])  # fmt: skip
    return rows


def _summary(report: CalibrationReport, templates: TemplateSet) -> str:
    proposed = sum(1 for c in report.candidates if c.verdict == "proposed")
    return text(templates, "candidates_summary", count=len(report.candidates), proposed=proposed,
                min_auc=f"{MIN_SEPARATION:.2f}", min_coverage=f"{MIN_COVERAGE:.0%}",
                min_class=MIN_PER_CLASS, max_rho=f"{REDUNDANT_RHO:.1f}")  # fmt: skip


def bin_lines(report: CalibrationReport, templates: TemplateSet) -> list[str]:
    """One line per measure and proposed candidate with proposed bins."""
    separator = text(templates, "bin_separator")
    named = [(report.label(b.measure), b.bins) for b in report.measure_bins]
    named += [(input_label(templates, c.input), c.bins) for c in report.candidates if c.bins]
    return [
        text(templates, "bins_line", measure=name,
             bins=separator.join(bin_text(templates, b) for b in bins))
        for name, bins in named
    ]  # fmt: skip


def _no_edges(report: CalibrationReport, templates: TemplateSet) -> str | None:
    if not report.no_edges:
        return None
    separator = "、" if templates.language == "ja" else ", "
    names = separator.join(report.label(m) for m in report.no_edges)
    return text(templates, "no_edges", measures=names)


def input_lines(report: CalibrationReport, templates: TemplateSet) -> list[str]:
    """The printed sections (empty when the inputs were not read)."""
    if not report.inputs_read:
        return []
    t = templates
    lines = ["", text(t, "candidates_title"), _summary(report, t),
             "  ".join(text(t, f"col_{c}") for c in
                       ("input", "auc", "direction", "accounts", "verdict"))]  # fmt: skip
    lines += ["  ".join(cell for cell in row if cell) for row in candidate_rows(report, t)]
    bins = bin_lines(report, t)
    if bins:
        lines += ["", text(t, "bins_title"), text(t, "bins_rule"), *bins]
    no_edges = _no_edges(report, t)
    if no_edges:
        lines.append(no_edges)
    lines.append("")
    if report.snippet:
        lines += [text(t, "snippet_title"), text(t, "snippet_how", file=report.scorecard_file),
                  "", snippet_text(report.snippet).rstrip(), ""]  # fmt: skip
    else:
        lines.append(text(t, "no_snippet"))
    return lines


def input_html(report: CalibrationReport, templates: TemplateSet, *, chart: str = "") -> str:
    """The same sections as HTML (``chart``, a table, bin lists and the snippet in ``<pre>``)."""
    if not report.inputs_read:
        return ""
    t = templates
    head = "".join(
        f"<th>{escape(text(t, f'col_{c}'))}</th>"
        for c in ("input", "auc", "direction", "accounts", "verdict")
    )
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
        for row in candidate_rows(report, t)
    )
    parts = [f"<h2>{escape(text(t, 'candidates_title'))}</h2>",
             f"<p>{escape(_summary(report, t))}</p>", chart,
             f"<table><tr>{head}</tr>{rows}</table>"]  # fmt: skip
    bins = bin_lines(report, t)
    if bins:
        items = "".join(f"<li>{escape(line)}</li>" for line in bins)
        parts.append(f"<h2>{escape(text(t, 'bins_title'))}</h2>"
                     f"<p>{escape(text(t, 'bins_rule'))}</p><ul>{items}</ul>")  # fmt: skip
    no_edges = _no_edges(report, t)
    if no_edges:
        parts.append(f"<p>{escape(no_edges)}</p>")
    if report.snippet:
        how = text(t, "snippet_how", file=report.scorecard_file)
        parts.append(f"<h2>{escape(text(t, 'snippet_title'))}</h2><p>{escape(how)}</p>"
                     f"<pre>{escape(snippet_text(report.snippet))}</pre>")  # fmt: skip
    else:
        parts.append(f"<p>{escape(text(t, 'no_snippet'))}</p>")
    return "\n".join(parts)
