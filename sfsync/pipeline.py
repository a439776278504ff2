"""Compose one job: extract → compute → plan → apply → notify → report.

Each stage is one function taking the :class:`~sfsync.run_context.RunContext` (what the run is
about and the ready-made clients, built by ``sfsync.run_context.build_run_context``) and the
previous stage's output.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import pandas as pd
import structlog

from sfsync.automation.kpi_job import KpiCompute
from sfsync.guards import stage as guards
from sfsync.jobs import UsageImportCompute, scoring_month
from sfsync.report import RunSummary
from sfsync.run_context import RunContext
from sfsync.sources import files as file_source
from sfsync.sources.extract import Inputs, extract

log = structlog.get_logger(__name__)


# --- compute ---------------------------------------------------------------------------------


@dataclass
class Computed:
    """What the run wants in Salesforce: Account field values, Tasks, and the scores."""

    desired_fields: pd.DataFrame
    sync_config: Any  # sfsync.salesforce.planner.SyncConfig
    desired_tasks: pd.DataFrame | None = None
    scores: Any = None  # sfsync.scoring.ScoreResult when the job scores
    previous: pd.DataFrame | None = None  # the previous stored scores (trend, band moves)


USAGE_IMPORT_COLUMNS = {
    "deliveries": "usage_deliveries",
    "login_days": "usage_login_days",
    "last_login_date": "usage_last_login",
    "plan_usage_ratio": "usage_plan_ratio",
}


def usage_import_frame(accounts: pd.DataFrame, usage: pd.DataFrame, month: str) -> pd.DataFrame:
    """Each linked account with its tenant's usage in ``month`` (pure).

    A linked tenant with no row that month used nothing (SPEC §10): deliveries and login days
    are 0; its last login and plan ratio stay unknown. Unlinked accounts are left out.
    """
    linked = accounts.loc[accounts["tenant_id"].notna(), ["account_id", "tenant_id"]]
    figures = usage.loc[usage["month"] == month, ["tenant_id", *USAGE_IMPORT_COLUMNS]]
    out = linked.merge(figures, on="tenant_id", how="left").rename(columns=USAGE_IMPORT_COLUMNS)
    out["usage_month"] = month
    for column in ("usage_deliveries", "usage_login_days"):
        out[column] = out[column].fillna(0.0)
    return out[["account_id", "usage_month", *USAGE_IMPORT_COLUMNS.values()]].reset_index(drop=True)


def sync_config(ctx: RunContext, columns) -> Any:
    """Field mapping, Task settings and templates of the job (``sfsync.salesforce.planner``)."""
    from sfsync.salesforce.planner import load_sync_config

    return load_sync_config(
        ctx.mappings_dir,
        mapping_name=ctx.job.write.account_fields or "account_fields",
        language=str(getattr(ctx.settings, "language", None) or "ja"),
        timezone=ctx.timezone,
        columns=list(columns),
    )


def compute(ctx: RunContext, inputs: Inputs) -> Computed:
    """Derive the desired Salesforce state from the inputs (no writes)."""
    accounts = inputs.frames["accounts"]
    if isinstance(ctx.job.compute, UsageImportCompute):
        month = scoring_month(ctx.as_of).strftime("%Y-%m")
        desired = usage_import_frame(accounts, inputs.frames["usage"], month)
        log.info("usage_import_computed", accounts=len(desired), month=month)
        return Computed(desired, sync_config(ctx, desired.columns))
    return compute_scores(ctx, inputs)


def _empty_usage() -> pd.DataFrame:
    return pd.DataFrame({"tenant_id": pd.Series(dtype="str"), "month": pd.Series(dtype="str")})


def _empty_activities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": pd.Series(dtype="str"),
            "date": pd.Series(dtype="datetime64[ns]"),
            "type": pd.Series(dtype="str"),
            "completed": pd.Series(dtype="boolean"),
        }
    )


def compute_scores(ctx: RunContext, inputs: Inputs) -> Computed:
    """Score the accounts with the job's scorecard; build the desired signal Tasks."""
    from sfsync.salesforce.planner import desired_account_fields, signal_tasks
    from sfsync.scoring import load_scorecard, score_accounts

    spec = ctx.job.compute
    ctx.progress.stage(f"Scoring accounts with the {spec.scorecard} scorecard")
    card = load_scorecard(ctx.mappings_dir / "scorecards" / f"{spec.scorecard}.yaml")
    benchmarks = None
    if spec.benchmarks:
        benchmarks = file_source.read_file(ctx.mappings_dir / "benchmarks" / spec.benchmarks)
    accounts = inputs.frames["accounts"]
    usage = inputs.get("usage")
    activities = inputs.get("activities")
    previous = previous_scores(ctx, spec.scorecard)
    from sfsync.templates import load_templates

    # the explanation (Health_Explanation__c) is written in the configured language
    language = str(getattr(ctx.settings, "language", None) or "ja")
    templates = load_templates(ctx.mappings_dir / "templates", language)
    result = score_accounts(
        accounts,
        usage if usage is not None else _empty_usage(),
        activities if activities is not None else _empty_activities(),
        as_of=ctx.as_of,
        scorecard=card,
        benchmarks=benchmarks,
        previous=previous,
        templates=templates,
    )
    scores = result.scores
    summary = ctx.summary
    summary.scored = len(scores)
    summary.bands = {
        str(band): int(n) for band, n in scores["health_band"].value_counts(dropna=False).items()
    }
    summary.signals_active = len(result.signals)
    desired = desired_account_fields(scores, ctx.as_of)
    config = sync_config(ctx, desired.columns)
    from sfsync.automation.nightly import combine_tasks, followups_for_job

    signal, followup = None, None
    if ctx.job.write.signal_tasks:
        signal = signal_tasks(
            config, result.signals, accounts, inputs.get("users"), as_of=ctx.as_of, scores=scores
        )
    if ctx.job.write.followup_tasks:
        followup = followups_for_job(ctx, inputs, config, result, previous)

    tasks = combine_tasks(signal, followup)
    log.info("accounts_scored", accounts=len(scores), signals=len(result.signals))
    return Computed(desired, config, tasks, result, previous)


