"""Sections of the KPI report beside the KPI table: the weekly leading KPIs, onboarding steps
0–4, the tech-touch funnel (:mod:`sfsync.automation.kpi_funnel`), and how the KPIs are
defined (the churn definition and NRR source in use). Every text comes from the
``kpi_report`` templates of the report's language."""

from __future__ import annotations

from html import escape

from sfsync.automation.kpi import KpiReport
from sfsync.automation.kpi_funnel import Funnel, FunnelReport
from sfsync.automation.kpi_texts import kpi_text
from sfsync.automation.playbook import Playbook
from sfsync.links import record_url
from sfsync.templates import TemplateSet

FELL_OUT_MAX = 20  # accounts named per list of a funnel stage; the rest are counted

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


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _reason(templates: TemplateSet, funnel: Funnel) -> str:
    return templates.render("kpi_funnel_reasons", funnel.reason, funnel.reason_params)["text"]


def _account_link(name: str, account_id: str, instance_url: str | None) -> str:
    if not instance_url:
        return escape(name)
    return f'<a href="{escape(record_url(instance_url, account_id))}">{escape(name)}</a>'


def _fell_out_list(t: TemplateSet, stage, instance_url: str | None) -> str:
    """The accounts that fell out at ``stage``: the first :data:`FELL_OUT_MAX`, linked to
    their Salesforce records, and how many more."""
    if not stage.fell_out:
        return ""
    names = [
        _account_link(f.name or f.account_id, f.account_id, instance_url)
        for f in stage.fell_out[:FELL_OUT_MAX]
    ]
    more = len(stage.fell_out) - FELL_OUT_MAX
    if more > 0:
        names.append(escape(_t(t, "funnel", "more", count=f"{more:,}")))
    title = _t(t, "funnel", f"fell_out_{stage.key}", count=f"{len(stage.fell_out):,}")
    return f'<p class="fell-out"><b>{escape(title)}</b><br>{_t(t, "funnel", "separator").join(names)}</p>'


def _stage_label(t: TemplateSet, key: str, months: int) -> str:
    return _t(t, "funnel", f"stage_{key}", months=months)


def funnel_lines(t: TemplateSet, report: FunnelReport) -> list[str]:
    """The latest measured mail and tutorial funnels as one line each, for the terminal:
    each stage's accounts and the drop-off from the stage before."""
    lines = []
    for kind, title in (("mail", "mail_title"), ("tutorial", "tutorial_title")):
        funnel = report.latest(kind)
        if funnel is None:
            continue
        stages = " → ".join(
            f"{_stage_label(t, s.key, report.onboarding_months)} {s.accounts:,}"
            + (
                ""
                if s.account_drop is None
                else f" ({_t(t, 'funnel', 'account_drop')} {_percent(s.account_drop)})"
            )
            for s in funnel.stages
        )
        lines.append(f"{_t(t, 'funnel', title, month=funnel.month)}: {stages}")
    return lines


def _mail_detail(t: TemplateSet, funnel: Funnel, instance_url: str | None) -> str:
    head = [
        _t(t, "funnel", c) for c in ("stage", "mails", "mail_drop_col", "accounts", "account_drop")
    ]
    rows = [
        [
            _stage_label(t, s.key, 0),
            f"{s.mails:,.0f}",
            _percent(s.mail_drop),
            f"{s.accounts:,}",
            _percent(s.account_drop),
        ]
        for s in funnel.stages
    ]
    lists = "".join(_fell_out_list(t, s, instance_url) for s in funnel.stages)
    title = _t(t, "funnel", "mail_title", month=funnel.month)
    return f"<h3>{escape(title)}</h3>{_table(head, rows, {1, 2, 3, 4})}{lists}"


def _tutorial_detail(t: TemplateSet, funnel: Funnel, months: int, instance_url: str | None) -> str:
    head = [_t(t, "funnel", c) for c in ("stage", "accounts", "account_drop")]
    rows = [
        [_stage_label(t, s.key, months), f"{s.accounts:,}", _percent(s.account_drop)]
        for s in funnel.stages
    ]
    lists = "".join(_fell_out_list(t, s, instance_url) for s in funnel.stages)
    title = _t(t, "funnel", "tutorial_title", month=funnel.month)
    return f"<h3>{escape(title)}</h3>{_table(head, rows, {1, 2})}{lists}"


def _trend_cells(t: TemplateSet, funnel: Funnel, mails: bool) -> list[str]:
    if not funnel.measured:
        return [_reason(t, funnel), ""]
    counts = [s.mails if mails else s.accounts for s in funnel.stages]
    drops = [s.mail_drop if mails else s.account_drop for s in funnel.stages[1:]]
    return [" → ".join(f"{c:,.0f}" for c in counts), " / ".join(_percent(d) for d in drops)]


def funnel_section(
    funnel: FunnelReport | None,
    templates: TemplateSet,
    *,
    onboarding_months: int,
    instance_url: str | None = None,
) -> str:
    """The tech-touch funnel: month by month, then the latest month with figures stage by
    stage with the accounts that fell out, linked to Salesforce when ``instance_url`` is known
    ('' without a funnel)."""
    if funnel is None or not funnel.months:
        return ""
    t = templates
    head = [_t(t, "funnel", c) for c in ("month", "mail", "mail_drop", "tutorial", "tutorial_drop")]
    rows = [
        [month, *_trend_cells(t, mail, True), *_trend_cells(t, tutorial, False)]
        for month, mail, tutorial in zip(funnel.months, funnel.mail, funnel.tutorial, strict=True)
    ]
    parts = [
        f"<p>{escape(_t(t, 'funnel', 'definition_mail'))}</p>",
        f"<p>{escape(_t(t, 'funnel', 'definition_tutorial', months=onboarding_months))}</p>",
        f"<h3>{escape(_t(t, 'funnel', 'trend_title'))}</h3>",
        _table(head, rows, set()),
    ]
    mail = funnel.latest("mail")
    if mail is not None:
        parts.append(_mail_detail(t, mail, instance_url))
    tutorial = funnel.latest("tutorial")
    if tutorial is not None:
        parts.append(_tutorial_detail(t, tutorial, onboarding_months, instance_url))
    title = _t(t, "funnel", "title", first_month=funnel.months[0], last_month=funnel.months[-1])
    return f'<div class="card funnel"><h2>{escape(title)}</h2>{"".join(parts)}</div>'


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


def leading_sections(
    report: KpiReport,
    *,
    templates: TemplateSet,
    playbook: Playbook,
    funnel: FunnelReport | None = None,
    instance_url: str | None = None,
) -> list[str]:
    """The HTML cards that follow the KPI table (the funnel when ``funnel`` is given)."""
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
            funnel_section(
                funnel,
                templates,
                onboarding_months=playbook.onboarding.complete_check_months,
                instance_url=instance_url,
            ),
            definitions,
        )
        if part
    ]
