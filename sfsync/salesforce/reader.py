"""Read what Salesforce holds now: mapped fields of the records in scope, existing Tasks.

Reads are paged, never one call per record: a small scope (up to ``in_list_max`` keys) is read
with ``IN (...)`` queries (one call per ~200 keys); a larger scope reads the whole object with
one SOQL query (pages of up to 2,000 records) or a Bulk API 2.0 query above the client's bulk
threshold, and the plan picks out the records it needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import structlog
from simple_salesforce import format_soql

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
    in the recycle bin, and must not be recreated), with the fields the plan needs."""
    keys = list(dict.fromkeys(str(k) for k in sync_keys))
    if not keys:
        return pd.DataFrame(columns=list(TASK_READ_FIELDS))
    frame = _read(
        client,
        "Task",
        list(TASK_READ_FIELDS),
        TASK_KEY_FIELD,
        keys,
        where=_task_scope(keys),
        in_list_max=in_list_max,
        include_deleted=True,
    )
    if len(keys) > in_list_max:
        frame = frame[frame[TASK_KEY_FIELD].isin(keys)]
    log.info("existing_tasks_read", tasks=len(frame))
    return frame.reset_index(drop=True)


def _task_scope(keys: list[str]) -> str:
    """A WHERE clause covering ``keys``: their common period (``…:<period>``) when they share
    one, so that Tasks of earlier months are not read; otherwise every keyed Task."""
    periods = {key.rsplit(":", 1)[-1] for key in keys if ":" in key}
    if len(periods) == 1 and all(":" in key for key in keys):
        return format_soql(f"{TASK_KEY_FIELD} LIKE '%:{{:like}}'", periods.pop())
    return f"{TASK_KEY_FIELD} != null"


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
