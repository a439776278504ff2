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

import numpy as np
import pandas as pd

from sfsync.config import DEFAULT_TIMEZONE
from sfsync.frames import column_values, iter_records
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
    """Field changes per record; problems; pending failures that need no write; scope size.

    Column by column, not row by row: each field's distinct values are normalised once
    (:func:`_normalised_column`) and each distinct (old, new) pair compared once; Python
    objects are built only for the records that change or have a problem.
    """
    key_column, key_field = mapping.match.column, mapping.match.field
    retry = _pending_by_key(pending, mapping.sobject)
    n = len(desired)
    raw_keys = desired[key_column] if key_column in desired.columns else pd.Series([None] * n)
    null_key = _null_mask(raw_keys)
    keys = [None if null else str(k) for k, null in zip(raw_keys.tolist(), null_key, strict=True)]
    counts = Counter(str(k) for k in raw_keys.tolist())
    first = pd.Series(keys, dtype=object).duplicated(keep="first").to_numpy() == 0
    doubled = np.array([k is not None and counts[k] > 1 for k in keys], dtype=bool)
    now = _current_by_key(current, key_field)
    found = np.asarray(pd.Index(now.index).get_indexer(pd.Index(keys, dtype=object)) >= 0)
    candidate = ~null_key & ~doubled & found
    rows = np.flatnonzero(candidate)
    in_retry = np.array([keys[i] in retry for i in rows], dtype=bool)
    error: list[tuple[str, str, ValueProblem] | None] = [None] * len(rows)
    has_error = np.zeros(len(rows), dtype=bool)
    visible = np.zeros(len(rows), dtype=bool)
    changed_by_field: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    current_rows = now.reindex([keys[i] for i in rows])
    for column, spec in mapping.fields.items():
        forced = np.zeros(len(rows), dtype=bool)
        for j in np.flatnonzero(in_retry):
            forced[j] = spec.field in retry[keys[rows[j]]].fields
        values = desired[column].iloc[rows] if column in desired.columns else None
        new, new_err, new_null = _normalised_column(values, len(rows), spec, tz, desired=True)
        olds = current_rows[spec.field] if spec.field in current_rows.columns else None
        old, old_err, _ = _normalised_column(olds, len(rows), spec, tz, desired=False)
        skip = (new_null & ~forced) if spec.null_policy == "leave" else np.zeros(len(rows), bool)
        for at in np.flatnonzero(~skip & ~has_error & ((new_err != None) | (old_err != None))):  # noqa: E711
            problem = new_err[at] if new_err[at] is not None else old_err[at]
            error[at] = (spec.field, column, problem)
            has_error[at] = True
        differs = (_differs(old, new, spec) | forced) & ~skip
        visible |= differs & ((spec.write == "always") | forced)
        changed_by_field.append((spec.field, differs, old, new))
    notable = set(np.flatnonzero(~candidate).tolist())
    position = {int(i): j for j, i in enumerate(rows)}
    notable.update(int(rows[j]) for j in np.flatnonzero(has_error | visible | in_retry))
    changes: list[RecordChange] = []
    problems: list[PlanProblem] = []
    resolved: list[PendingWrite] = []
    for i in sorted(notable):
        key = keys[i]
        if key is None:
            problems.append(PlanProblem("", key_column, "missing record key; row left out"))
        elif doubled[i]:
            if first[i]:
                problems.append(
                    PlanProblem(key, key_column, f"appears {counts[key]} times; record left out")
                )
        elif i not in position:
            problems.append(
                PlanProblem(
                    key, key_field, f"no {mapping.sobject} with {key_field} {key} in Salesforce"
                )
            )
        else:
            j = position[i]
            if error[j] is not None:
                field, column, exc = error[j]
                problems.append(PlanProblem(key, field, f"{column}: {exc}"))
            elif visible[j]:
                record_changes = tuple(
                    FieldChange(field, old[j], new[j])
                    for field, differs, old, new in changed_by_field
                    if differs[j]
                )
                changes.append(RecordChange(key, record_changes, retry=key in retry))
            elif key in retry:
                resolved.append(retry[key])
    seen = {k for k in keys if k is not None}
    resolved.extend(p for k, p in retry.items() if k not in seen)
    return changes, problems, resolved, len(seen)


def _null_mask(values: pd.Series) -> np.ndarray:
    """:func:`is_null` of every value, computed once per distinct value."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    flags = np.array([is_null(u) for u in uniques] + [True], dtype=bool)
    return flags[codes]


def _current_by_key(current: pd.DataFrame, key_field: str) -> pd.DataFrame:
    """``current`` indexed by the text of its key (the last row of a key read twice wins)."""
    if current is None or current.empty or key_field not in current.columns:
        return pd.DataFrame(index=pd.Index([], dtype=object))
    frame = current.set_axis(pd.Index([str(k) for k in current[key_field].tolist()]), axis=0)
    return frame[~frame.index.duplicated(keep="last")]


def _distinct(values: pd.Series) -> tuple[np.ndarray, list[Any]] | None:
    """Codes and distinct values of a column (-1: missing), or None when values that hash
    alike could normalise differently (an object column mixing ``1``, ``1.0``, ``True``…)."""
    if values.dtype == object:
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind not in ("string", "empty"):
            return None
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists)
        return None
    return np.asarray(codes), list(uniques)


def _normalised_column(
    values: pd.Series | None, n: int, spec: Any, tz: ZoneInfo, *, desired: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`normalise` of a column: (normalised values, the ValueProblem of each value or
    None, whether each value is null), each distinct value normalised once."""

    def one(value: Any) -> tuple[Any, ValueProblem | None, bool]:
        try:
            return normalise(value, spec, tz, desired=desired), None, is_null(value)
        except ValueProblem as exc:
            return None, exc, is_null(value)

    if values is None:
        done = [one(None)]
        codes = np.zeros(n, dtype=np.intp)
    else:
        distinct = _distinct(values)
        if distinct is None:
            done = [one(v) for v in values.tolist()]
            codes = np.arange(n, dtype=np.intp)
        else:
            codes, uniques = distinct
            done = [one(u) for u in uniques] + [one(None)]  # code -1: the missing value
    out = np.empty(len(done), dtype=object)
    errors = np.empty(len(done), dtype=object)
    out[:] = [d[0] for d in done]
    errors[:] = [d[1] for d in done]
    nulls = np.array([d[2] for d in done], dtype=bool)
    return out[codes], errors[codes], nulls[codes]


def _differs(old: np.ndarray, new: np.ndarray, spec: Any) -> np.ndarray:
    """``not same(old, new)`` per row, each distinct (old, new) pair compared once."""
    if not len(old):
        return np.zeros(0, dtype=bool)
    old_codes, old_values = _hashable_codes(old)
    new_codes, new_values = _hashable_codes(new)
    pairs = old_codes.astype(np.int64) * (len(new_values) + 1) + new_codes
    distinct, inverse = np.unique(pairs, return_inverse=True)
    width = len(new_values) + 1
    result = np.array(
        [not same(old_values[p // width], new_values[p % width], spec) for p in distinct.tolist()],
        dtype=bool,
    )
    return result[inverse.reshape(-1)]


def _hashable_codes(values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Codes of normalised values (JSON scalars; missing → the last, ``None``)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    listed = [*uniques.tolist(), None]
    return np.where(codes < 0, len(listed) - 1, codes), listed


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
