"""Read what Salesforce holds now: mapped fields of the records in scope, existing Tasks.

Reads are paged, never one call per record: a small scope (up to ``in_list_max`` keys) is read
with ``IN (...)`` queries (one call per ~200 keys); a larger scope of Accounts reads the whole
object with one SOQL query (pages of up to 2,000 records) or a Bulk API 2.0 query above the
client's bulk threshold, and the plan picks out the records it needs. Existing Tasks are read
by this run's keys (:func:`read_existing_tasks`), so the read does not grow with history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import structlog
from simple_salesforce import format_soql

from sfsync.frames import isin
from sfsync.plan import TASK_KEY_FIELD
from sfsync.salesforce.mapping import ObjectMapping
from sfsync.salesforce.query import soql_in

log = structlog.get_logger(__name__)

IN_LIST_MAX = 200
TASK_READ_FIELDS = (
    "Id",
    TASK_KEY_FIELD,
    "IsClosed",
    "Status",
    "Subject",
    "Description",
    "Priority",
    "OwnerId",
    "WhatId",
    "ActivityDate",
    "CreatedById",
    "LastModifiedById",
    "IsDeleted",
)


def _read(
    client: Any,
    sobject: str,
    fields: list[str],
    key_field: str,
    keys: list[str] | None,
    *,
    where: str | None = None,
    in_list_max: int = IN_LIST_MAX,
    include_deleted: bool = False,
) -> pd.DataFrame:
    select = f"SELECT {', '.join(fields)} FROM {sobject}"
    deleted = {"include_deleted": True} if include_deleted else {}
    if keys is not None and len(keys) <= in_list_max:
        records: list[dict[str, Any]] = []
        for condition in soql_in(key_field, keys):
            records.extend(client.query(f"{select} WHERE {condition}", **deleted))
        frame = pd.DataFrame.from_records(records, columns=fields)
    else:
        frame = client.query_frame(f"{select} WHERE {where}" if where else select, **deleted)
        for name in fields:
            if name not in frame.columns:
                frame[name] = None
    return frame


def read_current(
    client: Any,
    mapping: ObjectMapping,
    keys: Iterable[str] | None = None,
    *,
    in_list_max: int = IN_LIST_MAX,
) -> pd.DataFrame:
    """Current values of the mapped fields: one row per record, Salesforce field names."""
    fields = list(dict.fromkeys([mapping.match.field, *mapping.field_names]))
    wanted = None if keys is None else list(dict.fromkeys(str(k) for k in keys))
    frame = _read(
        client, mapping.sobject, fields, mapping.match.field, wanted, in_list_max=in_list_max
    )
    log.info("current_values_read", sobject=mapping.sobject, records=len(frame))
    return frame


def read_existing_tasks(
    client: Any, sync_keys: Iterable[str], *, in_list_max: int = IN_LIST_MAX
) -> pd.DataFrame:
    """Tasks that carry one of ``sync_keys`` (open, closed or deleted: a Task a CSM deleted is
    in the recycle bin, and must not be recreated), with the fields the plan needs.

    The read is sized by this run's keys, never by history: a period (the key's last part,
    ``…:<period>``) shared by more than ``in_list_max`` keys is read with one ``LIKE '%:<period>'``
    condition (the signal Tasks of a scoring month), every other key in ``IN (...)`` lists of
    about 200 keys (follow-ups, whose periods are dates). Deleted rows are included
    (``queryAll``) only for these keys: the CSM-deleted Task rule needs them.
    """
    existing, _ = read_task_state(client, sync_keys, open_signals=False, in_list_max=in_list_max)
    return existing


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
    key_periods = _periods(keys)
    periods = _wide_periods(keys, in_list_max, key_periods)
    frames: list[pd.DataFrame] = []
    whole = None  # every Task of the wide periods, deleted ones included
    if periods:
        # queryAll: a CSM-deleted Task of this run's keys must be seen (never recreated)
        whole = client.query_frame(f"{select} WHERE {_period_scope(periods)}", include_deleted=True)
        whole = whole.reindex(columns=fields)
        frames.append(whole)
    wide = key_periods.isin(list(periods)).to_numpy()
    narrow = [k for k, w in zip(keys, wide.tolist(), strict=True) if not w]
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
    closed = _trues(frame["IsClosed"])
    deleted = _trues(frame["IsDeleted"])
    return frame.loc[signal.to_numpy() & ~closed & ~deleted].reset_index(drop=True)


def _true(value: Any) -> bool:
    """A Salesforce boolean as read (bool, or "true"/"false" text); missing is False."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return False if value is None or pd.isna(value) else bool(value)