def previous_scores(ctx: RunContext, scorecard: str) -> pd.DataFrame | None:
    """Each account's latest stored score before the as-of date (for trend and score_drop)."""
    if ctx.clients.store is None:
        return None
    from sfsync.state.snapshots import previous_scores as stored_previous

    previous = stored_previous(ctx.clients.store, scorecard, ctx.as_of)
    return previous if len(previous) else None


# --- plan ------------------------------------------------------------------------------------


def plan(ctx: RunContext, inputs: Inputs, computed: Computed):
    """Read what Salesforce holds and compare it with the desired state: the Plan (data)."""
    from sfsync.salesforce.planner import plan_sync

    ctx.progress.stage("Comparing with Salesforce")
    pending = []
    if ctx.clients.store is not None:
        from sfsync.state.failures import pending_writes

        pending = pending_writes(ctx.clients.store)
    result = plan_sync(
        ctx.clients.salesforce,
        computed.sync_config,
        computed.desired_fields,
        computed.desired_tasks,
        pending=pending,
        meta={"job": ctx.job_name, "as_of": ctx.as_of.isoformat(), "run_id": ctx.run_id},
    )
    totals = result.totals()
    ctx.summary.fields_planned = totals["records_to_update"]
    ctx.summary.tasks_planned = totals["tasks_to_create"] + totals["tasks_to_update"]
    return result


def _count_task_kinds(summary: RunSummary, created_keys: list[str]) -> None:
    from sfsync.automation.nightly import count_by_kind

    summary.signal_tasks_created, summary.followup_tasks_created = count_by_kind(created_keys)


# --- apply -----------------------------------------------------------------------------------


def apply(ctx: RunContext, the_plan) -> Any:
    """Execute the plan (nothing in a dry run); count what was written."""
    if ctx.dry_run:
        return None
    from sfsync.salesforce.writer import apply_plan

    ctx.progress.stage("Writing to Salesforce")
    result = apply_plan(
        ctx.clients.salesforce,
        the_plan,
        ctx.clients.store,
        ctx.run_id,
        bulk_threshold=ctx.bulk_threshold,
    )
    summary = ctx.summary
    created_keys = []
    for r in result.succeeded:
        if r.sobject == "Task":
            if r.created:
                summary.tasks_created += 1
                created_keys.append(r.key)
            else:
                summary.tasks_updated += 1
        else:
            summary.fields_written += 1
    _count_task_kinds(summary, created_keys)
    summary.write_failures = len(result.failed)
    summary.unchanged = max(the_plan.records_in_scope - len(the_plan.records), 0)
    return result


