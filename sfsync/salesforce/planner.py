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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import structlog

from sfsync.config import DEFAULT_TIMEZONE
from sfsync.errors import ConfigError, ConfigProblem
from sfsync.plan import TASK_KEY_FIELD, PendingWrite, Plan
from sfsync.salesforce.diff import build_plan
from sfsync.salesforce.mapping import (
    ObjectMapping,
    load_mapping,
    resolve_against_org,
    validate_mapping_against_org,
)
from sfsync.salesforce.reader import (
    integration_user_id,
    read_current,
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
    current: pd.DataFrame | None = None,
) -> Plan:
    """Check the mapping against the org, read current values and Tasks, build the Plan.

    ``signal_hygiene`` (the run writes signal Tasks; needs ``as_of``): also read the org's open
    signal Tasks, hold this month's Task while an earlier one is open and close the ones whose
    signal cleared (SPEC §10, :func:`sfsync.salesforce.diff.signal_task_hygiene`).

    ``current``: the mapped fields' values already read this run (the match field and every
    mapped field, Salesforce names); without it (or with a field missing) they are read here.
    """
    signal_hygiene = signal_hygiene and as_of is not None
    with_tasks = signal_hygiene or (desired_tasks is not None and not desired_tasks.empty)
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
    if with_tasks:
        wanted = [] if desired_tasks is None else list(desired_tasks["sync_key"])
        task_keys = wanted + [p.key for p in pending if p.sobject == "Task"]
        existing, open_signal = read_task_state(client, task_keys, open_signals=signal_hygiene)
        user_id = integration_user_id(client)
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
    )
    log.info("plan_built", **{k: v for k, v in plan.totals().items() if not isinstance(v, dict)})
    return plan


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
    "SyncConfig",
    "check_org",
    "desired_account_fields",
    "load_sync_config",
    "plan_sync",
    "signal_tasks",
]
