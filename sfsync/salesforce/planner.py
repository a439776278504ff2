"""Plan a sync against an org: load the sync configuration, read Salesforce, build the Plan.

The composition the pipeline (``sfsync run``) and ``sfsync plan`` share::

    config = load_sync_config(project.mappings_dir, language=settings.language, timezone=...)
    desired = desired_account_fields(result.scores, as_of)
    tasks = signal_tasks(config, result.signals, accounts, users, as_of=as_of, scores=...)
    plan = plan_sync(client, config, desired, tasks, pending=pending_writes(store), meta=...)
    result = apply_plan(client, plan, store, run_id)      # sfsync.salesforce.writer

``plan_sync`` checks the mapping against the org's describe first: a mapping error raises
ConfigError before anything is read or written. Reads are paged (see ``reader``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import structlog

from sfsync.config import DEFAULT_TIMEZONE
from sfsync.errors import ConfigError, ConfigProblem
from sfsync.frames import isin, iter_records
from sfsync.plan import TASK_KEY_FIELD, PendingWrite, Plan
from sfsync.salesforce.closing import FOLLOWUP_PREFIXES, followup_closes
from sfsync.salesforce.diff import among, build_plan, column_texts, signal_key_columns
from sfsync.salesforce.escalation import (
    ESCALATION_KEY_PREFIX,
    build_escalation_tasks,
    loop_template_problems,
)
from sfsync.salesforce.mapping import (
    ObjectMapping,
    load_mapping,
    resolve_against_org,
    validate_mapping_against_org,
)
from sfsync.salesforce.reader import (
    integration_user_id,
    read_current,
    read_existing_tasks,
    read_open_followup_tasks,
    read_task_state,
)
from sfsync.salesforce.tasks import (
    TaskSettings,
    build_signal_tasks,
    cleared_description,
    load_task_settings,
    task_key_problems,
    task_problems,
)
from sfsync.templates import DEFAULT_LANGUAGE, TemplateSet, load_templates

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SyncConfig:
    """What the sync stage needs from ``mappings/``: field mapping, Task settings, templates."""

    mapping: ObjectMapping
    task_settings: TaskSettings
    templates: TemplateSet | None
    timezone: str = DEFAULT_TIMEZONE


def load_sync_config(
    mappings_dir: str | Path,
    *,
    mapping_name: str = "account_fields",
    language: str = DEFAULT_LANGUAGE,
    timezone: str = DEFAULT_TIMEZONE,
    columns: Iterable[str] | None = None,
) -> SyncConfig:
    """Load and validate (offline) the mapping, Task settings and Task templates."""
    root = Path(mappings_dir)
    problems: list[ConfigProblem] = []
    mapping = settings = templates = None
    for loader in ("mapping", "settings", "templates"):
        try:
            if loader == "mapping":
                mapping = load_mapping(root / f"{mapping_name}.yaml", columns=columns)
            elif loader == "settings":
                path = root / "tasks.yaml"
                settings = load_task_settings(path) if path.exists() else TaskSettings()
            else:
                templates = load_templates(root / "templates", language)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if settings is not None and templates is not None:
        problems.extend(task_problems(settings, templates))
        problems.extend(loop_template_problems(templates))
    if problems:
        raise ConfigError(problems, hint="fix the files named above; nothing was written")
    assert mapping is not None and settings is not None
    return SyncConfig(mapping, settings, templates, timezone)


def desired_account_fields(scores: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The scoring result plus ``scored_at`` (the as-of date) for the field mapping."""
    frame = scores.copy()
    if "scored_at" not in frame.columns:
        frame["scored_at"] = pd.Timestamp(as_of)
    return frame


