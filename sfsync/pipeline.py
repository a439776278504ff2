"""Compose one job: extract → compute → plan → apply → record → notify → report.

Each stage is a function taking only what it uses and returning its result:

* ``extract(job, column_mappings, readers, run)`` → :class:`~sfsync.sources.extract.Inputs`
  (``sfsync.sources.extract``);
* :func:`compute` ``(inputs, bundle, as_of, previous)`` → :class:`Computed`, the desired
  Salesforce state (pure: no I/O, no clock);
* :func:`plan` ``(computed, salesforce, pending, meta)`` → the Plan (data);
* :func:`apply` ``(plan, writer, store, run_id, bulk_threshold)`` → the write results;
* :func:`record_results` and :func:`notify` → what they stored and sent;
* :func:`report` ``(results, ...)`` → the :class:`~sfsync.report.RunSummary`.

:func:`run_job` runs them under the run lock with the guards and the API budget check in
between; the summary is built from the stage results (:class:`StageResults`), also when the
run fails or is interrupted.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import pandas as pd
import structlog

from sfsync.automation.campaign_rules import campaign_facts, eligible_accounts
from sfsync.automation.campaign_stage import CampaignPlan, plan_campaign_members
from sfsync.automation.closures import closable_followups
from sfsync.automation.followups import first_deliveries
from sfsync.automation.history_schedule import history_due, period_of
from sfsync.automation.kpi_job import KpiOutcome, KpiStageResult, kpi_stage
from sfsync.automation.nightly import (
    combine_tasks,
    count_by_kind,
    run_capacity,
    run_reassignments,
    scheduled_followups,
)
from sfsync.automation.playbook import OnboardingPolicy, Playbook, RenewalPolicy
from sfsync.automation.task_limit import DailyLimit, defer_in_plan, new_tasks
from sfsync.automation.touch import TOUCH_COLUMNS, TouchModelPolicy, task_signals, touch_columns
from sfsync.automation.trigger_fields import TRIGGER_COLUMNS, trigger_columns
from sfsync.automation.urgent import build_urgent_tasks
from sfsync.calendar import month_text, scoring_month
from sfsync.errors import ConfigError, ConfigProblem, RunInterrupted
from sfsync.guards import stage as guards
from sfsync.jobs import KpiCompute, UsageImportCompute
from sfsync.plan import ObjectInsert, ObjectUpsert, PendingWrite, Plan, PlanProblem
from sfsync.ports import Notifier, SalesforceApi, Store
from sfsync.project import USAGE_IMPORT_COLUMNS, JobBundle, retention_protect_days
from sfsync.report import RunSummary
from sfsync.run_context import Run
from sfsync.salesforce import budget
from sfsync.salesforce.campaign_members import SOBJECT as CAMPAIGN_MEMBER
from sfsync.salesforce.history import (
    ACCOUNT_LOOKUP_FIELD,
    history_changes,
    history_frame,
    history_org_problems,
    load_history_mapping,
    resolve_history_mapping,
)
from sfsync.salesforce.opportunity import KEY_FIELD as OPPORTUNITY_KEY
from sfsync.salesforce.opportunity import PARENT_FIELD as OPPORTUNITY_PARENT
from sfsync.salesforce.opportunity import SOBJECT as OPPORTUNITY_SOBJECT
from sfsync.salesforce.opportunity import (
    build_upsell_opportunities,
    existing_keys_query,
    new_opportunities,
    opportunity_org_problems,
    opportunity_template_problems,
)
from sfsync.salesforce.planner import (
    LoopContext,
    SyncConfig,
    desired_account_fields,
    plan_sync,
    signal_tasks,
)
from sfsync.salesforce.upsell import build_upsell_tasks
from sfsync.salesforce.writer import ApplyResult, apply_plan
from sfsync.scoring.arrays import release_unused_memory
from sfsync.scoring.qbr import last_qbr_dates
from sfsync.scoring.result import ScoreResult
from sfsync.scoring.segmented import score_by_segment
from sfsync.scoring.trend import trend_baseline_day, trend_direction
from sfsync.sources.extract import (
    Inputs,
    Readers,
    SourceRun,
    check_quarantine_shares,
    extract,
    store_quarantine,
)
from sfsync.state import runs
from sfsync.state.alerts import prune_sent_before
from sfsync.state.failures import pending_writes as stored_pending_writes
from sfsync.state.history_periods import mark_period_written, period_written_on
from sfsync.state.lock import run_lock
from sfsync.state.prune import Pruner, PruneReport, prune_state
from sfsync.state.signals import sync_signals
from sfsync.state.snapshots import previous_scores as stored_previous_scores
from sfsync.state.snapshots import (
    save_snapshots,
    scores_on_or_before,
    with_arr,
    with_measure_points,
)
from sfsync.state.task_quota import (
    created_on,
    keep_days_before,
    keys_on,
    prune_task_creations,
    record_created,
)

log = structlog.get_logger(__name__)

__all__ = [
    "Computed",
    "RunOutcome",
    "StageResults",
    "apply",
    "compute",
    "compute_scores",
    "extract_inputs",
    "notify",
    "plan",
    "record_results",
    "report",
    "run_job",
    "run_stages",
    "usage_import_frame",
]


# --- extract ---------------------------------------------------------------------------------


#: The input frames a run keeps once the scores and the desired values are computed
FRAMES_AFTER_COMPUTE = ("accounts", "users")


def extract_inputs(run: Run, run_id: int | None) -> Inputs:
    """The extract stage of ``run``: read the sources, keep the quarantined rows in the state
    store, then stop when a source has too many of them."""
    bundle, clients = run.bundle, run.clients
    inputs = extract(
        bundle.job,
        bundle.column_mappings,
        Readers(clients.salesforce, clients.metabase),
        SourceRun(
            as_of=run.as_of,
            root=bundle.root,
            bulk_threshold=bundle.bulk_threshold,
            env=run.request.env,
            progress=run.progress,
            account_write_fields=account_write_fields(bundle),
        ),
    )
    store_quarantine(clients.store, run_id, inputs.quarantined)
    check_quarantine_shares(inputs, bundle.job, bundle.name)
    return inputs


def account_write_fields(bundle: JobBundle) -> tuple[str, ...]:
    """The Account fields a writing job compares (its match field first): extract reads them
    with the accounts, and :func:`plan` compares with that read (Accounts read once a run)."""
    config = bundle.sync_config
    if config is None or config.mapping.sobject != "Account":
        return ()
    mapping = config.mapping
    return tuple(dict.fromkeys([mapping.match.field, *mapping.field_names]))


# --- compute ---------------------------------------------------------------------------------


@dataclass
class Computed:
    """What the run wants in Salesforce: Account field values, Tasks, and the scores."""

    desired_fields: pd.DataFrame
    sync_config: SyncConfig
    desired_tasks: pd.DataFrame | None = None
    scores: ScoreResult | None = None  # when the job scores
    previous: pd.DataFrame | None = None  # the previous stored scores (trend, band moves)
    signal_tasks_on: bool = False  # the job writes signal Tasks: hold and close them (SPEC §10)
    as_of: date | None = None
    loop: LoopContext | None = None  # users and names for escalating overdue signal Tasks
    # account_id, owner_id, touch_model, cs_priority, tech_touch_triggers (a scoring job);
    # ``automation.touch.owner_worklists(touch)`` gives each owner's ranked worklist
    touch: pd.DataFrame | None = None
    # rule, account_id: the accounts each Campaign rule wants today (``write.campaigns``)
    campaign_targets: pd.DataFrame | None = None

    def without_desired_tasks(self) -> Computed:
        """This result without the desired Task frame, once the plan holds what it needs of
        it (a create or update carries its own fields): at 100,000 accounts the frame is some
        160 MiB, mostly rendered descriptions of Tasks that exist already or wait for a later
        night under the daily limit."""
        return replace(self, desired_tasks=None)


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


def _sync_config(bundle: JobBundle) -> SyncConfig:
    if bundle.sync_config is None:  # load_bundle guarantees it for a job that writes
        raise ValueError(f"job {bundle.name} has no Account field mapping")
    return bundle.sync_config


def compute(
    inputs: Inputs,
    bundle: JobBundle,
    as_of: date,
    previous: pd.DataFrame | None,
    trend_baseline: pd.DataFrame | None | Literal["previous"] = "previous",
) -> Computed:
    """Derive the desired Salesforce state from the inputs (pure: no I/O, no clock).
    ``trend_baseline``: the stored scores ``health_trend`` compares with (:func:`trend_baseline`)."""
    accounts = inputs.frames["accounts"]
    if isinstance(bundle.job.compute, UsageImportCompute):
        month = month_text(scoring_month(as_of))
        desired = usage_import_frame(accounts, inputs.frames["usage"], month)
        log.info("usage_import_computed", accounts=len(desired), month=month)
        return Computed(desired, _sync_config(bundle))
    return compute_scores(inputs, bundle, as_of, previous, trend_baseline)


def empty_usage() -> pd.DataFrame:
    """A usage frame without rows (a job without a usage source)."""
    return pd.DataFrame({"tenant_id": pd.Series(dtype="str"), "month": pd.Series(dtype="str")})


def empty_activities() -> pd.DataFrame:
    """An activities frame without rows (a job without an activities source)."""
    return pd.DataFrame(
        {
            "account_id": pd.Series(dtype="str"),
            "date": pd.Series(dtype="datetime64[ns]"),
            "type": pd.Series(dtype="str"),
            "completed": pd.Series(dtype="boolean"),
        }
    )


def compute_scores(
    inputs: Inputs,
    bundle: JobBundle,
    as_of: date,
    previous: pd.DataFrame | None,
    trend_baseline: pd.DataFrame | None | Literal["previous"] = "previous",
) -> Computed:
    """Score the accounts with the bundle's scorecard (or each segment's, ``compute.scorecards``);
    build the desired signal, upsell and
    follow-up Tasks (pure: the scorecard, benchmarks, templates and playbook come from ``bundle``,
    ``previous`` is the previous stored scores)."""
    card = bundle.scorecard
    if card is None:  # load_bundle guarantees it for a scoring job
        raise ValueError(f"job {bundle.name} has no scorecard")
    accounts = inputs.frames["accounts"]
    usage = inputs.get("usage")
    activities = inputs.get("activities")
    result = score_by_segment(
        accounts,
        usage if usage is not None else empty_usage(),
        activities if activities is not None else empty_activities(),
        as_of=as_of,
        scorecard=card,
        by_segment=bundle.segment_scorecards,  # empty: every account with ``card``
        benchmarks=bundle.benchmarks,
        previous=previous,
        trend_baseline=trend_baseline,
        templates=bundle.templates,  # the explanation is written in the configured language
    )
    scores = result.scores
    dead_band = getattr(bundle.job.compute, "direction_dead_band", None)
    scores["health_direction"] = trend_direction(
        scores["health_trend"], *(() if dead_band is None else (dead_band,))
    )
    playbook = bundle.playbook
    policy = playbook.touch_model if playbook is not None else TouchModelPolicy()
    touch = touch_columns(scores, result.signals, accounts, as_of=as_of, policy=policy)
    deliveries = first_deliveries(usage, as_of)  # used by three rules: computed once
    triggers = trigger_columns(
        scores["account_id"],
        accounts,
        as_of=as_of,
        onboarding=playbook.onboarding if playbook is not None else OnboardingPolicy(),
        renewal_lead_months=(
            playbook.renewal if playbook is not None else RenewalPolicy()
        ).lead_months,
        usage=usage,
        activities=activities,
        deliveries=deliveries,
    )
    desired = desired_account_fields(
        scores.assign(
            **{c: touch.columns[c].to_numpy() for c in TOUCH_COLUMNS},
            **{c: triggers[c].array for c in TRIGGER_COLUMNS},
        ),
        as_of,
    )
    desired["last_qbr_date"] = last_qbr_dates(desired["account_id"], activities, as_of).to_numpy()
    config = _sync_config(bundle)
    write = bundle.job.write
    targets = None
    if bundle.campaign_rules is not None:
        facts = campaign_facts(desired, accounts)
        targets = eligible_accounts(facts, result.signals, bundle.campaign_rules, as_of)
    signal, upsell, followup = None, None, None
    if write.signal_tasks:
        signal = signal_tasks(
            config, touch.task_signals, accounts, inputs.get("users"), as_of=as_of, scores=scores
        )
        if config.templates is not None:  # always: signal_tasks raised without templates
            upsell = build_upsell_tasks(
                touch.task_signals,
                accounts,
                inputs.get("users"),
                as_of=as_of,
                templates=config.templates,
                status=config.task_settings.status,
                fallback_owner=config.task_settings.fallback_owner,
                scores=scores,
            )
    if write.followup_tasks:
        if bundle.playbook is None or bundle.templates is None:
            raise ValueError(f"job {bundle.name} writes follow-ups but has no playbook")
        followup = scheduled_followups(
            bundle.playbook,
            bundle.templates,
            accounts,
            as_of=as_of,
            usage=usage,
            activities=activities,
            scores=scores,
            signals=result.signals,
            previous=previous,
            users=inputs.get("users"),
            status=config.task_settings.status,
            fallback_owner=config.task_settings.fallback_owner,
            deliveries=deliveries,
        )
    urgent = None
    if signal is not None and bundle.playbook is not None and config.templates is not None:
        urgent = build_urgent_tasks(
            result.signals,
            scores,
            accounts,
            inputs.get("users"),
            as_of=as_of,
            playbook=bundle.playbook,
            templates=config.templates,
            previous=previous,
            fallback_manager=config.task_settings.escalation.fallback_manager,
            status=config.task_settings.status,
        )
    tasks = combine_tasks(signal, urgent, upsell, followup)
    log.info("accounts_scored", accounts=len(scores), signals=len(result.signals))
    loop = None
    if signal is not None or followup is not None:
        names = accounts[["account_id", "name"]].dropna() if "name" in accounts else None
        closable = None
        if followup is not None and bundle.playbook is not None:
            closable = closable_followups(
                accounts,
                as_of=as_of,
                playbook=bundle.playbook,
                activities=activities,
                usage=usage,
                deliveries=deliveries,
            )
        loop = LoopContext(
            users=inputs.get("users"),
            account_names=None
            if names is None
            else dict(zip(names["account_id"].astype(str), names["name"].astype(str), strict=True)),
            escalate=signal is not None,
            closable=closable,
        )
    return Computed(
        desired,
        config,
        tasks,
        result,
        previous,
        signal_tasks_on=signal is not None,
        as_of=as_of,
        loop=loop,
        touch=touch.columns,
        campaign_targets=targets,
    )


def previous_scores(store: Store | None, scorecard: str, as_of: date) -> pd.DataFrame | None:
    """Each account's latest stored score before the as-of date (for score_drop)."""
    if store is None:
        return None

    previous = stored_previous_scores(store, scorecard, as_of)
    return previous if len(previous) else None