def _trues(column: pd.Series) -> np.ndarray:
    """:func:`_true` of each value, computed once per distinct value (values that hash alike,
    ``1``, ``1.0`` and ``True``, are alike here)."""
    try:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
    except TypeError:  # unhashable values
        return np.array([_true(v) for v in column.tolist()], dtype=bool)
    flags = np.array([_true(u) for u in uniques.tolist()] + [False], dtype=bool)
    return flags[np.asarray(codes)]


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


def read_open_followup_tasks(client: Any, prefixes: Iterable[str]) -> pd.DataFrame:
    """The org's open (not completed, not deleted) Tasks whose key starts with one of
    ``prefixes`` (follow-ups sfsync may close when their reason went away, SPEC §10)."""
    fields = list(TASK_READ_FIELDS)
    likes = [format_soql(f"{TASK_KEY_FIELD} LIKE '{{:like}}%'", p) for p in prefixes]
    if not likes:
        return pd.DataFrame(columns=fields)
    where = likes[0] if len(likes) == 1 else "(" + " OR ".join(likes) + ")"
    soql = f"SELECT {', '.join(fields)} FROM Task WHERE {where} AND IsClosed = false"
    frame = client.query_frame(soql).reindex(columns=fields)
    log.info("open_followup_tasks_read", tasks=len(frame))
    return frame.reset_index(drop=True)


def _period(key: str) -> str | None:
    return key.rsplit(":", 1)[-1] if ":" in key else None


def _periods(keys: list[str]) -> pd.Series:
    """:func:`_period` of each key (text), from one split of the whole column (None: a key
    without ``:``)."""
    if not keys:
        return pd.Series([], dtype=object)
    parts = pc.split_pattern(pa.array(keys, type=pa.string()), ":", max_splits=1, reverse=True)
    has = np.asarray(pc.equal(pc.list_value_length(parts), 2), dtype=bool)
    out = np.empty(len(keys), dtype=object)
    out[has] = pc.list_element(parts.filter(pa.array(has)), 1).to_pylist()
    return pd.Series(out, dtype=object)


def _wide_periods(keys: list[str], in_list_max: int, periods: pd.Series | None = None) -> set[str]:
    """Periods shared by more than ``in_list_max`` keys: cheaper read by period than by key.
    ``periods``: :func:`_periods` of ``keys`` when known."""
    counts = (_periods(keys) if periods is None else periods).value_counts(dropna=True)
    return set(counts.index[counts.to_numpy() > in_list_max].tolist())


def _period_scope(periods: Iterable[str]) -> str:
    """A WHERE clause matching the keys that end in one of ``periods``."""
    conditions = [
        format_soql(f"{TASK_KEY_FIELD} LIKE '%:{{:like}}'", period) for period in sorted(periods)
    ]
    return conditions[0] if len(conditions) == 1 else "(" + " OR ".join(conditions) + ")"


def integration_user_id(client: Any) -> str | None:
    """The Id of the user sfsync writes as (from the OAuth userinfo endpoint), if available."""
    try:
        response = client.request("GET", "/services/oauth2/userinfo", raise_for_status=False)
    except Exception:  # the check is an optimisation; CreatedById is the fallback
        return None
    if response.status_code != 200:
        return None
    try:
        return response.json().get("user_id")
    except ValueError:
        return None


def read_owner_frames(
    client: Any, account_ids: Iterable[str] | None = None, *, in_list_max: int = IN_LIST_MAX
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical ``accounts`` (account_id, name, owner_id) and ``users`` frames for Tasks.

    ``account_ids`` None reads every account.
    """
    ids = None if account_ids is None else list(dict.fromkeys(str(k) for k in account_ids))
    raw = _read(client, "Account", ["Id", "Name", "OwnerId"], "Id", ids, in_list_max=in_list_max)
    accounts = raw.rename(columns={"Id": "account_id", "Name": "name", "OwnerId": "owner_id"})
    fields = ["Id", "Name", "Email", "ManagerId", "IsActive"]
    users = client.query_frame(f"SELECT {', '.join(fields)} FROM User")
    users = users.rename(
        columns={
            "Id": "user_id",
            "Name": "name",
            "Email": "email",
            "ManagerId": "manager_id",
            "IsActive": "is_active",
        }
    )
    if "is_active" in users:
        users["is_active"] = users["is_active"].map(
            lambda v: v if isinstance(v, bool) else str(v).strip().lower() == "true"
        )
    return accounts, users
