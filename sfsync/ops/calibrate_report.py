"""The calibration report as one self-contained HTML page (inline SVG, no scripts, no links).

Three charts: churn rate per band (with counts), AUC per measure (0.5 line = no separation),
current versus suggested maximum points per measure.
"""

from __future__ import annotations

from html import escape

from sfsync.ops.calibrate import CalibrationReport, suggestion_table

BAND_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "orange": "#ef6c00", "red": "#c62828"}
WIDTH = 640
BAR = 26


def _bar_chart(title: str, rows: list[tuple[str, float, str, str]], *, max_value: float,
               marker: float | None = None, marker_label: str = "") -> str:  # fmt: skip
    """Horizontal bars: (label, value, colour, text shown after the bar)."""
    left, right = 170, 150
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


def _pair_chart(title: str, rows: list[tuple[str, float, float]]) -> str:
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
        '<text x="416" y="17" font-size="12">current</text>',
        '<rect x="480" y="6" width="12" height="12" fill="#1565c0"/>'
        '<text x="496" y="17" font-size="12">suggested</text>',
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


def _auc_text(auc: float | None) -> str:
    return "n/a" if auc is None else f"{auc:.2f}"


def render_html(report: CalibrationReport) -> str:
    """The whole page as a string."""
    band_rows = []
    for row in report.bands.itertuples(index=False):
        rate = 0.0 if row.accounts == 0 else float(row.churn_rate)
        text = "no accounts" if row.accounts == 0 else (
            f"{rate:.0%} ({row.churned} of {row.accounts})"
        )  # fmt: skip
        band_rows.append((row.health_band, rate, BAND_COLOURS.get(row.health_band, "#777"), text))
    table = suggestion_table(report)
    auc_rows = [
        (r["measure"], r["auc"] or 0.0, "#1565c0" if (r["auc"] or 0) > 0.5 else "#9e9e9e",
         f"{r['auc']:.2f} (n={r['accounts']})" if r["auc"] is not None else "n/a")
        for r in table
    ]  # fmt: skip
    overall = "n/a" if report.overall_auc is None else f"{report.overall_auc:.2f}"
    rows_html = "".join(
        f"<tr><td>{escape(r['measure'])}</td><td>{escape(r['category'])}</td>"
        f"<td>{_auc_text(r['auc'])}</td><td>{r['accounts']}</td>"
        f"<td>{r['current_max']:g}</td><td>{r['suggested_max']:g}</td></tr>"
        for r in table
    )
    notes = "".join(f"<p class=note>{escape(n)}</p>" for n in report.notes)
    proposed = (
        f"<p>Proposed scorecard: <code>{escape(str(report.proposed_path))}</code> "
        "(the live scorecard is unchanged).</p>"
        if report.proposed_path
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>sfsync calibration: {escape(report.scorecard)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 720px; }}
svg {{ display: block; margin: 1.5em 0; font-family: system-ui, sans-serif; font-size: 13px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
.note {{ color: #a15c00; }}
</style></head><body>
<h1>Calibration of scorecard “{escape(report.scorecard)}”</h1>
<p>Snapshots {report.date_from} to {report.date_to}: {report.accounts} accounts with an outcome
({report.churned} churned, {report.accounts - report.churned} retained), {report.snapshots}
snapshots. Overall score AUC: <b>{overall}</b> (probability that a retained account scored
higher than a churned one; 0.5 = no separation, 1.0 = perfect).</p>
{notes}
{_bar_chart("Churn rate per band", band_rows, max_value=max([r[1] for r in band_rows] + [0.01]))}
{_bar_chart("AUC per measure", auc_rows, max_value=1.0, marker=0.5, marker_label="0.5 = chance")}
{_pair_chart("Maximum points per measure", [(r["measure"], r["current_max"], r["suggested_max"]) for r in table])}
<table><tr><th>measure</th><th>category</th><th>AUC</th><th>accounts</th><th>current max</th>
<th>suggested max</th></tr>{rows_html}</table>
{proposed}
</body></html>
"""