def trend_baseline(
    store: Store | None, scorecard: str, as_of: date, trend_days: int
) -> pd.DataFrame | None:
    """Each account's latest stored score at least ``trend_days`` before the as-of date (what
    ``Health_Trend__c`` compares with; None without one)."""
    if store is None:
        return None
    baseline = scores_on_or_before(store, scorecard, trend_baseline_day(as_of, trend_days))
    return baseline if len(baseline) else None


# --- plan ------------------------------------------------------------------------------------


def plan(
    computed: Computed,
    salesforce: SalesforceApi,
    *,
    pending: list[PendingWrite] | None = None,
    meta: dict | None = None,
    current: pd.DataFrame | None = None,
    defer: DailyLimit | None = None,
) -> Plan:
    """Read what Salesforce holds and compare it with the desired state: the Plan (data).
    ``pending``: the failure ledger's writes to retry (``sfsync.state.failures``);
    ``current``: the written fields' values as the extract stage read them with the accounts
    (:attr:`Inputs.current_accounts`), so that the Accounts are not read again; ``defer``:
    the daily limit of new Tasks (:func:`daily_limit`)."""
    return plan_sync(
        salesforce,
        computed.sync_config,
        computed.desired_fields,
        computed.desired_tasks,
        pending=pending or [],
        meta=meta,
        signal_hygiene=computed.signal_tasks_on,
        as_of=computed.as_of,
        loop=computed.loop,
        current=current,
        defer=defer,
    )