def with_owners(scores: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """The scores with each account's ``owner_id`` (stored in the snapshot: the next run's
    hand-over rule compares owners against it)."""
    if "owner_id" in scores.columns or "owner_id" not in accounts.columns:
        return scores
    owners = accounts[["account_id", "owner_id"]].drop_duplicates("account_id")
    return scores.merge(owners, on="account_id", how="left")


def record_results(ctx: RunContext, inputs: Inputs, computed: Computed) -> None:
    """After a real run: store the score snapshot and the signal ledger (state store)."""
    if ctx.dry_run or ctx.clients.store is None or computed.scores is None:
        return
    from sfsync.state.signals import sync_signals
    from sfsync.state.snapshots import save_snapshots, with_measure_points

    store, result = ctx.clients.store, computed.scores
    scores = with_measure_points(
        with_owners(result.scores, inputs.frames["accounts"]),
        getattr(result, "explanations", None),
    )
    save_snapshots(store, ctx.run_id, ctx.job.compute.scorecard, ctx.as_of, scores)
    changes = sync_signals(store, ctx.as_of, result.signals, scope=result.scores["account_id"])
    ctx.summary.signals_new = len(changes.new)
    if "kind" in changes.new:
        ctx.summary.churn_signals_new = int((changes.new["kind"] == "churn").sum())


# --- notify ----------------------------------------------------------------------------------


def notify(ctx: RunContext, inputs: Inputs, computed: Computed, applied: Any) -> None:
    """Slack: a notice per new signal, escalations and the digest (``sfsync.notify.slack``;
    deduplicated through the alert ledger, so a re-run alerts nothing new)."""
    if ctx.dry_run or not ctx.job.notify.slack or computed.scores is None:
        return
    if ctx.clients.slack is None:
        ctx.summary.notes.append("Slack is not configured (SFSYNC_SLACK_TOKEN): no alerts sent")
        return
    ctx.progress.stage("Notifying Slack")
    failures = [f"{r.sobject} {r.key}: {r.error_code}" for r in getattr(applied, "failed", ())]
    from sfsync.automation.nightly import run_capacity

    capacity = run_capacity(
        ctx.mappings_dir,
        inputs.frames["accounts"],
        scores=computed.scores.scores,
        users=inputs.get("users"),
    )
    result = ctx.clients.slack.notify_run(
        run_id=ctx.run_id,
        job=ctx.job_name,
        as_of=ctx.as_of,
        scores=computed.scores.scores,
        signals=computed.scores.signals,
        accounts=inputs.frames["accounts"],
        users=inputs.get("users"),
        previous=computed.previous,
        tasks_created=ctx.summary.tasks_created,
        failures=failures,
        capacity=capacity,
    )
    counts = result.counts()
    summary = ctx.summary
    summary.signal_alerts = int(result.alerts)
    summary.alerts_sent = int(counts.get("slack_sent", 0))
    summary.alerts_pending = int(counts.get("slack_pending", 0))
    if result.skipped:
        summary.notes.append(f"Slack: {result.skipped}")
    if result.error:
        summary.notes.append(f"Slack: {result.error} (messages stay queued for the next run)")


# --- the whole run ---------------------------------------------------------------------------


@dataclass
class RunOutcome:
    """What ``run_job`` hands back: the summary and the plan (for ``--dry-run`` / ``--plan-out``)."""

    summary: RunSummary
    plan: Any = None
    kpi: Any = None  # sfsync.automation.kpi_job.KpiOutcome of a KPI job


def _api_calls(ctx: RunContext) -> dict[str, int]:
    calls = {}
    for name, client in (
        ("salesforce", ctx.clients.salesforce),
        ("metabase", ctx.clients.metabase),
    ):
        count = getattr(client, "api_calls", None) if client is not None else None
        if count is not None:
            calls[name] = int(count)
    slack_calls = getattr(ctx.clients.slack, "api_calls", None)
    if slack_calls is not None:
        calls["slack"] = int(slack_calls)
    return calls


def preflight(ctx: RunContext) -> None:
    """Refuse to start when the org has fewer daily API requests left than the reserve."""
    check = getattr(ctx.clients.salesforce, "check_api_budget", None)
    if check is not None:
        check()


def _guard_run(ctx: RunContext, *, accept: bool) -> guards.GuardRun:
    return guards.GuardRun(
        job_name=ctx.job_name,
        job=ctx.job,
        as_of=ctx.as_of,
        run_id=ctx.run_id,
        store=ctx.clients.store,
        dry_run=ctx.dry_run,
        accept=accept,
        # a KPI report writes nothing to Salesforce and marks each KPI it cannot compute
        report_only=isinstance(ctx.job.compute, KpiCompute),
    )


def guard_inputs(ctx: RunContext, inputs: Inputs) -> None:
    """Stop before computing when a source's input is far from a normal night's (SPEC §12)."""
    run = _guard_run(ctx, accept=ctx.accept_input_change)
    findings = guards.judge_inputs(run, inputs.figures)
    guards.enforce(run, findings, ctx.summary, kind="input", flag=guards.INPUT_FLAG)


def guard_plan(ctx: RunContext, computed: Computed, the_plan) -> dict | None:
    """Stop before writing when the plan changes far more than the recent runs did; returns
    the plan's figures (None when the job does not score)."""
    if computed.scores is None:
        return None
    figures = guards.plan_figures(
        computed.scores.scores,
        computed.previous,
        computed.scores.signals,
        the_plan,
        computed.sync_config.mapping,
    )
    run = _guard_run(ctx, accept=ctx.accept_mass_change)
    findings = guards.judge_outputs(run, figures)
    guards.enforce(run, findings, ctx.summary, kind="output", flag=guards.OUTPUT_FLAG)
    return figures


def check_write_budget(ctx: RunContext, the_plan) -> None:
    """Refuse to start writing when the day's API requests cannot cover the whole plan."""
    if ctx.dry_run or the_plan is None or ctx.clients.salesforce is None:
        return
    from sfsync.salesforce.budget import check_write_budget as check

    check(ctx.clients.salesforce, the_plan, bulk_threshold=ctx.bulk_threshold)


def run_stages(ctx: RunContext) -> RunOutcome:
    """preflight → extract → input guard → compute → plan → output guard → API budget →
    apply → record → notify (no lock or ledger); a KPI job: preflight → extract → input guard
    → KPIs, report and Slack summary."""
    preflight(ctx)
    inputs = extract(ctx)
    guard_inputs(ctx, inputs)
    if isinstance(ctx.job.compute, KpiCompute):  # a report: nothing to plan or apply
        from sfsync.automation.kpi_job import kpi_stage

        outcome = RunOutcome(ctx.summary, kpi=kpi_stage(ctx, inputs))
        guards.record_baseline(_guard_run(ctx, accept=False), inputs.figures, None)
        return outcome
    computed = compute(ctx, inputs)
    the_plan = plan(ctx, inputs, computed)
    plan_figures = guard_plan(ctx, computed, the_plan)
    check_write_budget(ctx, the_plan)
    applied = apply(ctx, the_plan)
    guards.record_baseline(_guard_run(ctx, accept=False), inputs.figures, plan_figures)
    record_results(ctx, inputs, computed)
    notify(ctx, inputs, computed, applied)
    return RunOutcome(ctx.summary, the_plan)


def run_job(ctx: RunContext) -> RunOutcome:
    """Run the job under the run lock, recorded in the runs ledger.

    A dry run takes no lock (it writes nothing) but is recorded with ``dry_run``. A failed run
    is recorded as failed with its error and the error is raised again; a run where some
    records failed is ``partial`` (they are retried by the next run).
    """
    store = ctx.clients.store
    started = time.monotonic()
    summary = ctx.summary
    if store is None:
        lock = nullcontext()
    else:
        from sfsync.state.lock import run_lock

        ttl = int(getattr(ctx.settings, "lock_ttl_seconds", 600))
        lock = nullcontext() if ctx.dry_run else run_lock(store, ctx.job_name, ttl_seconds=ttl)
    with lock:
        if store is not None:
            from sfsync.state import runs

            ctx.run_id = summary.run_id = runs.start_run(
                store, ctx.job_name, ctx.as_of, dry_run=ctx.dry_run
            )
        log.info("run_started", job=ctx.job_name, as_of=ctx.as_of.isoformat(), run_id=ctx.run_id)
        try:
            outcome = run_stages(ctx)
        except BaseException as exc:
            from sfsync.errors import RunInterrupted

            summary.status = "failed"
            named = isinstance(exc, Exception | RunInterrupted)  # "stopped by SIGTERM"
            _finish(ctx, started, error=str(exc) if named else type(exc).__name__)
            _notify_failure(ctx, exc)
            raise
        summary.status = "partial" if summary.write_failures else "succeeded"
        _finish(ctx, started)
    return outcome


def _finish(ctx: RunContext, started: float, error: str | None = None) -> None:
    summary = ctx.summary
    summary.api_calls = _api_calls(ctx)
    summary.duration_seconds = time.monotonic() - started
    if ctx.clients.store is not None and ctx.run_id is not None:
        from sfsync.state import runs

        runs.finish_run(
            ctx.clients.store,
            ctx.run_id,
            summary.status,
            counts=summary.counts(),
            api_calls=summary.total_api_calls,
            error=error,
        )
    event = log.error if summary.status == "failed" else log.info
    event("run_finished", **summary.to_event(), **({"error": error} if error else {}))


def _notify_failure(ctx: RunContext, exc: BaseException) -> None:
    notifier = ctx.clients.slack
    if notifier is None or ctx.dry_run or not ctx.job.notify.slack:
        return
    try:
        notifier.notify_run_failed(
            run_id=ctx.run_id, job=ctx.job_name, as_of=ctx.as_of, error=str(exc)
        )
    except Exception as notify_exc:  # the run's own error matters more than the alert's
        log.warning("run_failure_alert_failed", error=type(notify_exc).__name__)
