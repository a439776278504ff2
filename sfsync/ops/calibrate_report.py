"""The calibration report as one self-contained HTML page (inline SVG, no scripts, no links)
and as printed text, in the language of the ``calibration`` templates (ja default, en), with
the warnings of :mod:`sfsync.ops.calibrate_flags` (measures predicting backwards, bands out of
order) at the top. Three charts: churn rate per band (with counts), AUC per measure (0.5 line = no separation),
current versus suggested maximum points per measure; when the inputs were read, a fourth (AUC
of the inputs not in the scorecard) and the sections of :mod:`calibrate_report_inputs`.
"""

from __future__ import annotations

from html import escape

from sfsync.labels import Labels
from sfsync.ops.calibrate import MIN_CHURNED_WARNING, CalibrationReport, suggestion_table
from sfsync.ops.calibrate_report_inputs import input_html, input_label, input_lines
from sfsync.ops.calibrate_report_inputs import text as _c
from sfsync.templates import TemplateSet

BAND_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "orange": "#ef6c00", "red": "#c62828"}
WIDTH = 640
BAR = 26
CANDIDATE_LABELS = 300  # the inputs' labels are long ("days from contract start to …")


def _bar_chart(title: str, rows: list[tuple[str, float, str, str]], *, max_value: float,
               marker: float | None = None, marker_label: str = "", left: int = 170) -> str:  # fmt: skip
    """Horizontal bars: (label, value, colour, text shown after the bar); ``left`` is the
    width the labels get."""
    right = 150
    span = WIDTH - left - right
    height = 40 + BAR * len(rows) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="18" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value, colour, text) in enumerate(rows):
        y = 32 + i * BAR
        width = 0 if max_value <= 0 else max(0.0, value) / max_value * span
        parts.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y + 4}" width="{width:.1f}" height="{BAR - 8}" '
            f'fill="{colour}"><title>{escape(label)}: {escape(text)}</title></rect>'
        )
        parts.append(f'<text x="{left + width + 6:.1f}" y="{y + 17}">{escape(text)}</text>')
    if marker is not None and max_value > 0:
        x = left + marker / max_value * span
        parts.append(
            f'<line x1="{x:.1f}" y1="28" x2="{x:.1f}" y2="{height - 6}" stroke="#555" '
            f'stroke-dasharray="4 3"/><text x="{x + 4:.1f}" y="{height - 2}" '
            f'font-size="11">{escape(marker_label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _pair_chart(title: str, rows: list[tuple[str, float, float]], legend: tuple[str, str]) -> str:
    """Two bars per measure: current (grey) and suggested (blue) maximum points."""
    left, right = 170, 80
    span = WIDTH - left - right
    top = max([max(c, s) for _, c, s in rows] + [1.0])
    step = 2 * BAR - 10
    height = 50 + step * len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="18" font-weight="bold">{escape(title)}</text>',
        '<rect x="400" y="6" width="12" height="12" fill="#9e9e9e"/>'
        f'<text x="416" y="17" font-size="12">{escape(legend[0])}</text>',
        '<rect x="480" y="6" width="12" height="12" fill="#1565c0"/>'
        f'<text x="496" y="17" font-size="12">{escape(legend[1])}</text>',
    ]
    for i, (label, current, suggested) in enumerate(rows):
        y = 34 + i * step
        parts.append(f'<text x="{left - 8}" y="{y + 18}" text-anchor="end">{escape(label)}</text>')
        for j, (value, colour) in enumerate(((current, "#9e9e9e"), (suggested, "#1565c0"))):
            width = value / top * span
            yy = y + j * 16
            parts.append(
                f'<rect x="{left}" y="{yy}" width="{width:.1f}" height="14" fill="{colour}"/>'
                f'<text x="{left + width + 4:.1f}" y="{yy + 12}" font-size="12">{value:g}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _auc(templates: TemplateSet, auc: float | None) -> str:
    return _c(templates, "no_value") if auc is None else f"{auc:.2f}"


def flag_lines(report: CalibrationReport, templates: TemplateSet) -> tuple[list[str], list[str]]:
    """The warnings in the report's language: (measures predicting backwards, bands out of
    order)."""
    labels = Labels(templates)
    backwards = [
        _c(templates, "backwards", measure=report.label(b.measure), auc=f"{b.auc:.2f}",
           accounts=f"{b.accounts:,}")
        for b in report.backwards
    ]  # fmt: skip
    bands = [
        _c(templates, "band_inversion", better=labels.band_label(b.better),
           better_rate=f"{b.better_rate:.0%}", worse=labels.band_label(b.worse),
           worse_rate=f"{b.worse_rate:.0%}")
        for b in report.band_inversions
    ]  # fmt: skip
    return backwards, bands


def _summary(report: CalibrationReport, templates: TemplateSet) -> list[str]:
    lines = [
        _c(templates, "summary", date_from=report.date_from, date_to=report.date_to,
           accounts=f"{report.accounts:,}", churned=f"{report.churned:,}",
           retained=f"{report.accounts - report.churned:,}", snapshots=f"{report.snapshots:,}",
           auc=_auc(templates, report.overall_auc))
    ]  # fmt: skip
    if report.churned < MIN_CHURNED_WARNING:
        lines.append(_c(templates, "few_churned", churned=report.churned))
    return lines


def render_text(report: CalibrationReport, templates: TemplateSet) -> str:
    """The printed summary in the templates' language: figures, tables and the warnings."""
    t, labels = templates, Labels(templates)
    lines = [_c(t, "title", scorecard=report.scorecard), *_summary(report, t), ""]
    head = [_c(t, f"col_{c}") for c in ("band", "accounts", "churned", "rate")]
    lines.append("  ".join(head))
    for row in report.bands.itertuples(index=False):
        rate = _c(t, "no_value") if row.accounts == 0 else f"{row.churn_rate:.0%}"
        lines.append(f"{labels.band_label(row.health_band)}  {row.accounts:,}  {row.churned:,}  "
                     f"{rate}")  # fmt: skip
    lines += ["", "  ".join(_c(t, f"col_{c}") for c in
                            ("measure", "auc", "accounts", "current", "suggested"))]  # fmt: skip
    for r in suggestion_table(report):
        lines.append(f"{report.label(r['measure'])}  {_auc(t, r['auc'])}  {r['accounts']:,}  "
                     f"{r['current_max']:g}  {r['suggested_max']:g}")  # fmt: skip
    backwards, bands = flag_lines(report, t)
    lines.append("")
    if backwards:
        lines += [_c(t, "backwards_title"), *(f"  - {b}" for b in backwards)]
    if bands:
        lines += [_c(t, "bands_title"), *(f"  - {b}" for b in bands)]
    if not backwards and not bands:
        lines.append(_c(t, "no_flags"))
    lines += input_lines(report, t)
    if report.proposed_path:
        lines += ["", _c(t, "proposed", path=report.proposed_path)]
    lines += report.notes
    return "\n".join(lines)


def render_html(report: CalibrationReport, templates: TemplateSet) -> str:
    """The whole page as a string, in the templates' language."""
    t, labels = templates, Labels(templates)
    band_rows = []
    for row in report.bands.itertuples(index=False):
        rate = 0.0 if row.accounts == 0 else float(row.churn_rate)
        text = _c(t, "band_empty") if row.accounts == 0 else _c(
            t, "band_rate", rate=f"{rate:.0%}", churned=row.churned, accounts=row.accounts
        )  # fmt: skip
        band_rows.append((labels.band_label(row.health_band), rate,
                          BAND_COLOURS.get(row.health_band, "#777"), text))  # fmt: skip
    table = suggestion_table(report)
    backwards = {b.measure for b in report.backwards}
    auc_rows = [
        (report.label(r["measure"]), r["auc"] or 0.0,
         "#c62828" if r["measure"] in backwards
         else "#1565c0" if (r["auc"] or 0) > 0.5 else "#9e9e9e",
         _c(t, "auc_value", auc=f"{r['auc']:.2f}", accounts=r["accounts"])
         if r["auc"] is not None else _c(t, "no_value"))
        for r in table
    ]  # fmt: skip
    rows_html = "".join(
        f"<tr><td>{escape(report.label(r['measure']))}</td>"
        f"<td>{escape(report.label(r['category']))}</td>"
        f"<td>{escape(_auc(t, r['auc']))}</td><td>{r['accounts']}</td>"
        f"<td>{r['current_max']:g}</td><td>{r['suggested_max']:g}</td></tr>"
        for r in table
    )
    head = "".join(
        f"<th>{escape(_c(t, f'col_{c}'))}</th>"
        for c in ("measure", "category", "auc", "accounts", "current", "suggested")
    )
    summary = "".join(f"<p>{escape(line)}</p>" for line in _summary(report, t))
    flag_backwards, flag_bands = flag_lines(report, t)
    flags = ""
    if flag_backwards:
        items = "".join(f"<li>{escape(x)}</li>" for x in flag_backwards)
        flags += f'<h2 class="flag">{escape(_c(t, "backwards_title"))}</h2><ul>{items}</ul>'
    if flag_bands:
        items = "".join(f"<li>{escape(x)}</li>" for x in flag_bands)
        flags += f'<h2 class="flag">{escape(_c(t, "bands_title"))}</h2><ul>{items}</ul>'
    if not flags:
        flags = f"<p>{escape(_c(t, 'no_flags'))}</p>"
    notes = "".join(f"<p class=note>{escape(n)}</p>" for n in report.notes)
    proposed = (
        f"<p>{escape(_c(t, 'proposed', path=report.proposed_path))}</p>"
        if report.proposed_path
        else ""
    )
    title = _c(t, "title", scorecard=report.scorecard)
    band_chart = _bar_chart(_c(t, "chart_bands"), band_rows,
                            max_value=max([r[1] for r in band_rows] + [0.01]))  # fmt: skip
    auc_chart = _bar_chart(_c(t, "chart_auc"), auc_rows, max_value=1.0, marker=0.5,
                           marker_label=_c(t, "chance"))  # fmt: skip
    candidate_chart = _bar_chart(
        _c(t, "chart_candidates"),
        [(input_label(t, c.input), c.separation or 0.0,
          "#1565c0" if c.verdict == "proposed" else "#9e9e9e",
          _c(t, "auc_value", auc=f"{c.separation:.2f}", accounts=c.accounts)
          if c.separation is not None else _c(t, "no_value"))
         for c in report.candidates],
        max_value=1.0, marker=0.5, marker_label=_c(t, "chance"), left=CANDIDATE_LABELS,
    ) if report.candidates else ""  # fmt: skip
    points_chart = _pair_chart(
        _c(t, "chart_points"),
        [(report.label(r["measure"]), r["current_max"], r["suggested_max"]) for r in table],
        (_c(t, "current"), _c(t, "suggested")),
    )
    return f"""<!DOCTYPE html>
<html lang="{escape(t.language)}"><head><meta charset="utf-8">
<title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, "Noto Sans CJK JP", sans-serif; margin: 2em; color: #222;
max-width: 720px; }}
svg {{ display: block; margin: 1.5em 0; font-family: inherit; font-size: 13px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
.note {{ color: #a15c00; }} .flag {{ color: #c62828; font-size: 1.1em; }}
</style></head><body>
<h1>{escape(title)}</h1>
{summary}
{flags}
{notes}
{band_chart}
{auc_chart}
{points_chart}
<table><tr>{head}</tr>{rows_html}</table>
{input_html(report, t, chart=candidate_chart)}
{proposed}
</body></html>
"""
