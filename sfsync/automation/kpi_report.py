"""The monthly KPI report as one self-contained HTML file with inline SVG charts.

No scripts, no external CSS, fonts or images: the file opens from disk in any browser.
Charts: score distribution of the month, accounts per band over the trend months, and a small
line chart per KPI over the trend months. Texts come from the ``kpi_report`` and ``slack``
templates (KPI and band labels); :func:`counts_text` and :func:`missing_text` render the reason
codes of :mod:`sfsync.automation.kpi` and :mod:`sfsync.automation.kpi_inputs` through the
``kpi_reasons`` and ``kpi_missing_inputs`` templates (the CLI uses them too).
"""

from __future__ import annotations

from datetime import datetime
from html import escape

import pandas as pd

from sfsync.automation.kpi import Kpi, KpiReport
from sfsync.automation.kpi_funnel import FunnelReport
from sfsync.automation.kpi_inputs import MissingInput
from sfsync.automation.kpi_sections import leading_sections
from sfsync.automation.kpi_texts import kpi_text
from sfsync.automation.playbook import Playbook
from sfsync.catalogue import BANDS, SEGMENTS
from sfsync.labels import Labels
from sfsync.templates import TemplateSet

BAND_COLOURS = {"green": "#2e9d57", "yellow": "#e6c229", "orange": "#f08a24", "red": "#d64545"}
STATUS_COLOURS = {"met": "#2e9d57", "not_met": "#d64545", "na": "#8a8f98"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans CJK JP",
sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0 0 12px}
.sub{color:#5b6270;font-size:12px;margin-bottom:20px}
.card{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:16px;margin:0 0 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:6px 8px;border-bottom:1px solid #eef0f3;text-align:left}
td.num,th.num{text-align:right}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px}
.over{color:#d64545;font-weight:600}
svg text{font-family:inherit}
.trend{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px}
h3{font-size:14px;margin:16px 0 8px}.card p{font-size:13px;margin:8px 0}
.fell-out{color:#1d2330}a{color:#3566c8}
"""


_t = kpi_text


def value_text(templates: TemplateSet, kpi: Kpi) -> str:
    """The KPI's value, or the ``no_value`` text when it is n/a."""
    return kpi.value_text if kpi.value is not None else kpi_text(templates, "kpi_table", "no_value")


def counts_text(templates: TemplateSet, kpi: Kpi) -> str:
    """The counts behind the value, or why the KPI is n/a (``kpi_reasons.<code>``)."""
    if kpi.value is not None or not kpi.reason:
        return kpi.counts_text
    return templates.render("kpi_reasons", kpi.reason, kpi.reason_params)["text"]


def missing_text(templates: TemplateSet, item: MissingInput) -> str:
    """A missing input and what to do about it (``kpi_missing_inputs.<code>``)."""
    return templates.render("kpi_missing_inputs", item.code, item.params)["text"]


def _bar_chart(labels: list[str], values: list[int], colours: list[str], width=460, height=220):
    pad_l, pad_b, pad_t = 34, 28, 12
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    top = max(values + [1])
    bar_w = plot_w / max(len(values), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" viewBox="0 0 {width} {height}">'
    ]
    for frac in (0, 0.5, 1):
        y = pad_t + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{pad_l}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e1e4ea"/><text x="{pad_l - 4}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="end" fill="#5b6270">{round(top * frac)}</text>'
        )
    for i, (label, v, colour) in enumerate(zip(labels, values, colours, strict=True)):
        h = plot_h * v / top
        x = pad_l + i * bar_w + 2
        y = pad_t + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}" '
            f'fill="{colour}"><title>{escape(label)}: {v}</title></rect>'
        )
        if v:
            parts.append(
                f'<text x="{x + (bar_w - 4) / 2:.1f}" y="{y - 3:.1f}" font-size="10" '
                f'text-anchor="middle">{v}</text>'
            )
        parts.append(
            f'<text x="{x + (bar_w - 4) / 2:.1f}" y="{height - 10}" font-size="10" '
            f'text-anchor="middle" fill="#5b6270">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _stacked_bars(frame: pd.DataFrame, labels: dict[str, str], width=460, height=240) -> str:
    pad_l, pad_b, pad_t = 34, 44, 12
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    totals = frame.sum(axis=1)
    top = max(int(totals.max()) if len(totals) else 0, 1)
    bar_w = plot_w / max(len(frame), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" viewBox="0 0 {width} {height}">'
    ]
    for i, (month, row) in enumerate(frame.iterrows()):
        x = pad_l + i * bar_w + 4
        y = pad_t + plot_h
        for band in BANDS:
            v = int(row.get(band, 0))
            h = plot_h * v / top
            y -= h
            if v:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 8:.1f}" '
                    f'height="{h:.1f}" fill="{BAND_COLOURS[band]}"><title>'
                    f"{escape(str(month))} {escape(labels[band])}: {v}</title></rect>"
                )
        parts.append(
            f'<text x="{x + (bar_w - 8) / 2:.1f}" y="{pad_t + plot_h + 14}" '
            f'font-size="10" text-anchor="middle" fill="#5b6270">{escape(str(month))}'
            f"</text>"
        )
    for j, band in enumerate(BANDS):
        lx = pad_l + j * (plot_w / 4)
        parts.append(
            f'<rect x="{lx:.1f}" y="{height - 14}" width="10" height="10" '
            f'fill="{BAND_COLOURS[band]}"/><text x="{lx + 14:.1f}" y="{height - 5}" '
            f'font-size="10">{escape(labels[band])}</text>'
        )
    parts.append(
        f'<text x="{pad_l - 4}" y="{pad_t + 8}" font-size="10" text-anchor="end" '
        f'fill="#5b6270">{top}</text></svg>'
    )
    return "".join(parts)


