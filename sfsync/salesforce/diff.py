"""Desired vs current -> Plan (:mod:`sfsync.plan`): exactly what a run would write.

:func:`build_plan` is pure. It compares the desired field values (the scoring result) with the
current values read from Salesforce after normalising both (:mod:`sfsync.salesforce.normalise`)
and the desired Tasks with the existing ones (by ``Sync_Key__c``), and returns a :class:`Plan`:

- per record, the fields that change (old -> new); records without changes are not listed;
  a field mapped ``write: with_changes`` (the scoring time, the explanation) is listed only
  when a field mapped ``write: always`` of the same record changes too;
- per Task key, ``create``, ``update`` (only the changed fields) or ``skip`` with a reason:
  ``completed_by_csm`` (the Task is closed), ``edited_by_csm`` (last modified by someone other
  than the integration user), ``deleted_by_csm`` (in the recycle bin: never recreated),
  ``unchanged``, ``open_earlier_month`` (SPEC §10: the signal's Task of an earlier month is
  still open, so this month's is not created);
- per open signal Task of an account in scope whose signal is no longer active (SPEC §10), an
  ``update`` with reason ``signal_cleared`` closing it (Status Completed, the reason appended to
  its description, see :func:`signal_task_hygiene`); a Task a CSM edited is left alone;
- records and Tasks whose last write failed (``pending`` from the failure ledger) are included
  again even when the diff would not include them, flagged ``retry``;
- problems: values that cannot be written (the record is left out, the rest goes ahead).

The writer executes a plan and nothing else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from sfsync.config import DEFAULT_TIMEZONE
from sfsync.plan import (
    DEFAULT_TASK_STATUS,
    TASK_COLUMNS,
    TASK_KEY_FIELD,
    TASK_MAINTAINED_FIELDS,
    FieldChange,
    PendingWrite,
    Plan,
    PlanProblem,
    RecordChange,
    TaskChange,
)
from sfsync.salesforce.mapping import ObjectMapping
from sfsync.salesforce.normalise import ValueProblem, is_null, normalise, same
from sfsync.salesforce.tasks import CLOSED_STATUS, parse_signal_key


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return frame.to_dict(orient="records")


def _pending_by_key(pending: Iterable[PendingWrite], sobject: str) -> dict[str, PendingWrite]:
    return {p.key: p for p in pending if p.sobject == sobject}


def diff_records(
    desired: pd.DataFrame,
    current: pd.DataFrame,
    mapping: ObjectMapping,
    *,
    tz: ZoneInfo,
    pending: Iterable[PendingWrite] = (),
) -> tuple[list[RecordChange], list[PlanProblem], list[PendingWrite], int]:
    """Field changes per record; problems; pending failures that need no write; scope size."""
    key_column, key_field = mapping.match.column, mapping.match.field
    retry = _pending_by_key(pending, mapping.sobject)
    current_by_key = {str(r[key_field]): r for r in _records(current)}
    counts = Counter(str(k) for k in desired[key_column]) if not desired.empty else Counter()
    changes: list[RecordChange] = []
    problems: list[PlanProblem] = []
    resolved: list[PendingWrite] = []
    seen: set[str] = set()
    for row in _records(desired):
        raw_key = row.get(key_column)
        if is_null(raw_key):
            problems.append(PlanProblem("", key_column, "missing record key; row left out"))
            continue
        key = str(raw_key)
        if counts[key] > 1:
            if key not in seen:
                problems.append(
                    PlanProblem(key, key_column, f"appears {counts[key]} times; record left out")
                )
            seen.add(key)
            continue
        seen.add(key)
        now = current_by_key.get(key)
        if now is None:
            problems.append(
                PlanProblem(
                    key, key_field, f"no {mapping.sobject} with {key_field} {key} in Salesforce"
                )
            )
            continue
        forced = set(retry[key].fields) if key in retry else set()
        record_changes: list[FieldChange] = []
        visible = False  # a field written "always" changes (or is retried)
        try:
            for column, spec in mapping.fields.items():
                value = row.get(column)
                if spec.null_policy == "leave" and is_null(value) and spec.field not in forced:
                    continue
                new = normalise(value, spec, tz, desired=True)
                old = normalise(now.get(spec.field), spec, tz, desired=False)
                if not same(old, new, spec) or spec.field in forced:
                    record_changes.append(FieldChange(spec.field, old, new))
                    visible = visible or spec.write == "always" or spec.field in forced
        except ValueProblem as exc:
            problems.append(PlanProblem(key, spec.field, f"{column}: {exc}"))
            continue
        if not visible:  # only "with_changes" fields differ: they never force a write
            record_changes = []
        if record_changes:
            changes.append(RecordChange(key, tuple(record_changes), retry=key in retry))
        elif key in retry:
            resolved.append(retry[key])
    resolved.extend(p for k, p in retry.items() if k not in seen)
    return changes, problems, resolved, len(seen)


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
    for row in _records(desired_tasks):
        parsed = parse_signal_key(row["sync_key"])
        if parsed:
            active[(parsed[0], parsed[1])] = parsed[2]
    desired_keys = {str(r["sync_key"]) for r in _records(desired_tasks)}
    scope = {str(a) for a in scope_accounts}
    held: set[str] = set()
    closes: list[TaskChange] = []
    for task in _records(open_signal_tasks):
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
    for r in _records(existing_tasks):  # a live Task wins over a deleted one with the same key
        key = str(r[TASK_KEY_FIELD])
        if key not in existing_by_key or _flag(existing_by_key[key].get("IsDeleted")):
            existing_by_key[key] = r
    out: list[TaskChange] = []
    resolved: list[PendingWrite] = []
    seen: set[str] = set()
    for row in _records(desired_tasks):
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
