"""The monthly KPI job: gather inputs, compute the month and its trend, write the HTML report,
post the summary to Slack. Used by ``sfsync kpi`` and by ``jobs/monthly-kpi.yaml``
(``compute: {kind: kpi}``; :class:`KpiCompute` is the model of that section).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import structlog

from sfsync.automation.capacity import owner_capacity
from sfsync.automation.kpi import KpiReport, band_counts, compute_kpis, kpi_trend, shift_month
from sfsync.automation.kpi_inputs import KpiInputs, gather_kpi_inputs
from sfsync.automation.kpi_report import render_kpi_report
from sfsync.automation.playbook import Playbook
from sfsync.configfile import StrictModel
from sfsync.errors import ConfigError, ConfigProblem
from sfsync.templates import TemplateSet

log = structlog.get_logger(__name__)

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class KpiCompute(StrictModel):
    """``compute:`` section of a KPI job."""

    kind: Literal["kpi"]
    month: str = "previous"  # "previous" = the last complete month before the as-of date
    report: str | None = "out/kpi-{month}.html"
    post: bool = True


def check_month(month: str, where: str = "--month") -> str:
    if not MONTH.match(month or ""):
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
) -> KpiOutcome:
    """Compute ``month``'s KPIs; write the report to ``html_out``; post with ``notifier``."""
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
        )
    report = compute_kpis(month, playbook=playbook, snapshots=inputs.snapshots, **inputs.frames())
    months = [shift_month(month, -i) for i in range(n - 1, -1, -1)]
    trend = kpi_trend(months, playbook=playbook, snapshots=inputs.snapshots, **inputs.frames())
    bands = band_counts(inputs.snapshots, months)
    capacity = None
    if inputs.accounts is not None:
        current = inputs.accounts
        churn_col = playbook.kpi.churn_date_column
        if churn_col in current:
            current = current[current[churn_col].isna()]
        scores = report.scores if not report.scores.empty else None
        capacity = owner_capacity(current, playbook, scores=scores, users=inputs.users)
    outcome = KpiOutcome(report, inputs, trend, bands, capacity, months=months)
    if html_out is not None:
        html = render_kpi_report(
            report,
            templates=templates,
            playbook=playbook,
            trend=trend,
            bands=bands,
            capacity=capacity,
            missing_inputs=inputs.missing,
        )
        html_out = Path(html_out)
        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(html, encoding="utf-8")
        outcome.html_path = html_out
        log.info("kpi_report_written", path=str(html_out), month=month)
    if notifier is not None:
        outcome.slack = notifier.post_kpi_summary(month, report.rows())
    return outcome