def _line_chart(
    title: str,
    months: list[str],
    values: list[float | None],
    target: float,
    scale: float,
    unit: str,
    target_label: str = "target",
    width=240,
    height=130,
) -> str:
    pad_l, pad_r, pad_t, pad_b = 8, 8, 22, 18
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    known = [v * scale for v in values if v is not None]
    lo = min(known + [target * scale, 0])
    hi = max(known + [target * scale, 1e-9])
    hi = hi + (hi - lo) * 0.1

    def xy(i, v):
        x = pad_l + (plot_w * i / max(len(months) - 1, 1))
        y = pad_t + plot_h * (1 - (v - lo) / (hi - lo if hi > lo else 1))
        return x, y

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" viewBox="0 0 {width} {height}">',
        f'<text x="{pad_l}" y="13" font-size="11" font-weight="600">{escape(title)}</text>',
    ]
    _, ty = xy(0, target * scale)
    parts.append(
        f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{ty:.1f}" y2="{ty:.1f}" '
        f'stroke="#8a8f98" stroke-dasharray="4 3"><title>{escape(target_label)}</title></line>'
    )
    points = [(xy(i, v * scale), v) for i, v in enumerate(values) if v is not None]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for (x, y), _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#3566c8" stroke-width="2"/>')
    for (x, y), v in points:
        label = f"{v * scale:.1f}{unit}"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#3566c8"><title>{label}'
            f"</title></circle>"
        )
    if points:
        (x, y), v = points[-1]
        parts.append(
            f'<text x="{min(x, width - 40):.1f}" y="{max(y - 6, 24):.1f}" '
            f'font-size="10">{v * scale:.1f}{unit}</text>'
        )
    for i in (0, len(months) - 1):
        x, _ = xy(i, lo)
        anchor = "start" if i == 0 else "end"
        parts.append(
            f'<text x="{x:.1f}" y="{height - 4}" font-size="9" text-anchor="{anchor}" '
            f'fill="#5b6270">{escape(months[i])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_kpi_report(
    report: KpiReport,
    *,
    templates: TemplateSet,
    playbook: Playbook,
    trend: pd.DataFrame,
    bands: pd.DataFrame,
    capacity: pd.DataFrame | None = None,
    suggestions: list[dict[str, str]] | None = None,
    missing_inputs: list[MissingInput] | None = None,
    funnel: FunnelReport | None = None,
    instance_url: str | None = None,
    generated_at: datetime,
) -> str:
    """The report as one HTML string (write it with ``Path.write_text(..., "utf-8")``);
    ``generated_at`` is the time the report says it was made (the caller reads the clock).
    ``funnel``: the tech-touch funnel (its accounts link to their records on
    ``instance_url`` when given)."""
    labels = Labels(templates)
    t = templates
    generated = generated_at.strftime("%Y-%m-%d %H:%M")
    band_labels = {b: labels.band_label(b) for b in BANDS}
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(templates.language)}"><head><meta charset="utf-8">',
        f"<title>{escape(_t(t, 'page', 'title', month=report.month))}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(_t(t, 'page', 'title', month=report.month))}</h1>",
        f'<div class="sub">{escape(_t(t, "page", "subtitle", generated_at=generated))}</div>',
    ]
    # KPI table
    rows = []
    for k in report.kpis:
        status = _t(t, "kpi_table", k.status)
        rows.append(
            f"<tr><td>{escape(labels.kpi_label(k.key))}</td>"
            f'<td class="num"><b>{escape(value_text(t, k))}</b></td>'
            f'<td class="num">{escape(k.target_text)}</td>'
            f'<td><span class="pill" style="background:{STATUS_COLOURS[k.status]}">'
            f"{escape(status)}</span></td><td>{escape(counts_text(t, k))}</td></tr>"
        )
    head = "".join(
        f"<th{' class=num' if c in ('value', 'target') else ''}>{escape(_t(t, 'kpi_table', c))}"
        "</th>"
        for c in ("kpi", "value", "target", "status", "counts")
    )
    out.append(
        f'<div class="card"><h2>{escape(_t(t, "kpi_table", "title"))}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</div>"
    )
    out += leading_sections(
        report, templates=t, playbook=playbook, funnel=funnel, instance_url=instance_url
    )
    # charts
    scores = pd.to_numeric(
        report.scores.get("health_score", pd.Series(dtype=float)), errors="coerce"
    ).dropna()
    bins = [0] * 10
    for v in scores:
        bins[min(int(v) // 10, 9)] += 1
    bin_labels = [f"{i * 10}" for i in range(10)]
    bin_colours = (
        [BAND_COLOURS["red"]] * 4
        + [BAND_COLOURS["orange"]] * 2
        + [BAND_COLOURS["yellow"]] * 2
        + [BAND_COLOURS["green"]] * 2
    )
    out.append('<div class="grid">')
    out.append(
        f'<div class="card"><h2>{escape(_t(t, "score_distribution", "title", month=report.month))}'
        f"</h2>{_bar_chart(bin_labels, bins, bin_colours)}</div>"
    )
    out.append(
        f'<div class="card"><h2>{escape(_t(t, "band_trend", "title"))}</h2>'
        f"{_stacked_bars(bands, band_labels)}</div>"
    )
    out.append("</div>")
    # KPI trend
    charts = []
    months = sorted(trend["month"].unique()) if not trend.empty else []
    for k in report.kpis:
        series = trend[trend["key"] == k.key].set_index("month")["value"].reindex(months)
        values = [None if pd.isna(v) else float(v) for v in series]
        if not any(v is not None for v in values):
            continue
        scale, unit = (100.0, "%") if k.unit == "%" else (1.0, "")
        target_label = f"{_t(t, 'kpi_table', 'target')} {k.target_text}"
        charts.append(
            _line_chart(
                labels.kpi_label(k.key), months, values, k.target, scale, unit, target_label
            )
        )
    if charts:
        out.append(
            f'<div class="card"><h2>{escape(_t(t, "kpi_trend", "title"))}</h2>'
            f'<div class="trend">{"".join(charts)}</div></div>'
        )
    # capacity
    if capacity is not None and not capacity.empty:
        per_person = "person_load" in capacity
        head = "".join(f'<th class="num">{s} (≤{playbook.segments[s].cap})</th>' for s in SEGMENTS)
        body = []
        for row in capacity.itertuples(index=False):
            cells = "".join(
                f'<td class="num{" over" if s in row.over_segments.split(";") else ""}">'
                f"{getattr(row, f'accounts_{s}')}</td>"
                for s in SEGMENTS
            )
            total_cls = " over" if row.over_total else ""
            personal = ""
            if per_person:  # the personal cap and load (> 1.0 flagged), seed 001 §4.1
                load_cls = " over" if row.over_load else ""
                personal = (
                    f'<td class="num">{int(row.personal_cap)}</td>'
                    f'<td class="num{load_cls}">{float(row.person_load):.2f}</td>'
                )
            over = row.over_cap or (per_person and row.over_load)
            body.append(
                f"<tr><td>{escape(str(row.owner_name))}</td>{cells}"
                f'<td class="num{total_cls}">{row.accounts_total}</td>{personal}'
                f"<td>{'⚠' if over else ''}</td></tr>"
            )
        personal_head = ""
        if per_person:
            personal_head = (
                f'<th class="num">{escape(_t(t, "capacity", "personal_cap"))}</th>'
                f'<th class="num">{escape(_t(t, "capacity", "load"))}</th>'
            )
        moves = ""
        if suggestions:
            items = "".join(
                f"<li>{escape(_t(t, 'capacity', 'suggestion', **s))}</li>" for s in suggestions
            )
            moves = f"<h3>{escape(_t(t, 'capacity', 'suggestions_title'))}</h3><ul>{items}</ul>"
        out.append(
            f'<div class="card"><h2>{escape(_t(t, "capacity", "title"))}</h2><table><thead><tr>'
            f"<th>{escape(_t(t, 'capacity', 'owner'))}</th>{head}"
            f'<th class="num">{escape(_t(t, "capacity", "total"))} (≤{playbook.overall_cap})</th>'
            f"{personal_head}<th>{escape(_t(t, 'capacity', 'over'))}</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{moves}</div>"
        )
    if not report.owners.empty:
        names = {}
        if capacity is not None and not capacity.empty:
            names = dict(zip(capacity["owner_id"], capacity["owner_name"], strict=False))
        body = "".join(
            f"<tr><td>{escape(str(names.get(r.owner_id, r.owner_id)))}</td>"
            f'<td class="num">{r.accounts}</td><td class="num{"" if r.met else " over"}">'
            f'{r.meetings}</td><td class="num">≥ {r.target:g}</td></tr>'
            for r in report.owners.itertuples(index=False)
        )
        cols = "".join(
            f"<th{' class=num' if c != 'owner' else ''}>{escape(_t(t, 'meetings', c))}</th>"
            for c in ("owner", "accounts", "meetings", "target")
        )
        out.append(
            f'<div class="card"><h2>{escape(_t(t, "meetings", "title", month=report.month))}'
            f"</h2><table><thead><tr>{cols}</tr></thead><tbody>{body}</tbody></table></div>"
        )
    if missing_inputs:
        items = "".join(f"<li>{escape(missing_text(t, m))}</li>" for m in missing_inputs)
        out.append(
            f'<div class="card"><h2>{escape(_t(t, "missing", "title"))}</h2><ul>{items}</ul></div>'
        )
    out.append("</body></html>")
    return "\n".join(out)