def signal_tasks(
    config: SyncConfig,
    signals: pd.DataFrame,
    accounts: pd.DataFrame,
    users: pd.DataFrame | None,
    *,
    as_of: date,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Desired signal Tasks (SPEC §10) with this configuration's settings and templates."""
    if config.templates is None:
        raise ConfigError("no Task templates loaded")
    return build_signal_tasks(
        signals,
        accounts,
        users,
        as_of=as_of,
        settings=config.task_settings,
        templates=config.templates,
        scores=scores,
    )


@dataclass(frozen=True)
class LoopContext:
    """What plan-time escalation needs besides the org: the users (``user_id``, ``name``,
    ``manager_id``, ``is_active``) and the account names."""

    users: pd.DataFrame | None = None
    account_names: dict[str, str] | None = None
    escalate: bool = True  # escalate overdue signal Tasks (needs signal hygiene)
    # follow-up keys whose reason went away (``sfsync.automation.closures``); None: the run
    # writes no follow-ups and closes none
    closable: Mapping[str, str] | None = None


def loop_escalations(
    open_signal: pd.DataFrame | None,
    desired_tasks: pd.DataFrame | None,
    loop: LoopContext,
    config: SyncConfig,
    *,
    as_of: date,
    scope: Iterable[str],
) -> pd.DataFrame:
    """Escalation Tasks for the overdue open signal Tasks whose signal this run still sees."""
    assert config.templates is not None
    still = open_signal
    if open_signal is not None and not open_signal.empty:
        # (code, account) pairs of this run's signal keys, parsed as whole columns
        wanted = signal_key_columns(column_texts(desired_tasks, "sync_key"))["pair"]
        pairs = signal_key_columns(column_texts(open_signal, TASK_KEY_FIELD))["pair"]
        still = open_signal[among(pairs, wanted)]
    frame, unassigned = build_escalation_tasks(
        still,
        loop.users,
        as_of=as_of,
        settings=config.task_settings.escalation,
        templates=config.templates,
        account_names=loop.account_names,
        scope_accounts=list(scope),
        status=config.task_settings.status,
    )
    if len(frame) or unassigned:
        log.info("signal_tasks_escalated", escalations=len(frame), without_manager=unassigned)
    return frame


def combine_task_frames(first: pd.DataFrame | None, extra: pd.DataFrame) -> pd.DataFrame:
    """``first`` plus the rows of ``extra`` whose key it does not hold yet."""
    if first is None or first.empty:
        return extra.reset_index(drop=True)
    new = extra[~isin(extra["sync_key"], first["sync_key"])]
    return pd.concat([first, new.astype("object")], ignore_index=True)


def check_org(client: Any, config: SyncConfig, *, with_tasks: bool = True) -> ObjectMapping:
    """Validate the mapping (and the Task key field) against the org; return it resolved."""
    describe = client.describe(config.mapping.sobject)
    problems = validate_mapping_against_org(config.mapping, describe)
    if with_tasks:
        problems.extend(task_key_problems(client.describe("Task")))
    if problems:
        raise ConfigError(problems, hint="fix the mapping or the org; nothing was written")
    return resolve_against_org(config.mapping, describe)


def plan_sync(
    client: Any,
    config: SyncConfig,
    desired_fields: pd.DataFrame,
    desired_tasks: pd.DataFrame | None = None,
    *,
    pending: Iterable[PendingWrite] = (),
    meta: dict[str, Any] | None = None,
    signal_hygiene: bool = False,
    as_of: date | None = None,
    loop: LoopContext | None = None,
    current: pd.DataFrame | None = None,
    defer: Callable[[pd.DataFrame], Collection[str]] | None = None,
) -> Plan:
    """Check the mapping against the org, read current values and Tasks, build the Plan.

    ``signal_hygiene`` (the run writes signal Tasks; needs ``as_of``): also read the org's open
    signal Tasks, hold this month's Task while an earlier one is open and close the ones whose
    signal cleared (SPEC §10, :func:`sfsync.salesforce.diff.signal_task_hygiene`); with
    ``loop`` (users and account names), escalate the overdue ones whose signal is still active
    (:mod:`sfsync.salesforce.escalation`).

    ``current``: the mapped fields' values already read this run (the match field and every
    mapped field, Salesforce names); without it (or with a field missing) they are read here.
    ``defer``: the daily limit of new Tasks (:func:`sfsync.salesforce.diff.diff_tasks`).
    """
    signal_hygiene = signal_hygiene and as_of is not None
    close_followups = loop is not None and loop.closable is not None and as_of is not None
    with_tasks = (
        signal_hygiene or close_followups or (desired_tasks is not None and not desired_tasks.empty)
    )
    mapping = check_org(client, config, with_tasks=with_tasks)
    pending = list(pending)
    keys = [str(k) for k in desired_fields[mapping.match.column].dropna()]
    if current is None or not _has_fields(current, mapping):
        current = read_current(client, mapping, keys)
    else:  # the names as the resolved mapping spells them (the org's describe)
        names = {f.lower(): f for f in [mapping.match.field, *mapping.field_names]}
        current = current.rename(columns=lambda c: names.get(str(c).lower(), c))
        log.info("current_values_shared", sobject=mapping.sobject, records=len(current))
    existing = open_signal = None
    user_id = None
    open_followups = None
    if close_followups:
        open_followups = read_open_followup_tasks(client, FOLLOWUP_PREFIXES)
    if with_tasks:
        wanted = [] if desired_tasks is None else list(desired_tasks["sync_key"])
        task_keys = wanted + [p.key for p in pending if p.sobject == "Task"]
        existing, open_signal = read_task_state(client, task_keys, open_signals=signal_hygiene)
        user_id = integration_user_id(client)
    if signal_hygiene and loop is not None and loop.escalate and config.templates is not None:
        assert as_of is not None and open_signal is not None and existing is not None
        escalations = loop_escalations(
            open_signal, desired_tasks, loop, config, as_of=as_of, scope=keys
        )
        if not escalations.empty:
            desired_tasks = combine_task_frames(desired_tasks, escalations)
            # their keys come from the open signal Tasks just read: look up the earlier ones
            earlier = read_existing_tasks(client, list(escalations["sync_key"]))
            if not earlier.empty:
                existing = pd.concat([existing, earlier], ignore_index=True)
                existing = existing.drop_duplicates(subset="Id", keep="first")
    templates = config.templates

    def close_description(task: dict[str, Any], code: str) -> str:
        assert as_of is not None
        return cleared_description(task.get("Description"), code, templates, as_of=as_of)

    plan = build_plan(
        desired_fields,
        current,
        desired_tasks,
        existing,
        mapping,
        tz=config.timezone,
        integration_user_id=user_id,
        pending=pending,
        meta=meta,
        open_signal_tasks=open_signal,
        close_description=close_description,
        defer=defer,
    )
    if close_followups:
        assert loop is not None and loop.closable is not None and as_of is not None
        closes = followup_closes(
            open_followups,
            closable=loop.closable,
            desired_keys=[] if desired_tasks is None else list(desired_tasks["sync_key"]),
            scope_accounts=keys,
            as_of=as_of,
            templates=config.templates,
            integration_user_id=user_id,
        )
        if closes:
            plan = replace(plan, tasks=plan.tasks + tuple(closes))
    if desired_tasks is not None and not desired_tasks.empty:
        plan.meta["escalations"] = escalation_meta(desired_tasks)
    log.info("plan_built", **{k: v for k, v in plan.totals().items() if not isinstance(v, dict)})
    return plan


def escalation_meta(desired_tasks: pd.DataFrame) -> list[dict[str, str]]:
    """The plan's escalation Tasks (created now or earlier) as notice data for Slack."""
    rows = desired_tasks[
        desired_tasks["sync_key"].astype(str).str.startswith(ESCALATION_KEY_PREFIX)
    ]
    return [
        {
            "sync_key": str(r["sync_key"]),
            "account_id": str(r["account_id"]),
            "owner_id": "" if r["owner_id"] is None else str(r["owner_id"]),
            "subject": str(r["subject"]),
            "due_date": str(r["activity_date"]),
        }
        for r in iter_records(rows)
    ]


def _has_fields(frame: pd.DataFrame, mapping: ObjectMapping) -> bool:
    present = {str(c).lower() for c in frame.columns}
    return all(f.lower() in present for f in [mapping.match.field, *mapping.field_names])


def _project_config(project: Any) -> SyncConfig:
    settings = project.settings
    return load_sync_config(
        project.mappings_dir,
        language=settings.language,
        timezone=settings.timezone,
    )


def validate(project: Any) -> list[ConfigProblem]:
    """Offline checks of the sync configuration (``sfsync validate``): every problem at once."""
    try:
        _project_config(project)
    except ConfigError as exc:
        return list(exc.problems)
    return []


def validate_org(project: Any, client: Any) -> list[ConfigProblem]:
    """``sfsync validate --org``: the offline checks, then the mapping against the org."""
    try:
        config = _project_config(project)
        check_org(client, config)
    except ConfigError as exc:
        return list(exc.problems)
    return []


__all__ = [
    "validate",
    "validate_org",
    "TASK_KEY_FIELD",
    "LoopContext",
    "SyncConfig",
    "check_org",
    "desired_account_fields",
    "load_sync_config",
    "plan_sync",
    "signal_tasks",
]
