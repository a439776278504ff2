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
import pyarrow as pa
import pyarrow.compute as pc

from sfsync.config import DEFAULT_TIMEZONE
from sfsync.frames import iter_records, python_values
from sfsync.plan import (
    DEFAULT_TASK_STATUS,
    DEFERRED_REASON,
    NEW_TASK_COLUMNS,
    TASK_COLUMNS,
    TASK_KEY_FIELD,
    TASK_MAINTAINED_FIELDS,
    FieldChange,
    PendingWrite,
    Plan,
    PlanProblem,
    RecordChange,
    TaskChange,
    gc_paused,
)
from sfsync.salesforce.mapping import ObjectMapping
from sfsync.salesforce.normalise import ValueProblem, is_null, normalise, same
from sfsync.salesforce.tasks import CLOSED_STATUS


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
    now, now_rows = _current_by_key(current, key_field)
    found = np.asarray(now.get_indexer(pd.Index(keys, dtype=object)) >= 0)
    candidate = ~null_key & ~doubled & found
    rows = np.flatnonzero(candidate)
    in_retry = np.array([keys[i] in retry for i in rows], dtype=bool)
    error: list[tuple[str, str, ValueProblem] | None] = [None] * len(rows)
    has_error = np.zeros(len(rows), dtype=bool)
    visible = np.zeros(len(rows), dtype=bool)
    changed_by_field: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    # the rows of ``current`` (positions) to compare with: one column at a time is taken, not
    # a reindexed copy of the whole frame
    current_at = now_rows[now.get_indexer(pd.Index([keys[i] for i in rows], dtype=object))]
    for column, spec in mapping.fields.items():
        forced = np.zeros(len(rows), dtype=bool)
        for j in np.flatnonzero(in_retry):
            forced[j] = spec.field in retry[keys[rows[j]]].fields
        values = desired[column].iloc[rows] if column in desired.columns else None
        new, new_err, new_null = _normalised_column(values, len(rows), spec, tz, desired=True)
        olds = current[spec.field] if len(now) and spec.field in current else None
        old, old_err, _ = _normalised_column(
            olds, len(rows), spec, tz, desired=False, rows=current_at
        )
        skip = (new_null & ~forced) if spec.null_policy == "leave" else np.zeros(len(rows), bool)
        for at in np.flatnonzero(~skip & ~has_error & ((new_err != None) | (old_err != None))):  # noqa: E711
            problem = new_err[at] if new_err[at] is not None else old_err[at]
            error[at] = (spec.field, column, problem)
            has_error[at] = True
        differs = (_differs(old, new, spec) | forced) & ~skip
        visible |= differs & ((spec.write == "always") | forced)
        # only the values that differ are kept: every field's values of every account (long
        # explanation texts among them) would otherwise be held until the loop ends
        changed_by_field.append((spec.field, differs, old[differs], new[differs]))
    notable = set(np.flatnonzero(~candidate).tolist())
    position = {int(i): j for j, i in enumerate(rows)}
    notable.update(int(rows[j]) for j in np.flatnonzero(has_error | visible | in_retry))
    changes: list[RecordChange] = []
    problems: list[PlanProblem] = []
    resolved: list[PendingWrite] = []
    # per field, each row's place among the field's differing rows (their kept values)
    places = (
        [np.cumsum(differs) - 1 for _, differs, _, _ in changed_by_field] if visible.any() else []
    )
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
                    FieldChange(field, old[place[j]], new[place[j]])
                    for (field, differs, old, new), place in zip(
                        changed_by_field, places, strict=True
                    )
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


