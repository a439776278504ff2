"""The guard stages of a run: judge the inputs after extract, and the plan before apply.

The checks themselves are pure (:mod:`sfsync.guards.inputs`, :mod:`sfsync.guards.outputs`);
this module fetches their baseline from the state store, decides what a failure does, and
records a finished run's figures as the next run's baseline.

A failure stops the run before anything is written (:class:`~sfsync.errors.GuardError`,
exit 1) with every finding and how to go ahead once. With ``--accept-input-change`` /
``--accept-mass-change`` the findings are logged, shown in the summary and the run goes on; a
dry run shows them and goes on (it writes nothing anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog

from sfsync.errors import GuardError
from sfsync.guards.inputs import GuardFinding, check_inputs
from sfsync.guards.outputs import OUTPUT_FIGURES, QUIET_COLUMNS, check_outputs, output_figures
from sfsync.jobs import Job
from sfsync.state.run_figures import last_good_figures, recent_figures, record_figures

log = structlog.get_logger(__name__)

INPUT_FLAG = "--accept-input-change"
OUTPUT_FLAG = "--accept-mass-change"


@dataclass(frozen=True)
class GuardRun:
    """What the guard stages need to know about the run (no clients but the state store)."""

    job_name: str
    job: Job
    as_of: date
    run_id: int | None
    store: Any  # sfsync.state.db.Store or None
    dry_run: bool
    accept: bool  # the override flag of this guard was given
    report_only: bool = False  # a report job (KPIs): findings are shown, the report says n/a


def judge_inputs(run: GuardRun, figures: dict[str, dict[str, Any]]) -> list[GuardFinding]:
    """Every input finding of every source whose guard is enabled."""
    findings: list[GuardFinding] = []
    for role, figs in figures.items():
        guard = run.job.source_of(role).guard  # a role or a content log
        if not guard.enabled:
            continue
        last = None
        if run.store is not None:
            last = last_good_figures(
                run.store, run.job_name, f"input:{role}", before_run=run.run_id
            )
        findings += check_inputs(
            figs,
            last.figures if last else None,
            min_row_ratio=guard.min_row_ratio,
            min_coverage_ratio=guard.min_coverage_ratio,
            min_measure_ratio=guard.min_measure_ratio,
            last_label=last.label if last else "the last successful run",
        )
    return findings


def judge_outputs(run: GuardRun, figures: dict[str, Any]) -> list[GuardFinding]:
    """Findings of the mass-change brake against the recent runs (none without history)."""
    guard = run.job.guards.output
    if not guard.enabled or run.store is None:
        return []

    recent = recent_figures(run.store, run.job_name, "output", run.as_of, days=guard.recent_days)
    recent = [r for r in recent if r.run_id != run.run_id]
    limits = {name: (getattr(guard, name).floor, getattr(guard, name).factor) for name in
              OUTPUT_FIGURES}  # fmt: skip
    return check_outputs(figures, [r.figures for r in recent], limits)


def plan_figures(scores: Any, previous: Any, signals: Any, plan: Any, mapping: Any) -> dict:
    """The output figures of a scoring run's plan (see :func:`output_figures`)."""
    churn = signals.loc[signals["kind"] == "churn"] if "kind" in signals.columns else signals
    quiet = [
        spec.field
        for column, spec in mapping.fields.items()
        if column in QUIET_COLUMNS or spec.write == "with_changes"
    ]
    return output_figures(
        scores,
        previous,
        churn,
        changed_records=[[c.field for c in record.changes] for record in plan.records],
        quiet_fields=quiet,
        records_in_scope=plan.records_in_scope,
        campaign_members=plan.insert_count,
    )


def enforce(run: GuardRun, findings: list[GuardFinding], *, kind: str, flag: str) -> list[str]:
    """Stop the run on findings (GuardError), unless accepted or a dry run; returns the
    findings that were let through, as the run summary shows them."""
    if not findings:
        return []
    for finding in findings:
        log.warning(
            "guard_failed",
            guard=f"{kind}.{finding.check}",
            source=finding.source,
            detail=finding.message,
            accepted=run.accept,
            dry_run=run.dry_run,
        )
    if run.accept or run.dry_run or run.report_only:
        if run.accept:
            verb = f"accepted by {flag}"
        elif run.dry_run:
            verb = "would stop a real run"
        else:
            verb = "a report job goes on; its figures say what is missing"
        return [f"{kind} guard ({verb}): {f}" for f in findings]
    lines = "\n".join(f"  - {f.check}: {f}" for f in findings)
    what = "input looks broken" if kind == "input" else "plan changes far more than usual"
    roles = sorted({f.source for f in findings})
    setting = (
        " / ".join(f"sources.{role}.guard" for role in roles) + f" in jobs/{run.job_name}.yaml"
        if kind == "input"
        else f"guards.output in jobs/{run.job_name}.yaml"
    )
    raise GuardError(
        f"the {kind} guard stopped the run before anything was written — the {what}:\n{lines}",
        hint=f"if the change is expected, run once with {flag}; to change the thresholds for "
        f"good, set {setting}",
    )


def record_baseline(
    run: GuardRun, input_figures: dict[str, dict[str, Any]], plan_figures: dict | None
) -> None:
    """Keep a run's figures; they become the baseline once the run finished well."""
    if run.store is None or run.run_id is None or run.dry_run:
        return

    for role, figs in input_figures.items():
        record_figures(run.store, run.run_id, run.job_name, run.as_of, f"input:{role}", figs)
    if plan_figures is not None:
        record_figures(run.store, run.run_id, run.job_name, run.as_of, "output", plan_figures)