def pending_writes(store: Store | None) -> list[PendingWrite]:
    """The failure ledger's writes that the next plan retries (none without a store)."""
    if store is None:
        return []

    return stored_pending_writes(store)


@dataclass(frozen=True)
class HistoryPlanned:
    """The periodic score-history snapshot a run writes: its period and records."""

    period: str
    upsert: ObjectUpsert
    problems: tuple[PlanProblem, ...] = ()


def plan_history(run: Run, computed: Computed, salesforce: SalesforceApi | None,
                 store: Store | None) -> HistoryPlanned | None:  # fmt: skip
    """The ``Health_Score_History__c`` records of this run's periodic snapshot (``history:``
    of the job; :mod:`sfsync.automation.history_schedule`), or None when none is due. The
    mapping is checked against the org first: a problem stops the run before any write."""
    spec = run.bundle.job.history
    scored = computed.scores
    if scored is None or salesforce is None or spec.every == "off":
        return None
    period = period_of(run.as_of, spec)
    written_on = period_written_on(store, run.job_name, period) if store and period else None
    due = history_due(run.as_of, spec, written_on)
    if due is None:
        return None
    mapping = load_history_mapping(run.bundle.mappings_dir, name=spec.mapping)
    describe = salesforce.describe(mapping.sobject)
    problems = history_org_problems(mapping, describe)
    if problems:
        raise ConfigError(
            problems,
            hint="deploy deploy/salesforce (Health_Score_History__c), fix the mapping or set "
            "history.every: off in the job; nothing was written",
        )
    resolved = resolve_history_mapping(mapping, describe)
    card = run.bundle.job.compute.scorecard  # type: ignore[union-attr]
    previous = scores_on_or_before(store, card, due.previous_day) if store is not None else None
    frame = history_frame(scored.scores, run.as_of, period=due.period, previous=previous)
    records, left_out = history_changes(frame, resolved, run.bundle.timezone)
    upsert = ObjectUpsert(resolved.sobject, resolved.match.field, records, ACCOUNT_LOOKUP_FIELD)
    log.info("history_planned", period=due.period, records=len(records), left_out=len(left_out))
    return HistoryPlanned(due.period, upsert, left_out)