def _current_by_key(current: pd.DataFrame, key_field: str) -> tuple[pd.Index, np.ndarray]:
    """The keys of ``current`` as text, each once, and the position in ``current`` of each
    key's row (the last row of a key read twice wins)."""
    if current is None or current.empty or key_field not in current.columns:
        return pd.Index([], dtype=object), np.zeros(0, dtype=np.intp)
    keys = pd.Index([str(k) for k in current[key_field].tolist()], dtype=object)
    last = ~keys.duplicated(keep="last")
    return keys[last], np.flatnonzero(last)


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
    values: pd.Series | None,
    n: int,
    spec: Any,
    tz: ZoneInfo,
    *,
    desired: bool,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`normalise` of a column: (normalised values, the ValueProblem of each value or
    None, whether each value is null), each distinct value normalised once. With ``rows``
    (positions), of those rows of ``values`` only: picked by code, without a copy of the
    column (an Account's explanation text is long)."""

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
            picked = values if rows is None else values.iloc[rows]
            done = [one(v) for v in picked.tolist()]
            codes = np.arange(n, dtype=np.intp)
        else:
            codes, uniques = distinct
            if rows is not None:
                codes = codes[rows]
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


def _task_text(value: Any, name: str) -> str | None:
    """The text a Task write carries for one value of the Task field ``name``; None
    when the field is left out (an empty value; an empty Status is the default status)."""
    if name == "Status" and is_null(value):
        value = DEFAULT_TASK_STATUS
    if is_null(value):
        return None
    if isinstance(value, (pd.Timestamp, date)):
        value = value.strftime("%Y-%m-%d")
    return str(value)


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


# -- whole columns ------------------------------------------------------------------------------
# The Task diff and the signal hygiene below decide on whole columns with the rules of the
# per-row helpers above: each rule is applied once per distinct value of a column
# (:func:`_value_map`), rows are aligned by key with index lookups, and Python objects are
# built only for the Tasks the plan lists (a TaskChange per desired key, the few closes).


def _alike_values(values: pd.Series) -> bool:
    """True when values of ``values`` that hash alike are alike for every rule here (text,
    dates, booleans); not for numbers (``1``, ``1.0`` and ``True`` hash alike, ``-0.0`` and
    ``0.0`` too, and print differently)."""
    dtype = values.dtype
    if pd.api.types.is_object_dtype(dtype):
        kind = pd.api.types.infer_dtype(values, skipna=True)
        return kind in ("string", "empty", "date", "datetime", "boolean")
    if isinstance(dtype, pd.StringDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    return pd.api.types.is_datetime64_any_dtype(dtype)


def _blank(texts: np.ndarray) -> np.ndarray:
    """``text.strip() == ""`` of each text (``str.isspace`` stops at the first other
    character: no copy of a long text)."""
    return np.array([not text or text.isspace() for text in texts.tolist()], dtype=bool)


def _strings(values: pd.Series) -> np.ndarray | None:
    """The values as an object array when every value present is a ``str``; else None."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype) or (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    ):
        return values.to_numpy(dtype=object)
    return None


def _value_map(
    values: pd.Series | None,
    n: int,
    rule: Callable[[Any], Any],
    on_text: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """``rule`` of each value of a column as :func:`sfsync.frames.python_values` gives it (a
    missing column: None), as an object array. ``on_text``: ``rule`` of an object array of
    ``str`` at once, used when every value present is text. Otherwise ``rule`` is called
    once per distinct value where values that hash alike are alike (:func:`_alike_values`),
    and for the missing values one by one (None and NaN can give different results).
    ``rule`` returns scalars."""
    out = np.empty(n, dtype=object)
    if values is None:
        out.fill(rule(None))
        return out
    if not n:
        return out
    texts = _strings(values) if on_text is not None else None
    if texts is not None:
        assert on_text is not None
        missing = np.flatnonzero(values.isna().to_numpy())
        present = np.ones(n, dtype=bool)
        present[missing] = False
        out[present] = on_text(texts[present])
    elif not _alike_values(values):
        out[:] = [rule(v) for v in python_values(values)]
        return out
    else:
        try:
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
        except TypeError:  # unhashable values (lists)
            out[:] = [rule(v) for v in python_values(values)]
            return out
        done = np.empty(len(uniques) + 1, dtype=object)
        done[: len(uniques)] = [rule(u) for u in uniques.tolist()]
        out = done[np.asarray(codes)]
        missing = np.flatnonzero(np.asarray(codes) < 0)
    if len(missing):
        out[missing] = [rule(v) for v in python_values(values.iloc[missing])]
    return out


def _same_text(texts: np.ndarray) -> np.ndarray:
    return texts


def _text_or_none(texts: np.ndarray) -> np.ndarray:
    """``None if is_null(text) else str(text)`` of each text (a blank one: None)."""
    out = texts.copy()
    out[_blank(texts)] = None
    return out


def _nonblank(value: Any) -> str | None:
    return None if is_null(value) else str(value)


def _column(
    frame: pd.DataFrame | None, name: str, rows: np.ndarray | None = None
) -> pd.Series | None:
    """``frame[name]`` (the ``rows`` positions), None when the column is missing."""
    if frame is None or name not in frame.columns:
        return None
    column = frame[name]
    return column if rows is None else column.iloc[rows]


def column_texts(frame: pd.DataFrame | None, name: str) -> np.ndarray:
    """``str`` of each value of ``frame[name]`` (as :func:`iter_records` gives it)."""
    n = 0 if frame is None else len(frame)
    if frame is None or not n:
        return np.empty(0, dtype=object)
    return _value_map(frame[name], n, str, _same_text)


def _was_closed(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """:func:`_is_closed` of the ``rows`` of an existing-Task frame."""
    n = len(rows)
    flag = _value_map(
        _column(frame, "IsClosed", rows), n, lambda v: None if is_null(v) else _flag(v)
    )
    status = _value_map(
        _column(frame, "Status", rows), n, lambda v: str(v or "").casefold() == "completed"
    )
    return np.where(flag == None, status, flag).astype(bool)  # noqa: E711


def _short_id(value: Any) -> str | None:
    return None if is_null(value) else str(value)[:15]


def _was_edited(
    frame: pd.DataFrame, rows: np.ndarray, integration_user_id: str | None
) -> np.ndarray:
    """:func:`_edited_by_someone_else` of the ``rows`` of an existing-Task frame."""
    n = len(rows)
    editor = _value_map(_column(frame, "LastModifiedById", rows), n, _short_id)
    creator = _value_map(_column(frame, "CreatedById", rows), n, _short_id)
    ours = _short_id(integration_user_id)
    has_editor = editor != None  # noqa: E711
    has_creator = creator != None  # noqa: E711
    edited = has_editor & (has_creator | (ours is not None)) & (editor != creator)
    if ours is not None:
        edited &= editor != ours
    return edited.astype(bool)


def _flags(frame: pd.DataFrame, name: str, rows: np.ndarray) -> np.ndarray:
    """:func:`_flag` of the ``rows`` of ``frame[name]`` (a missing column: False)."""
    return _value_map(_column(frame, name, rows), len(rows), _flag).astype(bool)


_SIGNAL_KEY = r"^signal:(?P<code>[^:]+):(?P<account>[^:]+):(?P<month>[^:]+)$"


def signal_key_columns(keys: np.ndarray) -> dict[str, pa.Array]:
    """:func:`sfsync.salesforce.tasks.parse_signal_key` of each key (text) as Arrow columns:
    ``code``, ``account``, ``month`` (null where a key is no signal key), ``pair``
    (``code:account``) and ``key`` (the keys), from one regular expression over the whole
    column: ``signal:`` and three non-empty parts without ``:``."""
    array = pa.array(keys.tolist(), type=pa.string())
    parts = pc.extract_regex(array, _SIGNAL_KEY)
    out = {name: pc.struct_field(parts, name) for name in ("code", "account", "month")}
    out["pair"] = pc.binary_join_element_wise(out["code"], out["account"], ":")
    out["key"] = array
    return out


def among(values: pa.Array, candidates: pa.Array) -> np.ndarray:
    """Whether each value (text, null never) is one of ``candidates``."""
    found = pc.is_in(values, value_set=candidates.drop_null(), skip_nulls=True)
    return np.asarray(pc.fill_null(found, False), dtype=bool)


def _objects(column: pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


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

    Decided on whole columns: the keys are parsed by one regular expression, the open Tasks
    matched to this run's signals by index lookups; a row is turned into a dict only for the
    Tasks closed.
    """
    n = 0 if open_signal_tasks is None else len(open_signal_tasks)
    if not n:
        return set(), []
    assert open_signal_tasks is not None
    wanted = signal_key_columns(column_texts(desired_tasks, "sync_key"))
    keys = column_texts(open_signal_tasks, TASK_KEY_FIELD)
    columns = signal_key_columns(keys)
    parts = {name: _objects(columns[name]) for name in ("code", "account", "month", "pair")}
    rows = np.arange(n)
    candidate = (
        (parts["code"] != None)  # noqa: E711
        & ~among(columns["key"], wanted["key"])
        & ~_was_closed(open_signal_tasks, rows)
        & ~_flags(open_signal_tasks, "IsDeleted", rows)
    )
    # this run's month of each (code, account) of the candidates: the last desired key wins
    pairs = pa.array(parts["pair"][candidate].tolist(), type=pa.string())
    mine = pc.filter(wanted["pair"], pa.array(among(wanted["pair"], pairs)))
    months = pc.filter(wanted["month"], pa.array(among(wanted["pair"], pairs)))
    active = dict(zip(mine.to_pylist(), months.to_pylist(), strict=True))
    this_month = np.array([active.get(p) for p in parts["pair"].tolist()], dtype=object)
    found = this_month != None  # noqa: E711
    held: set[str] = set()
    earlier = candidate & found
    if earlier.any():
        month = parts["month"]
        older = np.zeros(n, dtype=bool)
        older[earlier] = month[earlier] < this_month[earlier]
        for code, account, this in zip(
            parts["code"][older], parts["account"][older], this_month[older], strict=True
        ):
            held.add(f"signal:{code}:{account}:{this}")
    scope = pd.Index({str(a) for a in scope_accounts}, dtype=object)
    closing = candidate & ~found & pd.Index(parts["account"], dtype=object).isin(scope)
    closing[closing] = ~_was_edited(open_signal_tasks, np.flatnonzero(closing), integration_user_id)
    closes: list[TaskChange] = []
    chosen = np.flatnonzero(closing)
    for task, key, code, account in zip(
        iter_records(open_signal_tasks.iloc[chosen]),
        keys[chosen],
        parts["code"][chosen],
        parts["account"][chosen],
        strict=True,
    ):
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

# what diff_tasks decides per desired key
_CREATE, _UPDATE, _HELD, _DELETED, _COMPLETED, _EDITED, _UNCHANGED, _DEFERRED = range(8)
_SKIP_REASONS = {
    _DEFERRED: DEFERRED_REASON,
    _HELD: "open_earlier_month",
    _DELETED: "deleted_by_csm",
    _COMPLETED: "completed_by_csm",
    _EDITED: "edited_by_csm",
    _UNCHANGED: "unchanged",
}


def _existing_rows(existing: pd.DataFrame, keys: np.ndarray) -> np.ndarray:
    """Per key, the row of ``existing`` that counts: its first live row (not deleted), else
    its last deleted one (a live Task wins over a deleted one with that key)."""
    n = len(existing)
    deleted = _flags(existing, "IsDeleted", np.arange(n))
    position = np.arange(n)
    preference = np.where(deleted, 2 * n - position, position)  # live first, then last deleted
    order = np.argsort(preference, kind="stable")
    first = ~pd.Index(keys[order], dtype=object).duplicated(keep="first")
    return order[first]


def _status_texts(texts: np.ndarray) -> np.ndarray:
    out = texts.copy()
    out[_blank(texts)] = DEFAULT_TASK_STATUS
    return out


def _task_texts(
    desired: pd.DataFrame, rows: np.ndarray, names: Iterable[str]
) -> dict[str, np.ndarray]:
    """:func:`_task_text` of the ``rows`` of the desired-Task columns behind ``names``."""
    columns = {name: column for column, name in TASK_COLUMNS.items()}
    return {
        name: _value_map(
            _column(desired, columns[name], rows),
            len(rows),
            lambda v, name=name: _task_text(v, name),
            _status_texts if name == "Status" else _text_or_none,
        )
        for name in names
    }


@gc_paused()
def diff_tasks(
    desired_tasks: pd.DataFrame | None,
    existing_tasks: pd.DataFrame | None,
    *,
    integration_user_id: str | None = None,
    pending: Iterable[PendingWrite] = (),
    held: Collection[str] = (),
    defer: Callable[[pd.DataFrame], Collection[str]] | None = None,
) -> tuple[list[TaskChange], list[PendingWrite]]:
    """One TaskChange per desired Task key; pending Task failures that need no write.

    ``held``: keys not to create (an earlier month's Task for the same signal is open).
    ``defer``: given the Tasks to create (:data:`NEW_TASK_COLUMNS`, in plan order), the keys
    to leave for a later night (the daily limit): skipped with :data:`DEFERRED_REASON`,
    without fields (their texts are not rendered into the plan).

    Decided on whole columns: desired and existing Tasks are aligned by key with an index
    lookup, each rule (closed, deleted, edited by someone else, the maintained fields'
    texts) applied to a column at once or once per distinct value, and the maintained fields
    compared as whole columns; field dicts are built only for the Tasks created or updated.
    """
    retry = _pending_by_key(pending, "Task")
    all_keys = column_texts(desired_tasks, "sync_key")
    unique = np.flatnonzero(~pd.Index(all_keys, dtype=object).duplicated(keep="first"))
    keys = all_keys[unique]
    n = len(keys)
    kind = np.full(n, _CREATE, dtype=np.int8)
    match = np.full(n, -1, dtype=np.intp)
    task_ids = np.empty(n, dtype=object)
    update_fields: list[dict[str, Any]] = []
    if existing_tasks is not None and len(existing_tasks) and n:
        # only what the comparison reads (not the long Description)
        existing = existing_tasks[[c for c in EXISTING_TASK_COLUMNS if c in existing_tasks]]
        existing_keys = column_texts(existing, TASK_KEY_FIELD)
        rows = _existing_rows(existing, existing_keys)
        at = pd.Index(existing_keys[rows], dtype=object).get_indexer(pd.Index(keys, dtype=object))
        found = np.flatnonzero(at >= 0)
        match[found] = rows[at[found]]
        theirs = match[found]
        task_ids[found] = _value_map(
            _column(existing, "Id", theirs), len(found), _nonblank, _text_or_none
        )
        decided = np.where(
            _flags(existing, "IsDeleted", theirs),
            _DELETED,
            np.where(
                _was_closed(existing, theirs),
                _COMPLETED,
                np.where(_was_edited(existing, theirs, integration_user_id), _EDITED, _UNCHANGED),
            ),
        )
        live = found[decided == _UNCHANGED]
        maintained = [name for name in TASK_COLUMNS.values() if name in TASK_MAINTAINED_FIELDS]
        wanted = _task_texts(desired_tasks, unique[live], maintained)  # type: ignore[arg-type]
        changed = []
        for name in maintained:
            have = _value_map(
                _column(existing, name, match[live]),
                len(live),
                lambda v: str(v or ""),
                _same_text,
            )
            want = wanted[name]
            changed.append((want != None) & (want != have))  # noqa: E711
        differs = np.logical_or.reduce(changed) if changed else np.zeros(len(live), bool)
        decided[decided == _UNCHANGED] = np.where(differs, _UPDATE, _UNCHANGED)
        kind[found] = decided
        if differs.any():
            columns = [np.where(c[differs], wanted[name][differs], None)
                       for name, c in zip(maintained, changed, strict=True)]  # fmt: skip
            update_fields = _field_dicts(maintained, columns, keys[live[differs]])
    if held:
        wait = pd.Index(keys, dtype=object).isin(pd.Index(list(held), dtype=object))
        kind[(match < 0) & wait] = _HELD
    accounts = _value_map(_column(desired_tasks, "account_id", unique), n, _nonblank, _text_or_none)
    retried = pd.Index(keys, dtype=object).isin(pd.Index(list(retry), dtype=object))
    out = np.empty(n, dtype=object)
    created = np.flatnonzero(kind == _CREATE)
    if len(created) and defer is not None:
        wait = _deferred(defer, desired_tasks, unique[created], keys[created], accounts[created])
        kind[created[wait]] = _DEFERRED
        created = created[~wait]
    if len(created):
        names = list(TASK_COLUMNS.values())
        texts = _task_texts(desired_tasks, unique[created], names)  # type: ignore[arg-type]
        fields = _field_dicts(names, [texts[name] for name in names], keys[created])
        out[created] = _task_changes(
            "create", "new", keys[created], accounts[created], None, retried[created], fields
        )
    updated = np.flatnonzero(kind == _UPDATE)
    if len(updated):
        out[updated] = _task_changes("update", "changed", keys[updated], accounts[updated],
                                     task_ids[updated], retried[updated], update_fields)  # fmt: skip
    for what, reason in _SKIP_REASONS.items():
        skipped = np.flatnonzero(kind == what)
        if len(skipped):
            ids = None if what == _HELD else task_ids[skipped]
            out[skipped] = _task_changes("skip", reason, keys[skipped], accounts[skipped], ids)
    # a deferred retry stays in the ledger: the night that creates the Task resolves it
    again = np.flatnonzero(retried & (kind != _CREATE) & (kind != _UPDATE) & (kind != _DEFERRED))
    resolved = [retry[key] for key in keys[again].tolist()]
    seen = set(keys.tolist())
    resolved.extend(p for k, p in retry.items() if k not in seen)
    return out.tolist(), resolved


def _deferred(
    defer: Callable[[pd.DataFrame], Collection[str]],
    desired: pd.DataFrame,
    rows: np.ndarray,
    keys: np.ndarray,
    accounts: np.ndarray,
) -> np.ndarray:
    """Per new Task (the desired ``rows``): whether ``defer`` leaves it for a later night.
    It sees the Tasks as the plan would create them: the Task fields' texts."""
    texts = _task_texts(desired, rows, ["WhatId", "OwnerId", "Subject", "Priority"])
    what = texts["WhatId"]
    new = pd.DataFrame(
        {
            "sync_key": keys,
            "account_id": np.where(_blank(accounts), what, accounts),
            "owner_id": texts["OwnerId"],
            "subject": texts["Subject"],
            "priority": texts["Priority"],
        },
        columns=NEW_TASK_COLUMNS,
    )
    later = defer(new)
    if not later:
        return np.zeros(len(keys), dtype=bool)
    return pd.Index(keys, dtype=object).isin(pd.Index(list(later), dtype=object))


def _task_changes(
    action: str,
    reason: str,
    keys: np.ndarray,
    accounts: np.ndarray,
    task_ids: np.ndarray | None,
    retry: np.ndarray | None = None,
    fields: list[dict[str, Any]] | None = None,
) -> list[TaskChange]:
    """The TaskChange of each key (one action and reason), as a list."""
    n = len(keys)
    ids = task_ids.tolist() if task_ids is not None else [None] * n
    if fields is None:
        return [TaskChange(k, action, reason, a, i)
                for k, a, i in zip(keys.tolist(), accounts.tolist(), ids, strict=True)]  # fmt: skip
    flags = retry.tolist() if retry is not None else [False] * n
    return [
        TaskChange(k, action, reason, a, i, f, r)
        for k, a, i, f, r in zip(keys.tolist(), accounts.tolist(), ids, fields, flags, strict=True)
    ]


def _field_dicts(
    names: list[str], columns: list[np.ndarray], keys: np.ndarray
) -> list[dict[str, Any]]:
    """One dict per row: ``names`` -> the row's value of each column when not None, then the
    row's key under ``Sync_Key__c``."""
    out = []
    for row, key in zip(
        zip(*(c.tolist() for c in columns), strict=True), keys.tolist(), strict=True
    ):
        fields = {name: value for name, value in zip(names, row, strict=True) if value is not None}
        fields[TASK_KEY_FIELD] = key
        out.append(fields)
    return out


@gc_paused()
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
    defer: Callable[[pd.DataFrame], Collection[str]] | None = None,
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
        defer=defer,
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
