"""The row-by-row plan stage and Task limit that the column ones replaced (issue 14 item 6),
kept verbatim as the reference the equivalence tests (``test_plan_equivalence.py``) and
``bench/bench_plan.py`` compare against. Not used by sfsync.

From ``sfsync/salesforce/diff.py`` (``diff_tasks``, ``signal_task_hygiene``, ``build_plan``),
``sfsync/salesforce/reader.py`` (``read_task_state``), ``sfsync/salesforce/planner.py``
(``loop_escalations``), ``sfsync/automation/task_limit.py`` (``new_tasks``,
``rank_new_tasks``, ``apply_limit``, ``defer_in_plan``) and ``sfsync/pipeline.py``
(``limit_new_tasks``) as of commit 0d8a517.
"""
# ruff: noqa

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import structlog

from sfsync.catalogue import SEGMENTS, default_severity
from sfsync.config import DEFAULT_TIMEZONE
from sfsync.frames import column_values, isin, iter_records
from sfsync.pipeline import Limited
from sfsync.plan import (
    DEFAULT_TASK_STATUS,
    TASK_COLUMNS,
    TASK_KEY_FIELD,
    TASK_MAINTAINED_FIELDS,
    PendingWrite,
    Plan,
    TaskChange,
)
from sfsync.salesforce.diff import diff_records
from sfsync.salesforce.escalation import build_escalation_tasks
from sfsync.salesforce.mapping import ObjectMapping
from sfsync.salesforce.normalise import is_null
from simple_salesforce import format_soql

from sfsync.salesforce.query import soql_in
from sfsync.salesforce.reader import IN_LIST_MAX, TASK_READ_FIELDS
from sfsync.salesforce.tasks import CLOSED_STATUS, parse_signal_key

log = structlog.get_logger(__name__)


def _pending_by_key(pending: Iterable[PendingWrite], sobject: str) -> dict[str, PendingWrite]:
    return {p.key: p for p in pending if p.sobject == sobject}