def with_history(the_plan: Plan, history: HistoryPlanned | None) -> Plan:
    """The plan plus the history snapshot's upsert (its left-out records as problems)."""
    if history is None:
        return the_plan
    return replace(
        the_plan,
        upserts=(*the_plan.upserts, history.upsert),
        problems=(*the_plan.problems, *history.problems),
    )


def plan_opportunities(
    run: Run, computed: Computed, accounts: pd.DataFrame, salesforce: SalesforceApi | None
) -> ObjectUpsert | None:
    """The upsell Opportunities of this run (``write.opportunity``; None when disabled): one
    per desired upsell Task whose key Salesforce does not hold as an Opportunity yet. The org
    is checked first: a problem stops the run before any write."""
    spec = run.bundle.job.write.opportunity
    templates = computed.sync_config.templates
    if not spec.enabled or salesforce is None or templates is None:
        return None
    where = str(run.bundle.root / "jobs" / f"{run.job_name}.yaml")
    problems = [ConfigProblem(where, "write.opportunity", p) for p in
                opportunity_org_problems(spec, salesforce.describe(OPPORTUNITY_SOBJECT))]  # fmt: skip
    problems += opportunity_template_problems(templates)
    if problems:
        raise ConfigError(problems, hint="nothing was written")
    records = build_upsell_opportunities(
        computed.desired_tasks,
        accounts,
        as_of=run.as_of,
        spec=spec,
        templates=templates,
    )
    existing: set[str] = set()
    for soql in existing_keys_query([r.key for r in records]):
        existing.update(str(row[OPPORTUNITY_KEY]) for row in salesforce.query(soql))
    new = new_opportunities(records, existing)
    log.info("opportunities_planned", upsell=len(records), new=len(new))
    return ObjectUpsert(OPPORTUNITY_SOBJECT, OPPORTUNITY_KEY, new, OPPORTUNITY_PARENT)


def with_upsert(the_plan: Plan, upsert: ObjectUpsert | None) -> Plan:
    """The plan plus one more object's upsert (none: the plan as it is)."""
    if upsert is None or not upsert.records:
        return the_plan
    return replace(the_plan, upserts=(*the_plan.upserts, upsert))


def plan_campaigns(
    run: Run,
    computed: Computed,
    salesforce: SalesforceApi | None,
    pending: list[PendingWrite],
) -> CampaignPlan | None:
    """The Campaign members of this run (``write.campaigns``; None when off):
    :func:`sfsync.automation.campaign_stage.plan_campaign_members`."""
    rules, targets = run.bundle.campaign_rules, computed.campaign_targets
    if rules is None or targets is None or salesforce is None:
        return None
    name = run.bundle.job.write.campaigns
    return plan_campaign_members(
        salesforce,
        rules,
        targets,
        as_of=run.as_of,
        source=f"mappings/{name}.yaml",
        pending=pending,
    )


def with_campaigns(the_plan: Plan, campaigns: CampaignPlan | None) -> Plan:
    """The plan plus the Campaign member inserts, their problems and resolved ledger entries."""
    if campaigns is None:
        return the_plan
    inserts: tuple[ObjectInsert, ...] = the_plan.inserts
    if campaigns.insert.records:
        inserts = (*inserts, campaigns.insert)
    return replace(
        the_plan,
        inserts=inserts,
        problems=(*the_plan.problems, *campaigns.problems),
        resolved=(*the_plan.resolved, *campaigns.resolved),
    )


def record_history(store: Store | None, run: Run, run_id: int | None,
                   history: HistoryPlanned | None, applied: ApplyResult | None) -> int:  # fmt: skip
    """Count the history records written; mark the period done when all of them were."""
    if history is None or applied is None:
        return 0
    sobject = history.upsert.sobject
    ok = sum(1 for r in applied.succeeded if r.sobject == sobject)
    failed = any(r.sobject == sobject for r in applied.failed)
    if store is not None and not failed and not history.problems:
        mark_period_written(store, run.job_name, history.period, run.as_of, run_id, ok)
    return ok


# --- daily Task limit ------------------------------------------------------------------------


@dataclass(frozen=True)
class Limited:
    """The plan after the per-owner daily Task limit, and the new Tasks it created / deferred
    (account_id, owner_id, subject, … : ``sfsync.automation.task_limit``)."""

    plan: Plan
    new: pd.DataFrame
    deferred: pd.DataFrame
    limit: int | None = None


def daily_limit(
    computed: Computed,
    accounts: pd.DataFrame,
    playbook: Playbook | None,
    created_today: dict[str, int],
    counted: set[str] | None = None,
) -> DailyLimit | None:
    """The playbook's per-owner daily limit of new Tasks for this run (None: no limit): ranked
    by severity, segment and ARR, after ``created_today`` (owner -> Tasks counted earlier on
    this as-of day; ``counted``: their keys). Given to :func:`plan` (``defer``), it defers
    the Tasks beyond the limit while the plan is built."""
    policy = playbook.task_limit if playbook is not None else None
    limit = policy.per_owner_per_day if policy is not None else None
    if policy is None or limit is None:
        return None
    info = accounts[[c for c in ("account_id", "arr") if c in accounts]]
    scores = computed.scores.scores if computed.scores is not None else None
    if scores is not None and "segment" in scores:
        info = info.merge(scores[["account_id", "segment"]], on="account_id", how="left")
    return DailyLimit(info, limit, policy.exempt_urgent, created_today, counted or ())


def limited_plan(the_plan: Plan, limit: DailyLimit | None) -> Limited:
    """A plan built under ``limit`` (or without one) with the new Tasks it creates and the
    ones the limit deferred."""
    if limit is None or limit.split is None:
        created = new_tasks(the_plan)
        return Limited(the_plan, created, created.iloc[0:0], limit.limit if limit else None)
    split = limit.split
    if len(split.deferred):
        log.info("tasks_deferred", deferred=len(split.deferred), limit=limit.limit)
    return Limited(the_plan, split.kept, split.deferred, limit.limit)


