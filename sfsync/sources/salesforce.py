"""Salesforce context: accounts, users with managers, and completed activities.

Reads go through the sf-client (``client.query_frame``: every page, Bulk API 2.0 above the
threshold). Every value placed in SOQL is quoted by ``simple_salesforce.format_soql``; field
names come from configuration and must look like field names, so that an account name or id
such as ``x' OR Name != '`` can never change a query.

Activities follow SPEC §3/§10: a Task counts when its Status is one of the completed statuses
(default ``Completed``), an Event when its date is on or before the as-of date; ``Type``
``Meeting``/``QBR`` makes it a meeting. Only activities on Accounts (``WhatId`` with the Account
key prefix ``001``) inside the lookback window are read.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd
import structlog
from simple_salesforce import format_soql

from sfsync.config import DEFAULT_BULK_THRESHOLD
from sfsync.errors import SourceError
from sfsync.plan import AUTO_CLOSED_MARKER
from sfsync.scope import FIELD_NAME, ScopeCondition, scope_clause
from sfsync.sources.columns import ColumnMapping

log = structlog.get_logger(__name__)

ACCOUNT_KEY_PREFIX = "001"
USER_FIELDS = ["Id", "Name", "Email", "Username", "ManagerId", "IsActive"]
TASK_FIELDS = ["Id", "WhatId", "Status", "ActivityDate", "Type", "Description"]
EVENT_FIELDS = ["Id", "WhatId", "ActivityDate", "Type"]
ACTIVITY_COLUMNS = ["activity_id", "account_id", "date", "type", "completed", "source_object"]
_TYPES = {"call": "call", "email": "email", "meeting": "meeting", "qbr": "qbr"}


class QueryClient(Protocol):
    """What this module needs from ``sfsync.salesforce.client.SalesforceClient``."""

    def query_frame(self, soql: str, bulk_threshold: int = ...) -> pd.DataFrame: ...


def account_fields(mapping: ColumnMapping, available: Collection[str] | None = None) -> list[str]:
    """The Account fields to SELECT: the mapping's source fields, minus the ``optional`` ones
    that ``available`` (the org's Account field names, from the describe) does not have.

    A non-optional field the org lacks is a SourceError naming the field and the fix.
    Relationship paths (``Owner.Name``) are not checked. ``available=None``: no check.
    """
    fields = mapping.source_columns
    if available is None:
        return fields
    known = {name.lower() for name in available}
    optional = {mapping.source_column(f) for f, spec in mapping.columns.items() if spec.optional}
    absent = [f for f in fields if "." not in f and f.lower() not in known]
    missing = [f for f in absent if f not in optional]
    if missing:
        raise SourceError(
            f"accounts: the org's Account has no field {', '.join(missing)} "
            "(or the integration user cannot read it)",
            hint="deploy deploy/salesforce (and its permission set), mark the column "
            "`optional: true`, or change its `source:` in the accounts column mapping",
        )
    if absent:
        log.info("optional_fields_absent", sobject="Account", fields=absent)
    return [f for f in fields if f not in absent]


def accounts_soql(
    mapping: ColumnMapping,
    scope: Sequence[ScopeCondition] = (),
    available: Collection[str] | None = None,
) -> str:
    """SELECT the mapping's source fields FROM Account, filtered by the job's scope.

    With ``available`` (the org's field names) optional fields the org lacks are left out.
    """
    return _select_accounts(account_fields(mapping, available), scope)


def _select_accounts(fields: Sequence[str], scope: Sequence[ScopeCondition]) -> str:
    bad = [f for f in fields if not FIELD_NAME.match(f)]
    if bad:
        raise ValueError(f"not Salesforce field names: {', '.join(bad)}")
    return f"SELECT {', '.join(fields)} FROM Account" + scope_clause(scope)


def available_fields(client: Any, sobject: str) -> list[str] | None:
    """Field names of ``sobject`` from the client's (cached) describe; None when the client
    cannot describe."""
    describe = getattr(client, "describe", None)
    if describe is None:
        return None
    return [f["name"] for f in describe(sobject).get("fields", [])]


def tasks_soql(start: date, as_of: date, completed_statuses: Sequence[str]) -> str:
    """Completed Tasks dated inside [start, as_of]."""
    return format_soql(
        f"SELECT {', '.join(TASK_FIELDS)} FROM Task "
        "WHERE ActivityDate >= {} AND ActivityDate <= {} AND Status IN {}",
        start,
        as_of,
        list(completed_statuses),
    )


def events_soql(start: date, as_of: date) -> str:
    """Events dated inside [start, as_of] (an Event on or before the as-of date took place)."""
    return format_soql(
        f"SELECT {', '.join(EVENT_FIELDS)} FROM Event "
        "WHERE ActivityDate >= {} AND ActivityDate <= {}",
        start,
        as_of,
    )


def _frame(client: QueryClient, soql: str, fields: Sequence[str], bulk_threshold: int):
    frame = client.query_frame(soql, bulk_threshold=bulk_threshold)
    for field in fields:  # an empty result may come back without columns
        if field not in frame.columns:
            frame[field] = pd.Series(dtype=object)
    return frame


def read_accounts(
    client: QueryClient,
    mapping: ColumnMapping,
    scope: Sequence[ScopeCondition] = (),
    *,
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
    also_select: Sequence[str] = (),
) -> pd.DataFrame:
    """Raw Account rows (Salesforce field names); map them with ``salesforce_accounts.yaml``.

    When the mapping has ``optional`` columns, the Account describe (one cached call) decides
    which of them the org has; the absent ones are neither selected nor returned, so the
    mapped frame leaves their canonical columns out.

    ``also_select``: more Account fields to read in the same query (the fields the job writes,
    so that the plan compares with them instead of reading the Accounts a second time); those
    the org's describe does not list are left out (the plan's mapping check reports them).
    """
    has_optional = any(spec.optional for spec in mapping.columns.values())
    available = available_fields(client, "Account") if has_optional or also_select else None
    fields = account_fields(mapping, available)
    if also_select and available is not None:
        known = {name.lower(): name for name in available}
        chosen = {f.lower() for f in fields}
        fields += [known[f.lower()] for f in also_select if f.lower() in known and
                   f.lower() not in chosen]  # fmt: skip
    frame = _frame(client, _select_accounts(fields, scope), fields, bulk_threshold)
    log.info("accounts_extracted", rows=len(frame))
    return frame


def read_users(
    client: QueryClient, *, bulk_threshold: int = DEFAULT_BULK_THRESHOLD
) -> pd.DataFrame:
    """Raw User rows: Id, Name, Email, Username, ManagerId, IsActive."""
    soql = f"SELECT {', '.join(USER_FIELDS)} FROM User"
    frame = _frame(client, soql, USER_FIELDS, bulk_threshold)
    log.info("users_extracted", rows=len(frame))
    return frame


def _activity_type(values: pd.Series) -> pd.Series:
    def canonical(value: object) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        return _TYPES.get(text, text) or "other"

    # a handful of picklist values: each distinct one mapped once
    codes, distinct = pd.factorize(values.astype(object))
    names = np.array([canonical(v) for v in distinct] + ["other"], dtype=object)
    return pd.Series(names[codes], index=values.index).astype("str")  # code -1: missing


def canonical_activities(raw: pd.DataFrame, source_object: str) -> pd.DataFrame:
    """Task or Event records on Accounts as canonical activities (all completed: the queries
    select completed Tasks and past Events only)."""
    what = raw["WhatId"].astype("str")  # (Ids are text: no value is stringified)
    on_account = what.str.startswith(ACCOUNT_KEY_PREFIX).fillna(False)
    raw = raw.loc[on_account.to_numpy(dtype=bool)]
    day = raw["ActivityDate"]
    if not pd.api.types.is_datetime64_any_dtype(day.dtype):
        day = day.astype("str").str.slice(0, 10)  # a dateTime's date; "" and missing: NaT
    dates = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce")
    return pd.DataFrame(
        {
            "activity_id": raw["Id"].astype("str"),
            "account_id": raw["WhatId"].astype("str"),
            "date": dates.astype("datetime64[ns]"),
            "type": _activity_type(raw["Type"]),
            "completed": pd.array([True] * len(raw), dtype="boolean"),
            "source_object": source_object,
        },
        columns=ACTIVITY_COLUMNS,
    )


def read_activities(
    client: QueryClient,
    *,
    as_of: date,
    lookback_days: int = 400,
    completed_statuses: Sequence[str] = ("Completed",),
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
) -> pd.DataFrame:
    """Completed Tasks and past Events on Accounts in the lookback window, canonical columns.

    Columns: activity_id, account_id, date, type (call/email/meeting/qbr/other…), completed,
    source_object (Task/Event). A Task sfsync closed because its signal cleared (its description
    carries ``sfsync.plan.AUTO_CLOSED_MARKER``) is no touch and left out (SPEC §10).
    """
    start = as_of - timedelta(days=lookback_days)
    tasks = _frame(
        client, tasks_soql(start, as_of, completed_statuses), TASK_FIELDS, bulk_threshold
    )
    if "Description" in tasks.columns:  # closed by sfsync when its signal cleared: no touch
        closed = tasks["Description"].astype("str").str.contains(AUTO_CLOSED_MARKER, regex=False)
        tasks = tasks.loc[~closed.fillna(False).to_numpy(dtype=bool)]
    events = _frame(client, events_soql(start, as_of), EVENT_FIELDS, bulk_threshold)
    frames = [canonical_activities(tasks, "Task"), canonical_activities(events, "Event")]
    activities = pd.concat(frames, ignore_index=True)
    activities = activities.loc[activities["date"].notna()].reset_index(drop=True)
    log.info(
        "activities_extracted",
        tasks=len(frames[0]),
        events=len(frames[1]),
        since=start.isoformat(),
    )
    return activities


def known_account_ids(accounts: pd.DataFrame) -> set[Any]:
    """Account ids present in a canonical accounts frame."""
    return set(accounts["account_id"].dropna())
