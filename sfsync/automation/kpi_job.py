"""The monthly KPI job: gather inputs, compute the month and its trend, write the HTML report,
post the summary to Slack. Used by ``sfsync kpi`` and by ``jobs/monthly-kpi.yaml``
(``compute: {kind: kpi}``; :class:`sfsync.jobs.KpiCompute` is the model of that section).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import structlog

from sfsync.automation.capacity import owner_capacity
from sfsync.automation.kpi import KpiReport, band_counts, compute_kpis, kpi_trend
from sfsync.automation.kpi_funnel import FunnelReport, funnel_report
from sfsync.automation.kpi_inputs import (
    KpiInputs,
    MissingInput,
    gather_kpi_inputs,
    signals_from_store,
    snapshots_from_store,
    tasks_from_salesforce,
)
from sfsync.automation.kpi_report import render_kpi_report
from sfsync.automation.person_capacity import reassignment_suggestions, with_person_load
from sfsync.automation.playbook import Playbook
from sfsync.calendar import add_months, is_month_text, parse_month, shift_month_text
from sfsync.config import DEFAULT_BULK_THRESHOLD
from sfsync.errors import ConfigError, ConfigProblem
from sfsync.jobs import KpiCompute
from sfsync.templates import TemplateSet

log = structlog.get_logger(__name__)


def check_month(month: str, where: str = "--month") -> str:
    if not is_month_text(month or ""):
        raise ConfigError([ConfigProblem(where, "", f"{month!r} is not a month (YYYY-MM)")])
    return month


@dataclass
class KpiOutcome:
    report: KpiReport
    inputs: KpiInputs
    trend: pd.DataFrame
    bands: pd.DataFrame
    capacity: pd.DataFrame | None
    html_path: Path | None = None
    slack: Any = None
    months: list[str] = field(default_factory=list)
    templates: TemplateSet | None = None  # the labels the printed table uses
    suggestions: list[dict[str, str]] = field(default_factory=list)  # capacity reassignments
    funnel: FunnelReport | None = None  # the tech-touch funnel of the trend months


def run_kpi(
    month: str,
    *,
    playbook: Playbook,
    templates: TemplateSet,
    inputs: KpiInputs | None = None,
    store=None,
    files: dict[str, Path | None] | None = None,
    salesforce=None,
    account_mapping=None,
    html_out: Path | None = None,
    notifier=None,
    generated_at: datetime,
    instance_url: str | None = None,
) -> KpiOutcome:
    """Compute ``month``'s KPIs and the tech-touch funnel; write the report to ``html_out``
    (stamped ``generated_at``; accounts linked to their records on ``instance_url``); post
    with ``notifier``."""
    check_month(month)
    n = playbook.kpi.trend_months
    if inputs is None:
        inputs = gather_kpi_inputs(
            month,
            trend_months=n,
            store=store,
            files=files,
            salesforce=salesforce,
            account_mapping=account_mapping,
            nrr_months=playbook.kpi.nrr_months,
            timezone=str(generated_at.tzinfo or "UTC"),
        )
    report = compute_kpis(month, playbook=playbook, snapshots=inputs.snapshots, **inputs.frames())
    months = [shift_month_text(month, -i) for i in range(n - 1, -1, -1)]
    trend = kpi_trend(months, playbook=playbook, snapshots=inputs.snapshots, **inputs.frames())
    bands = band_counts(inputs.snapshots, months)
    funnel = funnel_report(
        months,
        accounts=inputs.accounts,
        usage=inputs.usage,
        churn_column=playbook.kpi.churn_date_column,
        onboarding_months=playbook.onboarding.complete_check_months,
    )
    capacity = None
    suggestions: list[dict[str, str]] = []
    if inputs.accounts is not None:
        current = inputs.accounts
        churn_col = playbook.kpi.churn_date_column
        if churn_col in current:
            current = current[current[churn_col].isna()]
        scores = report.scores if not report.scores.empty else None
        capacity = owner_capacity(current, playbook, scores=scores, users=inputs.users)
        # personal caps (and ramps) as they stand at the end of the reported month
        month_end = add_months(parse_month(month), 1) - timedelta(days=1)
        capacity = with_person_load(capacity, playbook, inputs.users, month_end)
        suggestions = reassignment_suggestions(
            current, capacity, playbook, inputs.users, scores=scores
        )
    outcome = KpiOutcome(report, inputs, trend, bands, capacity, months=months, templates=templates)
    outcome.suggestions = suggestions
    outcome.funnel = funnel
    if html_out is not None:
        html = render_kpi_report(
            report,
            templates=templates,
            playbook=playbook,
            trend=trend,
            bands=bands,
            capacity=capacity,
            suggestions=suggestions,
            missing_inputs=inputs.missing,
            funnel=funnel,
            instance_url=instance_url,
            generated_at=generated_at,
        )
        html_out = Path(html_out)
        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(html, encoding="utf-8")
        outcome.html_path = html_out
        log.info("kpi_report_written", path=str(html_out), month=month)
    if notifier is not None:
        outcome.slack = notifier.post_kpi_summary(month, report.rows())
    return outcome


@dataclass(frozen=True)
class KpiStageResult:
    """What the KPI stage of a job hands back: the outcome and what the run summary shows."""

    outcome: KpiOutcome
    notes: list[str]
    alerts_sent: int = 0
    alerts_pending: int = 0


def kpi_stage(
    frames: dict[str, pd.DataFrame],
    *,
    spec: KpiCompute,
    playbook: Playbook,
    templates: TemplateSet,
    as_of: date,
    root: Path,
    store: Any,
    notifier: Any,
    post: bool,
    generated_at: datetime,
    salesforce: Any = None,
) -> KpiStageResult:
    """The compute stage of a ``compute: {kind: kpi}`` job (``sfsync run monthly-kpi``).

    ``frames`` are the extract stage's canonical frames (accounts, users, activities, usage as
    the job's sources read them); snapshots come from ``store``. Writes the HTML report under
    ``root`` when ``spec.report`` is set and posts the summary with ``notifier`` when ``post``
    (the pipeline passes neither in a dry run); sfsync's Tasks (onboarding steps, upsell
    proposals, touch times) are read from ``salesforce``. Nothing is planned or applied.
    """
    month = spec.resolve_month(as_of)
    kpi_inputs = inputs_from_frames(
        month,
        playbook=playbook,
        store=store,
        frames=frames,
        salesforce=salesforce,
        timezone=str(generated_at.tzinfo or "UTC"),
    )
    html_out = Path(root) / spec.report.format(month=month) if spec.report else None
    notes = []
    if post and notifier is None:
        notes.append("Slack is not configured (SFSYNC_SLACK_TOKEN): not posted")
    outcome = run_kpi(
        month,
        playbook=playbook,
        templates=templates,
        inputs=kpi_inputs,
        html_out=html_out,
        notifier=notifier if post else None,
        generated_at=generated_at,
        instance_url=getattr(salesforce, "instance_url", None),
    )
    met = sum(k.status == "met" for k in outcome.report.kpis)
    measured = sum(k.status != "na" for k in outcome.report.kpis)
    notes.append(f"KPIs of {month}: {met} of {measured} measured KPIs meet their target")
    if outcome.html_path is not None:
        notes.append(f"KPI report written to {outcome.html_path}")
    sent = pending = 0
    slack = outcome.slack
    if slack is not None:
        sent = int(getattr(slack.delivery, "sent", 0) or 0)
        pending = int(getattr(slack.delivery, "pending", 0) or 0)
        if slack.error:
            notes.append(f"Slack: {slack.error} (the summary stays queued)")
    log.info("kpi_job_computed", month=month, met=met, measured=measured)
    return KpiStageResult(outcome, notes, sent, pending)


def inputs_from_frames(
    month: str,
    *,
    playbook: Playbook,
    store,
    frames: dict[str, pd.DataFrame],
    salesforce=None,
    timezone: str = "UTC",
) -> KpiInputs:
    """KPI inputs from the extract stage's frames, the state store's snapshots and signal
    ledger, and sfsync's Tasks read from ``salesforce``; every input that is not there is
    listed in ``missing`` (as :func:`gather_kpi_inputs` does)."""
    trend_months = playbook.kpi.trend_months
    inputs = KpiInputs(
        accounts=frames.get("accounts"),
        usage=frames.get("usage"),
        activities=frames.get("activities"),
        users=frames.get("users"),
    )
    if store is None:
        inputs.missing.append(MissingInput("no_state_store"))
    else:
        inputs.snapshots = snapshots_from_store(store, month, trend_months, playbook.kpi.nrr_months)
        inputs.signals = signals_from_store(store, month, trend_months)
        if inputs.snapshots.empty:
            inputs.missing.append(
                MissingInput("snapshots_none_job", {"months": trend_months, "month": month})
            )
    if salesforce is not None:
        inputs.tasks = tasks_from_salesforce(
            salesforce, month, trend_months, timezone, DEFAULT_BULK_THRESHOLD
        )
    for role in ("accounts", "usage", "activities", "tasks"):
        if getattr(inputs, role) is None:
            inputs.missing.append(MissingInput(f"{role}_source"))
    if playbook.kpi.nrr_source == "mrr":
        inputs.missing.append(MissingInput("mrr_source"))
    return inputs