def limit_new_tasks(
    the_plan: Plan,
    computed: Computed,
    accounts: pd.DataFrame,
    playbook: Playbook | None,
    created_today: dict[str, int],
    counted: set[str] | None = None,
) -> Limited:
    """:func:`daily_limit` applied to a plan built without it (pure): the deferred creations
    turned into skips afterwards (bench/bench_plan.py; tests/perf checks it gives what the
    limit applied while the plan is built gives)."""
    limit = daily_limit(computed, accounts, playbook, created_today, counted)
    created = new_tasks(the_plan)
    if limit is None or created.empty:
        return limited_plan(the_plan, limit)
    deferred_keys = limit(created)
    return limited_plan(defer_in_plan(the_plan, deferred_keys), limit)


def tasks_created_today(store: Store | None, as_of: date) -> tuple[dict[str, int], set[str]]:
    """Owner -> Tasks sfsync counted for them on ``as_of``, and their keys (the state store;
    none without one)."""
    if store is None:
        return {}, set()
    return created_on(store, as_of), keys_on(store, as_of)


def reserve_new_tasks(
    store: Store | None, run_id: int | None, as_of: date, limited: Limited
) -> None:
    """Count the Tasks this run is about to create against their owners' day, *before* they
    are written (a run killed while writing has counted them; the re-run keeps them without
    counting them twice); forget the days no limit looks at any more."""
    if store is None or limited.new.empty:
        return
    new = limited.new
    record_created(
        store,
        as_of=as_of,
        run_id=run_id,
        created=zip(new["sync_key"], new["owner_id"], strict=True),
    )
    prune_task_creations(store, before=keep_days_before(as_of))


def created_tasks(limited: Limited, applied: ApplyResult) -> pd.DataFrame:
    """The new Tasks Salesforce created (account_id, owner_id, subject, …) for the digests."""
    keys = {r.key for r in applied.succeeded if r.sobject == "Task" and r.created}
    return limited.new[limited.new["sync_key"].isin(keys)].reset_index(drop=True)


# --- apply -----------------------------------------------------------------------------------


def apply(
    the_plan: Plan,
    writer: SalesforceApi,
    *,
    store: Store | None,
    run_id: int | None,
    bulk_threshold: int,
) -> ApplyResult:
    """Execute the plan through ``writer``; each outcome is kept in the failure ledger."""
    return apply_plan(writer, the_plan, store, run_id, bulk_threshold=bulk_threshold)


@dataclass(frozen=True)
class WriteCounts:
    """What apply wrote, counted for the summary."""

    fields_written: int = 0
    tasks_created: int = 0
    tasks_updated: int = 0
    signal_tasks_created: int = 0
    upsell_tasks_created: int = 0
    followup_tasks_created: int = 0
    write_failures: int = 0
    campaign_members_added: int = 0
    campaign_members_existing: int = 0  # DUPLICATE_VALUE at write time: already members

    @classmethod
    def of(cls, applied: ApplyResult, account_sobject: str = "Account") -> WriteCounts:
        """Count the results of ``apply`` (``account_sobject``: the Account field mapping's
        object; records of other objects are not counted here)."""
        fields = created = updated = added = existing = 0
        created_keys = []
        for r in applied.succeeded:
            if r.sobject == CAMPAIGN_MEMBER:
                added += r.created
                existing += not r.created
                continue
            if r.sobject not in ("Task", account_sobject):
                continue  # other objects (the score history) are counted apart
            if r.sobject == "Task":
                if r.created:
                    created += 1
                    created_keys.append(r.key)
                else:
                    updated += 1
            else:
                fields += 1
        signal, upsell, followup = count_by_kind(created_keys)
        return cls(fields, created, updated, signal, upsell, followup, len(applied.failed),
                   added, existing)  # fmt: skip


