"""Sections of the KPI report beside the KPI table: the weekly leading KPIs, onboarding steps
0–4, and how the KPIs are defined (the churn definition and NRR source in use). Every text
comes from the ``kpi_report`` templates of the report's language."""

from __future__ import annotations

from html import escape

from sfsync.automation.kpi import KpiReport
from sfsync.automation.kpi_texts import kpi_text
from sfsync.automation.playbook import Playbook
from sfsync.templates import TemplateSet

_t = kpi_text


def _table(head: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    th = "".join(
        f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in numeric else ''}>{escape(c)}</td>" for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def weekly_section(report: KpiReport, templates: TemplateSet) -> str:
    """The average score and red share of each week of the month ('' when none)."""
    if report.weekly is None or report.weekly.empty:
        return ""
    t = templates
    head = [_t(t, "weekly", c) for c in ("week", "accounts", "average_score", "red_share")]
    rows = [
        [
            f"{w.week_start:%m/%d}–{w.week_end:%m/%d}",
            f"{w.accounts:,}",
            f"{w.average_score:.1f}",
            f"{w.red_share * 100:.1f}%",
        ]
        for w in report.weekly.itertuples(index=False)
    ]
    return (
        f'<div class="card"><h2>{escape(_t(t, "weekly", "title", month=report.month))}</h2>'
        f"{_table(head, rows, {1, 2, 3})}</div>"
    )


def onboarding_section(report: KpiReport, templates: TemplateSet) -> str:
    """Tasks and completed Tasks per onboarding step 0–4 ('' when no step had Tasks)."""
    steps = report.onboarding_steps
    if steps is None or steps.empty or not int(steps["tasks"].sum()):
        return ""
    t = templates
    head = [_t(t, "onboarding_steps", c) for c in ("step", "tasks", "completed")]
    rows = [
        [_t(t, "onboarding_steps", f"step_{s.name}"), f"{s.tasks:,}", f"{s.completed:,}"]
        for s in steps.itertuples(index=False)
    ]
    title = _t(t, "onboarding_steps", "title", month=report.month)
    return f'<div class="card"><h2>{escape(title)}</h2>{_table(head, rows, {1, 2})}</div>'


def definition_lines(report: KpiReport, templates: TemplateSet, playbook: Playbook) -> list[str]:
    """How churn rate, NRR, upsell proposals and the 48-hour KPIs are measured here."""
    t, k = templates, playbook.kpi
    churn = (
        _t(t, "definitions", "churn_contract_years", years=k.churn_contract_years)
        if report.churn_definition == "contract_years"
        else _t(t, "definitions", "churn_trailing_months", months=k.churn_window_months)
    )
    nrr = _t(t, "definitions", f"nrr_{report.nrr_source}", months=k.nrr_months)
    return [
        churn,
        nrr,
        _t(t, "definitions", "upsell"),
        _t(t, "definitions", "touch", hours=f"{k.touch_hours:g}"),
    ]


def leading_sections(report: KpiReport, *, templates: TemplateSet, playbook: Playbook) -> list[str]:
    """The HTML cards that follow the KPI table."""
    items = "".join(f"<li>{escape(line)}</li>" for line in definition_lines(
        report, templates, playbook))  # fmt: skip
    definitions = (
        f'<div class="card"><h2>{escape(_t(templates, "definitions", "title"))}</h2>'
        f"<ul>{items}</ul></div>"
    )
    return [
        part
        for part in (
            weekly_section(report, templates),
            onboarding_section(report, templates),
            definitions,
        )
        if part
    ]