def _task_fields(row: dict[str, Any], *, create: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for column, name in TASK_COLUMNS.items():
        if name in ("ActivityDate", "Status") and not create:
            continue
        value = row.get(column)
        if name == "Status" and is_null(value):
            value = DEFAULT_TASK_STATUS
        if is_null(value):
            continue
        if isinstance(value, (pd.Timestamp, date)):
            value = value.strftime("%Y-%m-%d")
        fields[name] = str(value)
    return fields


def _flag(value: Any) -> bool:
    """A Salesforce boolean as read (bool, or "true"/"false" text from a Bulk query)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return False if is_null(value) else bool(value)


def _is_closed(existing: dict[str, Any]) -> bool:
    if not is_null(existing.get("IsClosed")):
        return _flag(existing.get("IsClosed"))
    return str(existing.get("Status") or "").casefold() == "completed"


def _edited_by_someone_else(existing: dict[str, Any], integration_user_id: str | None) -> bool:
    """Last modified by neither the integration user nor the Task's creator (sfsync)."""
    editor = existing.get("LastModifiedById")
    if is_null(editor):
        return False
    ours = {
        str(v)[:15] for v in (integration_user_id, existing.get("CreatedById")) if not is_null(v)
    }
    return bool(ours) and str(editor)[:15] not in ours


def signal_task_hygiene(
    desired_tasks: pd.DataFrame | None,
    open_signal_tasks: pd.DataFrame | None,
    *,
    scope_accounts: Collection[str],
    integration_user_id: str | None = None,
    close_description: Callable[[dict[str, Any], str], str],
) -> tuple[set[str], list[TaskChange]]:
    """SPEC §10 for signal Tasks already in the org (pure).

    ``open_signal_tasks``: the org's open (not completed, not deleted) Tasks with a signal key.
    Returns the desired signal keys not to create because the same account and code has an
    open Task of an earlier month (one open Task per account and signal), and the ``update``
    changes closing the open signal Tasks whose signal is no longer active, for the accounts
    in ``scope_accounts`` (the accounts this run scored) only. A Task last modified by someone
    other than sfsync is never changed. ``close_description(task, code)`` gives the closed
    Task's description.
    """
    active: dict[tuple[str, str], str] = {}  # (code, account) -> this run's month
    sync_keys = column_values(desired_tasks, "sync_key")
    for sync_key in sync_keys:
        parsed = parse_signal_key(sync_key)
        if parsed:
            active[(parsed[0], parsed[1])] = parsed[2]
    desired_keys = {str(k) for k in sync_keys}
    scope = {str(a) for a in scope_accounts}
    held: set[str] = set()
    closes: list[TaskChange] = []
    for task in iter_records(open_signal_tasks):
        key = str(task[TASK_KEY_FIELD])
        parsed = parse_signal_key(key)
        if (
            parsed is None
            or key in desired_keys
            or _is_closed(task)
            or _flag(task.get("IsDeleted"))
        ):
            continue
        code, account, month = parsed
        this_month = active.get((code, account))
        if this_month is not None:
            if month < this_month:
                held.add(f"signal:{code}:{account}:{this_month}")
            continue
        if account not in scope or _edited_by_someone_else(task, integration_user_id):
            continue
        task_id = None if is_null(task.get("Id")) else str(task["Id"])
        fields = {
            "Status": CLOSED_STATUS,
            "Description": close_description(task, code),
            TASK_KEY_FIELD: key,
        }
        closes.append(TaskChange(key, "update", "signal_cleared", account, task_id, fields))
    return held, closes


#: The columns of an existing Task that :func:`diff_tasks` reads
EXISTING_TASK_COLUMNS = (
    TASK_KEY_FIELD,
    "Id",
    "IsDeleted",
    "IsClosed",
    "Status",
    "LastModifiedById",
    "CreatedById",
    *TASK_MAINTAINED_FIELDS,
)


def diff_tasks(
    desired_tasks: pd.DataFrame | None,
    existing_tasks: pd.DataFrame | None,
    *,
    integration_user_id: str | None = None,
    pending: Iterable[PendingWrite] = (),
    held: Collection[str] = (),
) -> tuple[list[TaskChange], list[PendingWrite]]:
    """One TaskChange per desired Task key; pending Task failures that need no write.

    ``held``: keys not to create (an earlier month's Task for the same signal is open)."""
    retry = _pending_by_key(pending, "Task")
    existing_by_key: dict[str, dict[str, Any]] = {}
    if existing_tasks is not None:  # only what the comparison reads (not the long Description)
        existing_tasks = existing_tasks[[c for c in EXISTING_TASK_COLUMNS if c in existing_tasks]]
    for r in iter_records(existing_tasks):  # a live Task wins over a deleted one with that key
        key = str(r[TASK_KEY_FIELD])
        if key not in existing_by_key or _flag(existing_by_key[key].get("IsDeleted")):
            existing_by_key[key] = r
    out: list[TaskChange] = []
    resolved: list[PendingWrite] = []
    seen: set[str] = set()
    for row in iter_records(desired_tasks):
        key = str(row["sync_key"])
        if key in seen:
            continue
        seen.add(key)
        account_id = None if is_null(row.get("account_id")) else str(row["account_id"])
        is_retry = key in retry
        existing = existing_by_key.get(key)
        if existing is None and key in held:
            out.append(TaskChange(key, "skip", "open_earlier_month", account_id))
            if is_retry:
                resolved.append(retry[key])
            continue
        if existing is None:
            fields = _task_fields(row, create=True)
            fields[TASK_KEY_FIELD] = key
            out.append(TaskChange(key, "create", "new", account_id, None, fields, is_retry))
            continue
        task_id = str(existing.get("Id")) if not is_null(existing.get("Id")) else None
        if _flag(existing.get("IsDeleted")):
            reason = "deleted_by_csm"
        elif _is_closed(existing):
            reason = "completed_by_csm"
        elif _edited_by_someone_else(existing, integration_user_id):
            reason = "edited_by_csm"
        else:
            wanted = _task_fields(row, create=False)
            changed = {
                name: value
                for name, value in wanted.items()
                if name in TASK_MAINTAINED_FIELDS and str(existing.get(name) or "") != value
            }
            if changed:
                changed[TASK_KEY_FIELD] = key
                out.append(
                    TaskChange(key, "update", "changed", account_id, task_id, changed, is_retry)
                )
                continue
            reason = "unchanged"
        out.append(TaskChange(key, "skip", reason, account_id, task_id))
        if is_retry:
            resolved.append(retry[key])
    resolved.extend(p for k, p in retry.items() if k not in seen)
    return out, resolved


def build_plan(
    desired_fields: pd.DataFrame,
    current: pd.DataFrame,
    desired_tasks: pd.DataFrame | None,
    existing_tasks: pd.DataFrame | None,
    mapping: ObjectMapping,
    *,
    tz: ZoneInfo | str = DEFAULT_TIMEZONE,
    integration_user_id: str | None = None,
    pending: Iterable[PendingWrite] = (),
    meta: dict[str, Any] | None = None,
    open_signal_tasks: pd.DataFrame | None = None,
    close_description: Callable[[dict[str, Any], str], str] | None = None,
) -> Plan:
    """Compare desired with current values and Tasks; return the Plan (pure, no I/O).

    ``desired_fields`` has the mapping's match column and result columns; ``current`` has the
    match field and the mapped Salesforce fields (as read by ``sfsync.salesforce.reader``);
    ``desired_tasks`` is the desired-Task frame of docs/ARCHITECTURE.md (optional ``status``
    column for new Tasks); ``existing_tasks`` has ``Id``, ``Sync_Key__c``, ``IsClosed``,
    ``Status``, ``LastModifiedById``, ``CreatedById`` and the maintained Task fields.
    ``open_signal_tasks`` (with ``close_description``): the org's open signal Tasks, for
    :func:`signal_task_hygiene` over the accounts of ``desired_fields``; None skips it.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    pending = list(pending)
    records, problems, resolved, scope = diff_records(
        desired_fields, current, mapping, tz=zone, pending=pending
    )
    held: set[str] = set()
    closes: list[TaskChange] = []
    if open_signal_tasks is not None and close_description is not None:
        column = mapping.match.column
        scored = [] if desired_fields.empty else desired_fields[column].dropna().astype(str)
        held, closes = signal_task_hygiene(
            desired_tasks,
            open_signal_tasks,
            scope_accounts=set(scored),
            integration_user_id=integration_user_id,
            close_description=close_description,
        )
    tasks, resolved_tasks = diff_tasks(
        desired_tasks,
        existing_tasks,
        integration_user_id=integration_user_id,
        pending=pending,
        held=held,
    )
    tasks.extend(closes)
    return Plan(
        sobject=mapping.sobject,
        match_field=mapping.match.field,
        records=tuple(records),
        tasks=tuple(tasks),
        problems=tuple(problems),
        resolved=tuple(resolved + resolved_tasks),
        records_in_scope=scope,
        meta=dict(meta or {}),
    )


def read_task_state(
    client: Any,
    sync_keys: Iterable[str],
    *,
    open_signals: bool,
    in_list_max: int = IN_LIST_MAX,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The existing Tasks of ``sync_keys`` (:func:`read_existing_tasks`) and, with
    ``open_signals``, the org's open signal Tasks (:func:`read_open_signal_tasks`), in reads
    that do not overlap: the open signal Tasks of a period read whole for the keys are taken
    from that read, and the open-signal query leaves those periods out.
    """
    keys = list(dict.fromkeys(str(k) for k in sync_keys))
    fields = list(TASK_READ_FIELDS)
    select = f"SELECT {', '.join(fields)} FROM Task"
    periods = _wide_periods(keys, in_list_max)
    frames: list[pd.DataFrame] = []
    whole = None  # every Task of the wide periods, deleted ones included
    if periods:
        # queryAll: a CSM-deleted Task of this run's keys must be seen (never recreated)
        whole = client.query_frame(f"{select} WHERE {_period_scope(periods)}", include_deleted=True)
        whole = whole.reindex(columns=fields)
        frames.append(whole)
    narrow = [k for k in keys if _period(k) not in periods]
    if narrow:
        records: list[dict[str, Any]] = []
        for condition in soql_in(TASK_KEY_FIELD, narrow):
            # queryAll for the same reason: these are this run's keys
            records.extend(client.query(f"{select} WHERE {condition}", include_deleted=True))
        frames.append(pd.DataFrame.from_records(records, columns=fields))
    if not frames:
        frame = pd.DataFrame(columns=fields)
    else:
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    rows_read = len(frame)
    existing = frame[isin(frame[TASK_KEY_FIELD].astype("string"), keys)]
    existing = existing.reset_index(drop=True)
    log.info("existing_tasks_read", tasks=len(existing), rows_read=rows_read, keys=len(keys))
    if not open_signals:
        return existing, None
    open_signal = read_open_signal_tasks(client, except_periods=periods)
    if whole is not None and len(whole):
        open_signal = pd.concat([open_signal, _open_signal_rows(whole)], ignore_index=True)
    return existing, open_signal


def _open_signal_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a Task read that the open-signal query would return (open, not deleted)."""
    key = frame[TASK_KEY_FIELD].astype("string").str.lower()  # SOQL LIKE ignores case
    signal = key.str.startswith("signal:").fillna(False).astype(bool)
    closed = frame["IsClosed"].map(_true)
    deleted = frame["IsDeleted"].map(_true)
    return frame.loc[signal & ~closed & ~deleted].reset_index(drop=True)


def _true(value: Any) -> bool:
    """A Salesforce boolean as read (bool, or "true"/"false" text); missing is False."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return False if value is None or pd.isna(value) else bool(value)


def read_open_signal_tasks(client: Any, *, except_periods: Iterable[str] = ()) -> pd.DataFrame:
    """The org's open signal Tasks (key ``signal:…``, not completed, not deleted), any month:
    what SPEC §10's one-open-Task-per-signal and close-when-cleared rules need. Their number
    is bounded by the open work, not by history. ``except_periods``: leave out the keys
    ending in these periods (read already, see :func:`read_task_state`).

    ``query``, not ``queryAll``: a deleted Task is neither held nor closed."""
    fields = list(TASK_READ_FIELDS)
    soql = (
        f"SELECT {', '.join(fields)} FROM Task "
        f"WHERE {TASK_KEY_FIELD} LIKE 'signal:%' AND IsClosed = false"
    )
    skip = sorted(except_periods)
    if skip:
        soql += f" AND (NOT {_period_scope(skip)})"
    frame = client.query_frame(soql).reindex(columns=fields)
    log.info("open_signal_tasks_read", tasks=len(frame))
    return frame.reset_index(drop=True)


def _period(key: str) -> str | None:
    return key.rsplit(":", 1)[-1] if ":" in key else None


def _wide_periods(keys: list[str], in_list_max: int) -> set[str]:
    """Periods shared by more than ``in_list_max`` keys: cheaper read by period than by key."""
    counts: dict[str, int] = {}
    for key in keys:
        period = _period(key)
        if period is not None:
            counts[period] = counts.get(period, 0) + 1
    return {p for p, n in counts.items() if n > in_list_max}


def _period_scope(periods: Iterable[str]) -> str:
    """A WHERE clause matching the keys that end in one of ``periods``."""
    conditions = [
        format_soql(f"{TASK_KEY_FIELD} LIKE '%:{{:like}}'", period) for period in sorted(periods)
    ]
    return conditions[0] if len(conditions) == 1 else "(" + " OR ".join(conditions) + ")"


DEFERRED_REASON = "deferred_daily_limit"
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
PRIORITY_SEVERITY = {"High": "high", "Normal": "medium", "Low": "low"}
SEGMENT_RANK = {s: i for i, s in enumerate(SEGMENTS)}
NEW_TASK_COLUMNS = ["sync_key", "account_id", "owner_id", "subject", "priority"]


@dataclass(frozen=True)
class LimitResult:
    """``kept``/``deferred``: the new Tasks (NEW_TASK_COLUMNS plus severity, segment, arr,
    exempt), ranked."""

    kept: pd.DataFrame
    deferred: pd.DataFrame


def _signal_code(sync_key: str) -> str | None:
    parts = str(sync_key).split(":")
    return parts[1] if len(parts) >= 3 and parts[0] == "signal" else None


def task_severity(sync_key: str, priority: str | None) -> str:
    """A signal Task's signal severity, else the severity its priority stands for."""
    code = _signal_code(sync_key)
    if code is not None:
        return str(default_severity(code))
    return PRIORITY_SEVERITY.get(str(priority), "low")


def new_tasks(plan: Plan) -> pd.DataFrame:
    """The Tasks ``plan`` creates (NEW_TASK_COLUMNS), in plan order."""
    rows = [
        {
            "sync_key": t.sync_key,
            "account_id": t.account_id or t.fields.get("WhatId"),
            "owner_id": t.fields.get("OwnerId"),
            "subject": t.fields.get("Subject"),
            "priority": t.fields.get("Priority"),
        }
        for t in plan.tasks
        if t.action == "create"
    ]
    return pd.DataFrame(rows, columns=NEW_TASK_COLUMNS)


def rank_new_tasks(
    tasks: pd.DataFrame, accounts: pd.DataFrame | None, *, exempt_urgent: bool
) -> pd.DataFrame:
    """``tasks`` with severity, segment, arr and exempt, most important first.

    ``accounts``: account_id with segment and arr (either may be missing: unknown ranks last).
    """
    out = tasks.copy()
    info = pd.DataFrame(columns=["account_id", "segment", "arr"])
    if accounts is not None and not accounts.empty:
        cols = [c for c in ("account_id", "segment", "arr") if c in accounts]
        info = accounts[cols].drop_duplicates("account_id")
    out = out.merge(info, on="account_id", how="left")
    for column in ("segment", "arr"):
        if column not in out:
            out[column] = None
    out["severity"] = [
        task_severity(k, p) for k, p in zip(out["sync_key"], out["priority"], strict=True)
    ]
    is_signal = out["sync_key"].map(lambda k: _signal_code(k) is not None)
    out["exempt"] = (
        bool(exempt_urgent) & is_signal & (out["priority"] == "High") & (out["segment"] == "S")
    )
    arr = pd.to_numeric(out["arr"], errors="coerce").fillna(0.0)
    order = pd.DataFrame(
        {
            "exempt": ~out["exempt"].astype(bool),
            "severity": out["severity"].map(SEVERITY_RANK).fillna(9),
            "segment": out["segment"].map(SEGMENT_RANK).fillna(9),
            "arr": -arr,
            "key": out["sync_key"].astype(str),
        }
    )
    ranked = order.sort_values(["exempt", "severity", "segment", "arr", "key"], kind="stable")
    return out.loc[ranked.index].reset_index(drop=True)


def apply_limit(
    ranked: pd.DataFrame,
    created_today: Mapping[str, int],
    limit: int | None,
    counted: Collection[str] = (),
) -> LimitResult:
    """Split ``ranked`` (from :func:`rank_new_tasks`) per owner: exempt Tasks always kept,
    then the others while the owner's count of the day (``created_today`` plus the kept ones)
    stays within ``limit``; None keeps everything. Tasks without an owner are one group.
    ``counted``: keys already in ``created_today`` (an earlier attempt of this day that did not
    finish): kept, and not counted twice."""
    if limit is None or ranked.empty:
        return LimitResult(ranked, ranked.iloc[0:0])
    counted = set(counted)
    used: dict[str, int] = {}
    keep = []
    for sync_key, owner, exempt in zip(
        ranked["sync_key"], ranked["owner_id"], ranked["exempt"], strict=True
    ):
        key = "" if owner is None or owner != owner else str(owner)
        count = used.get(key, int(created_today.get(key, 0)))
        if sync_key in counted:
            keep.append(True)
            used[key] = count
        elif exempt or count < limit:
            keep.append(True)
            used[key] = count + 1
        else:
            keep.append(False)
            used[key] = count
    mask = pd.Series(keep, index=ranked.index, dtype=bool)
    return LimitResult(ranked[mask].reset_index(drop=True), ranked[~mask].reset_index(drop=True))


def defer_in_plan(plan: Plan, deferred_keys: set[str]) -> Plan:
    """``plan`` with the creation of ``deferred_keys`` turned into skips (reason
    :data:`DEFERRED_REASON`), without fields."""
    if not deferred_keys:
        return plan
    tasks = tuple(
        replace(t, action="skip", reason=DEFERRED_REASON, fields={}, retry=False)
        if t.action == "create" and t.sync_key in deferred_keys
        else t
        for t in plan.tasks
    )
    return replace(plan, tasks=tasks)


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
    active = set()
    if desired_tasks is not None and not desired_tasks.empty:
        for key in desired_tasks["sync_key"]:
            parsed = parse_signal_key(str(key))
            if parsed:
                active.add((parsed[0], parsed[1]))
    still = open_signal
    if open_signal is not None and not open_signal.empty:
        pairs = [parse_signal_key(str(k)) for k in open_signal[TASK_KEY_FIELD]]
        mask = [bool(p) and (p[0], p[1]) in active for p in pairs]
        still = open_signal[mask]
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


def limit_new_tasks(
    the_plan: Plan,
    computed: Computed,
    accounts: pd.DataFrame,
    playbook: Playbook | None,
    created_today: dict[str, int],
    counted: set[str] | None = None,
) -> Limited:
    """Defer the new Tasks beyond the playbook's per-owner daily limit (pure): ranked by
    severity, segment and ARR, after ``created_today`` (owner -> Tasks counted earlier on
    this as-of day; ``counted``: their keys)."""
    created = new_tasks(the_plan)
    policy = playbook.task_limit if playbook is not None else None
    limit = policy.per_owner_per_day if policy is not None else None
    if limit is None or created.empty:
        return Limited(the_plan, created, created.iloc[0:0], limit)
    info = accounts[[c for c in ("account_id", "arr") if c in accounts]]
    scores = computed.scores.scores if computed.scores is not None else None
    if scores is not None and "segment" in scores:
        info = info.merge(scores[["account_id", "segment"]], on="account_id", how="left")
    ranked = rank_new_tasks(created, info, exempt_urgent=policy.exempt_urgent)
    split = apply_limit(ranked, created_today, limit, counted or ())
    deferred_keys = set(split.deferred["sync_key"])
    if deferred_keys:
        log.info("tasks_deferred", deferred=len(deferred_keys), limit=limit)
    return Limited(defer_in_plan(the_plan, deferred_keys), split.kept, split.deferred, limit)