def with_owners(scores: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """The scores with each account's ``owner_id`` and ``main_contact_id`` (stored in the
    snapshot: the next run's hand-over rule compares owners, its contact_changed signal main
    contacts against it)."""
    columns = [
        c for c in ("owner_id", "main_contact_id")
        if c in accounts.columns and c not in scores.columns
    ]  # fmt: skip
    if not columns:
        return scores
    extra = accounts[["account_id", *columns]].drop_duplicates("account_id")
    return scores.merge(extra, on="account_id", how="left")


@dataclass(frozen=True)
class Recorded:
    """What the record stage stored: new signals in the ledger."""

    signals_new: int = 0
    churn_signals_new: int = 0


def record_results(
    store: Store, run_id: int | None, scorecard: str, as_of: date, accounts: pd.DataFrame,
    result: ScoreResult, *, signals: bool = True,
) -> Recorded:  # fmt: skip
    """After a real run: store the score snapshot and the signal ledger (state store).
    ``signals`` false (a job whose signals drive no Task and no Slack message, e.g. the
    seed000 job next to the nightly one): the ledger is left to the jobs that act on it."""
    scores = with_measure_points(with_owners(result.scores, accounts), result.measure_points)
    scores = with_arr(scores, accounts)
    save_snapshots(store, run_id, scorecard, as_of, scores)
    if not signals:
        return Recorded()
    changes = sync_signals(store, as_of, result.signals, scope=result.scores["account_id"])
    churn = int((changes.new["kind"] == "churn").sum()) if "kind" in changes.new else 0
    return Recorded(len(changes.new), churn)


# --- notify ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notified:
    """What the notify stage decided and sent."""

    signal_alerts: int = 0
    alerts_sent: int = 0
    alerts_pending: int = 0
    notes: tuple[str, ...] = ()
    worklists: int = 0  # owners whose digest listed today's top accounts


def _personal_signals(
    signals: pd.DataFrame, touch: pd.DataFrame | None, playbook: Playbook | None
) -> pd.DataFrame:
    """The signals a person acts on: an engagement signal of a low- or tech-touch account is a
    trigger for marketing automation (``Tech_Touch_Triggers__c``), so its owner is not alerted
    in Slack either (the same rule as its Tasks)."""
    if touch is None or playbook is None:
        return signals
    return task_signals(signals, touch["account_id"], touch["touch_model"], playbook.touch_model)


def notify(
    notifier: Notifier,
    *,
    run_id: int | None,
    job: str,
    as_of: date,
    inputs: Inputs,
    computed: Computed,
    playbook: Playbook | None,
    failures: list[str],
    tasks_created: int,
    escalations: list[dict] | None = None,
    tasks: pd.DataFrame | None = None,
    deferred: pd.DataFrame | None = None,
    task_limit: int | None = None,
) -> Notified:
    """Slack: a digest per owner (new signals, new and deferred Tasks, the owner's worklist;
    owners without new signals get the worklist alone once a day), batched escalations
    and the run digest (``sfsync.notify.slack``; deduplicated through the alert ledger, so a
    re-run alerts nothing new)."""
    result = computed.scores
    assert result is not None
    accounts, users = inputs.frames["accounts"], inputs.get("users")
    capacity = run_capacity(playbook, accounts, scores=result.scores, users=users, as_of=as_of)
    moves = run_reassignments(playbook, accounts, capacity, scores=result.scores, users=users)
    sent = notifier.notify_run(
        run_id=run_id,
        job=job,
        as_of=as_of,
        scores=result.scores,
        signals=_personal_signals(result.signals, computed.touch, playbook),
        accounts=inputs.frames["accounts"],
        users=inputs.get("users"),
        previous=computed.previous,
        tasks_created=tasks_created,
        failures=failures,
        capacity=capacity,
        reassignments=moves,
        escalations=escalations or [],
        tasks=tasks,
        deferred=deferred,
        task_limit=task_limit,
        worklist=computed.touch,
    )
    counts = sent.counts()
    notes = []
    if sent.skipped:
        notes.append(f"Slack: {sent.skipped}")
    if sent.error:
        notes.append(f"Slack: {sent.error} (messages stay queued for the next run)")
    return Notified(
        int(sent.alerts),
        int(counts.get("slack_sent", 0)),
        int(counts.get("slack_pending", 0)),
        tuple(notes),
        int(getattr(sent, "worklists", 0) or 0),
    )


# --- report ----------------------------------------------------------------------------------


@dataclass
class StageResults:
    """Each stage's result as the composition receives it (None: not reached / not run)."""

    run_id: int | None = None
    inputs: Inputs | None = None
    guard_notes: list[str] = field(default_factory=list)
    computed: Computed | None = None
    plan: Plan | None = None
    written: WriteCounts | None = None
    limited: Limited | None = None
    recorded: Recorded | None = None
    notified: Notified | None = None
    kpi: KpiStageResult | None = None
    history: HistoryPlanned | None = None
    history_written: int = 0
    campaigns: CampaignPlan | None = None
    pruned: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def report(
    results: StageResults,
    *,
    job: str,
    as_of: date,
    dry_run: bool,
    status: str,
    api_calls: dict[str, int],
    duration_seconds: float,
) -> RunSummary:
    """The run summary, built from the stage results."""
    summary = RunSummary(job=job, as_of=as_of, dry_run=dry_run, run_id=results.run_id)
    summary.status = status
    notes: list[str] = []
    inputs = results.inputs
    if inputs is not None:
        summary.read = inputs.rows_read
        summary.quarantined = inputs.quarantined_counts
        summary.unknown_tenants = inputs.unknown_tenants.tenants
        summary.unknown_tenant_rows = inputs.unknown_tenants.rows
        summary.likely_mislinked = len(inputs.mislinks.accounts)
        notes += inputs.notes
    summary.guards_accepted = list(results.guard_notes)
    computed = results.computed
    if computed is not None and computed.scores is not None:
        scores = computed.scores.scores
        summary.scored = len(scores)
        counts = scores["health_band"].value_counts(dropna=False).items()
        summary.bands = {str(band): int(n) for band, n in counts}
        summary.signals_active = len(computed.scores.signals)
    if results.plan is not None:
        totals = results.plan.totals()
        summary.fields_planned = totals["records_to_update"]
        summary.tasks_planned = totals["tasks_to_create"] + totals["tasks_to_update"]
    if results.limited is not None:
        summary.tasks_deferred = len(results.limited.deferred)
    written = results.written
    if written is not None:
        summary.fields_written = written.fields_written
        summary.tasks_created = written.tasks_created
        summary.tasks_updated = written.tasks_updated
        summary.signal_tasks_created = written.signal_tasks_created
        summary.upsell_tasks_created = written.upsell_tasks_created
        summary.followup_tasks_created = written.followup_tasks_created
        summary.write_failures = written.write_failures
        if results.plan is not None:
            plan_ = results.plan
            summary.unchanged = max(plan_.records_in_scope - len(plan_.records), 0)
    campaigns = results.campaigns
    if campaigns is not None:
        summary.campaign_members_planned = len(campaigns.insert.records)
        summary.campaign_members_by_rule = dict(campaigns.by_rule)
        summary.campaign_members_already = campaigns.already_members
        notes += [f"Campaign rule {p.key}: {p.message}" for p in campaigns.problems]
    if written is not None:
        summary.campaign_members_added = written.campaign_members_added
        summary.campaign_members_duplicates = written.campaign_members_existing
    if results.history is not None:
        summary.history_period = results.history.period
        summary.history_planned = len(results.history.upsert.records)
        summary.history_written = results.history_written
    summary.pruned = dict(results.pruned)
    if results.recorded is not None:
        summary.signals_new = results.recorded.signals_new
        summary.churn_signals_new = results.recorded.churn_signals_new
    notes += results.notes
    if results.notified is not None:
        summary.signal_alerts = results.notified.signal_alerts
        summary.alerts_sent = results.notified.alerts_sent
        summary.alerts_pending = results.notified.alerts_pending
        summary.worklists = results.notified.worklists
        notes += results.notified.notes
    if results.kpi is not None:
        summary.alerts_sent = results.kpi.alerts_sent
        summary.alerts_pending = results.kpi.alerts_pending
        notes += results.kpi.notes
    summary.notes = notes
    summary.api_calls = dict(api_calls)
    summary.duration_seconds = duration_seconds
    return summary


# --- the whole run ---------------------------------------------------------------------------


@dataclass
class RunOutcome:
    """What ``run_job`` hands back: the summary and the plan (for ``--dry-run`` / ``--plan-out``)."""

    summary: RunSummary
    plan: Plan | None = None
    kpi: KpiOutcome | None = None  # the outcome of a KPI job


def _api_calls(run: Run) -> dict[str, int]:
    calls = {}
    for name, client in (
        ("salesforce", run.clients.salesforce),
        ("metabase", run.clients.metabase),
    ):
        count = getattr(client, "api_calls", None) if client is not None else None
        if count is not None:
            calls[name] = int(count)
    slack_calls = getattr(run.clients.slack, "api_calls", None)
    if slack_calls is not None:
        calls["slack"] = int(slack_calls)
    return calls


def preflight(salesforce: SalesforceApi | None) -> None:
    """Refuse to start when the org has fewer daily API requests left than the reserve."""
    check = getattr(salesforce, "check_api_budget", None)
    if check is not None:
        check()


def _guard_run(run: Run, run_id: int | None, *, accept: bool) -> guards.GuardRun:
    return guards.GuardRun(
        job_name=run.job_name,
        job=run.job,
        as_of=run.as_of,
        run_id=run_id,
        store=run.clients.store,
        dry_run=run.dry_run,
        accept=accept,
        # a KPI report writes nothing to Salesforce and marks each KPI it cannot compute
        report_only=isinstance(run.job.compute, KpiCompute),
    )


def guard_inputs(run: Run, run_id: int | None, inputs: Inputs) -> list[str]:
    """Stop before computing when a source's input is far from a normal night's (SPEC §12);
    returns the findings let through (accepted, dry run, report)."""
    grun = _guard_run(run, run_id, accept=run.request.accept_input_change)
    findings = guards.judge_inputs(grun, inputs.figures)
    return guards.enforce(grun, findings, kind="input", flag=guards.INPUT_FLAG)


def guard_plan(
    run: Run, run_id: int | None, computed: Computed, the_plan: Plan
) -> tuple[dict | None, list[str]]:
    """Stop before writing when the plan changes far more than the recent runs did; returns
    the plan's figures (None when the job does not score) and the findings let through."""
    if computed.scores is None:
        return None, []
    figures = guards.plan_figures(
        computed.scores.scores,
        computed.previous,
        computed.scores.signals,
        the_plan,
        computed.sync_config.mapping,
    )
    grun = _guard_run(run, run_id, accept=run.request.accept_mass_change)
    findings = guards.judge_outputs(grun, figures)
    return figures, guards.enforce(grun, findings, kind="output", flag=guards.OUTPUT_FLAG)


def check_write_budget(salesforce: SalesforceApi, the_plan: Plan, bulk_threshold: int) -> None:
    """Refuse to start writing when the day's API requests cannot cover the whole plan."""
    budget.check_write_budget(salesforce, the_plan, bulk_threshold=bulk_threshold)


def _now(bundle: JobBundle) -> datetime:
    return datetime.now(ZoneInfo(bundle.timezone))


def run_stages(run: Run, results: StageResults) -> RunOutcome | None:
    """preflight → extract → input guard → compute → plan → output guard → API budget →
    apply → record → notify (no lock or ledger); a KPI job: preflight → extract → input guard
    → KPIs, report and Slack summary. Each stage's result goes into ``results``; returns the
    plan or the KPI outcome (the summary is made by :func:`run_job`)."""
    bundle, clients, request = run.bundle, run.clients, run.request
    run_id, store = results.run_id, clients.store
    preflight(clients.salesforce)
    inputs = results.inputs = extract_inputs(run, run_id)
    release_unused_memory()  # the decoding's freed pages (a large export: hundreds of MiB)
    results.guard_notes += guard_inputs(run, run_id, inputs)
    spec = bundle.job.compute
    if isinstance(spec, KpiCompute):  # a report: nothing to plan or apply
        notifier = None
        post = spec.post and bundle.job.notify.slack and not request.dry_run
        if post:
            notifier = clients.slack
        run.progress.stage(f"Computing the KPIs of {spec.resolve_month(run.as_of)}")
        assert bundle.playbook is not None and bundle.templates is not None
        results.kpi = kpi_stage(
            inputs.frames,
            spec=spec if not request.dry_run else spec.model_copy(update={"report": None}),
            playbook=bundle.playbook,
            templates=bundle.templates,
            as_of=run.as_of,
            root=bundle.root,
            store=store,
            notifier=notifier,
            post=post,
            generated_at=_now(bundle),
            salesforce=clients.salesforce,
        )
        guards.record_baseline(_guard_run(run, run_id, accept=False), inputs.figures, None)
        return RunOutcome(RunSummary(run.job_name, run.as_of), kpi=results.kpi.outcome)

    previous = baseline = None
    if not isinstance(spec, UsageImportCompute):
        run.progress.stage(f"Scoring accounts with the {spec.scorecard} scorecard")
        previous = previous_scores(store, spec.scorecard, run.as_of)
        baseline = trend_baseline(store, spec.scorecard, run.as_of, spec.trend_days)
    computed = results.computed = compute(inputs, bundle, run.as_of, previous, baseline)
    # planning, writing and notifying read only the accounts and users of the inputs
    inputs = results.inputs = inputs.keeping_frames(FRAMES_AFTER_COMPUTE)
    release_unused_memory()

    run.progress.stage("Comparing with Salesforce")
    meta = {"job": run.job_name, "as_of": run.as_of.isoformat(), "run_id": run_id}
    history = plan_history(run, computed, clients.salesforce, store)
    pending = pending_writes(store)
    results.history = history
    today, counted = tasks_created_today(store, run.as_of)
    limit = daily_limit(computed, inputs.frames["accounts"], bundle.playbook, today, counted)
    planned = plan(computed, clients.salesforce, pending=pending, meta=meta,
                   current=inputs.current_accounts, defer=limit)  # fmt: skip
    limited = results.limited = limited_plan(planned, limit)
    opportunities = plan_opportunities(run, computed, inputs.frames["accounts"], clients.salesforce)
    computed = results.computed = computed.without_desired_tasks()
    release_unused_memory()
    campaigns = results.campaigns = plan_campaigns(run, computed, clients.salesforce, pending)
    the_plan = with_upsert(with_history(limited.plan, history), opportunities)
    the_plan = results.plan = with_campaigns(the_plan, campaigns)
    figures, accepted = guard_plan(run, run_id, computed, the_plan)
    results.guard_notes += accepted
    applied = None
    new_tasks_created = None
    if not request.dry_run and clients.salesforce is not None:
        check_write_budget(clients.salesforce, the_plan, bundle.bulk_threshold)
    if not request.dry_run:
        run.progress.stage("Writing to Salesforce")
        reserve_new_tasks(store, run_id, run.as_of, limited)
        applied = apply(
            the_plan,
            clients.salesforce,
            store=store,
            run_id=run_id,
            bulk_threshold=bundle.bulk_threshold,
        )
        results.written = WriteCounts.of(applied, computed.sync_config.mapping.sobject)
        results.history_written = record_history(store, run, run_id, history, applied)
        new_tasks_created = created_tasks(limited, applied)
    guards.record_baseline(_guard_run(run, run_id, accept=False), inputs.figures, figures)
    scored = computed.scores
    if not request.dry_run and store is not None and scored is not None:
        job = bundle.job
        results.recorded = record_results(
            store, run_id, spec.scorecard, run.as_of, inputs.frames["accounts"], scored,
            signals=job.write.signal_tasks or job.write.followup_tasks or job.notify.slack,
        )  # fmt: skip
    if not request.dry_run and bundle.job.notify.slack and scored is not None:
        if clients.slack is None:
            results.notes.append("Slack is not configured (SFSYNC_SLACK_TOKEN): no alerts sent")
        else:
            run.progress.stage("Notifying Slack")
            failed = getattr(applied, "failed", ())
            failed_keys = {r.key for r in failed}
            escalations = [
                e for e in the_plan.meta.get("escalations", []) if e["sync_key"] not in failed_keys
            ]
            results.notified = notify(
                clients.slack,
                run_id=run_id,
                job=run.job_name,
                as_of=run.as_of,
                inputs=inputs,
                computed=computed,
                playbook=bundle.playbook,
                failures=[f"{r.sobject} {r.key}: {r.error_code}" for r in failed],
                tasks_created=results.written.tasks_created if results.written else 0,
                escalations=escalations,
                tasks=new_tasks_created,
                deferred=limited.deferred,
                task_limit=limited.limit,
            )
    return RunOutcome(RunSummary(run.job_name, run.as_of), the_plan)


def run_job(run: Run) -> RunOutcome:
    """Run the job under the run lock, recorded in the runs ledger.

    A dry run takes no lock (it writes nothing) but is recorded with ``dry_run``. A failed run
    is recorded as failed with its error and the error is raised again; a run where some
    records failed is ``partial`` (they are retried by the next run).
    """
    store = run.clients.store
    started = time.monotonic()
    results = StageResults()
    if store is None or run.dry_run:
        lock = nullcontext()
    else:
        lock = run_lock(store, run.job_name, ttl_seconds=run.bundle.lock_ttl_seconds)
    with lock:
        if store is not None:
            results.run_id = runs.start_run(store, run.job_name, run.as_of, dry_run=run.dry_run)
        log.info(
            "run_started", job=run.job_name, as_of=run.as_of.isoformat(), run_id=results.run_id
        )
        try:
            outcome = run_stages(run, results)
        except BaseException as exc:
            named = isinstance(exc, Exception | RunInterrupted)  # "stopped by SIGTERM"
            _finish(run, results, started, "failed", error=str(exc) if named else None,
                    error_type=type(exc).__name__)  # fmt: skip
            _notify_failure(run, results.run_id, exc)
            raise
        failures = results.written.write_failures if results.written else 0
        if not failures:
            run.progress.stage("Pruning the state store")
            pruned = prune_stage(run)
            if pruned is not None:
                results.pruned = {k: v for k, v in pruned.deleted.items() if v}
        outcome.summary = _finish(run, results, started, "partial" if failures else "succeeded")
    return outcome


# Other modules' pruners run with the retention step and ``sfsync state prune``: the Slack
# outbox's delivered messages older than the ledger cutoff (delivery also prunes them after
# ``slack.outbox_retention_days``).
EXTRA_PRUNERS: tuple[Pruner, ...] = (prune_sent_before,)


def prune_stage(run: Run) -> PruneReport | None:
    """The state-store retention step after a successful run (``retention.auto_prune``;
    :mod:`sfsync.state.prune`), as of the run's as-of date. A failure is logged, never fatal:
    the run's results are already stored."""
    store, retention = run.clients.store, run.bundle.settings.retention
    if store is None or run.dry_run or not retention.auto_prune:
        return None
    try:
        protect = retention_protect_days(run.bundle.root / "jobs")
        return prune_state(store, run.as_of, retention, protect_days=protect,
                           extra=EXTRA_PRUNERS)  # fmt: skip
    except Exception as exc:  # a prune that fails must not fail the run that succeeded
        log.warning("state_prune_failed", error=type(exc).__name__, message=str(exc))
        return None


def _finish(
    run: Run,
    results: StageResults,
    started: float,
    status: str,
    *,
    error: str | None = None,
    error_type: str | None = None,
) -> RunSummary:
    summary = report(
        results,
        job=run.job_name,
        as_of=run.as_of,
        dry_run=run.dry_run,
        status=status,
        api_calls=_api_calls(run),
        duration_seconds=time.monotonic() - started,
    )
    error = error if error is not None else error_type
    if run.clients.store is not None and results.run_id is not None:
        runs.finish_run(
            run.clients.store,
            results.run_id,
            summary.status,
            counts=summary.counts(),
            api_calls=summary.total_api_calls,
            error=error,
        )
    event = log.error if summary.status == "failed" else log.info
    event("run_finished", **summary.to_event(), **({"error": error} if error else {}))
    return summary


def _notify_failure(run: Run, run_id: int | None, exc: BaseException) -> None:
    notifier = run.clients.slack
    if notifier is None or run.dry_run or not run.job.notify.slack:
        return
    try:
        notifier.notify_run_failed(run_id=run_id, job=run.job_name, as_of=run.as_of, error=str(exc))
    except Exception as notify_exc:  # the run's own error matters more than the alert's
        log.warning("run_failure_alert_failed", error=type(notify_exc).__name__)
