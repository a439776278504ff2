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

import math
import re
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

import pandas as pd
import structlog
from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from simple_salesforce import format_soql

from sfsync.config import DEFAULT_BULK_THRESHOLD
from sfsync.configfile import StrictModel
from sfsync.errors import SourceError
from sfsync.sources.columns import ColumnMapping

log = structlog.get_logger(__name__)

ACCOUNT_KEY_PREFIX = "001"
USER_FIELDS = ["Id", "Name", "Email", "ManagerId", "IsActive"]
TASK_FIELDS = ["Id", "WhatId", "Status", "ActivityDate", "Type"]
EVENT_FIELDS = ["Id", "WhatId", "ActivityDate", "Type"]
ACTIVITY_COLUMNS = ["activity_id", "account_id", "date", "type", "completed", "source_object"]
_TYPES = {"call": "call", "email": "email", "meeting": "meeting", "qbr": "qbr"}

_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
Operator = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in", "like"]
ScopeValue = str | int | float | bool | datetime | date | None
LIST_OPERATORS = ("in", "not in")
ORDER_OPERATORS = ("<", "<=", ">", ">=")


class QueryClient(Protocol):
    """What this module needs from ``sfsync.salesforce.client.SalesforceClient``."""

    def query_frame(self, soql: str, bulk_threshold: int = ...) -> pd.DataFrame: ...


def _shown(value: object) -> str:
    """A value as the YAML file spells it (null, true, 'text', 2025-06-01)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return value.isoformat() if isinstance(value, date) else repr(value)


def scope_value_problem(op: str, value: object) -> str | None:
    """What is wrong with ``value`` for operator ``op`` (None when it is a valid shape).

    Each operator's allowed values: ``=``/``!=`` one text, number, date, true/false or null;
    ``<``/``<=``/``>``/``>=`` one text, number or date; ``like`` one text pattern (``%`` and
    ``_`` wildcards); ``in``/``not in`` a non-empty list of texts, numbers or dates.
    """
    if isinstance(value, dict):
        return f"expected a value, not a mapping {value!r}"
    if op in LIST_OPERATORS:
        if not isinstance(value, list):
            return (
                f"op '{op}' needs a list of values, such as value: [{value}] (got the single "
                f"value {_shown(value)}; for one value use op '=')"
            )
        if not value:
            return f"op '{op}' needs at least one value in the list"
        for item in value:
            if isinstance(item, list | dict):
                return f"the list holds {item!r}; list items must be single values"
            if item is None or isinstance(item, bool):
                return (
                    f"the list holds {_shown(item)}; compare with true/false/null using "
                    "op '=' or '!='"
                )
            if isinstance(item, float) and not math.isfinite(item):
                return f"the list holds {item!r}; numbers must be finite"
        return None
    if isinstance(value, list):
        return f"a list of values needs op 'in' or 'not in' (op is '{op}')"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number (use a number such as 1000000)"
    if op == "like" and not isinstance(value, str):
        return f"op 'like' compares text: the value must be a text pattern such as 'Acme%' (got {_shown(value)})"
    if op in ORDER_OPERATORS and (value is None or isinstance(value, bool)):
        return f"op '{op}' needs a text, number or date (got {_shown(value)})"
    return None


class ScopeCondition(StrictModel):
    """One condition of an account scope filter: ``field op value`` (values are quoted).

    ``op`` is case-insensitive (``IN`` = ``in``); the value's shape must suit the operator (see
    :func:`scope_value_problem`), so that ``sfsync validate`` catches what the org would reject.
    """

    field: str
    op: Operator = "="
    value: ScopeValue | list[ScopeValue]

    @field_validator("field")
    @classmethod
    def _field_name(cls, value: str) -> str:
        if not _FIELD_NAME.match(value):
            raise ValueError(f"{value!r} is not a Salesforce field name (letters, digits, _ and .)")
        return value

    @field_validator("op", mode="before")
    @classmethod
    def _op_case(cls, value: object) -> object:
        return " ".join(value.lower().split()) if isinstance(value, str) else value

    @field_validator("value", mode="before")
    @classmethod
    def _value_shape(cls, value: object, info: ValidationInfo) -> object:
        op = info.data.get("op")
        if op is None:  # the operator itself is wrong; that error is reported
            return value
        problem = scope_value_problem(op, value)
        if problem:
            raise PydanticCustomError("scope_value", problem)
        return value

    def to_soql(self) -> str:
        """The condition as SOQL, the value quoted by ``format_soql``."""
        problem = scope_value_problem(self.op, self.value)
        if problem:
            raise ValueError(f"{self.field}: {problem}")
        return f"{self.field} {self.op.upper()} " + format_soql("{}", self.value)


def scope_clause(scope: Sequence[ScopeCondition]) -> str:
    """``WHERE a AND b`` for the scope conditions, or an empty string."""
    if not scope:
        return ""
    return " WHERE " + " AND ".join(f"({c.to_soql()})" for c in scope)


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
    bad = [f for f in fields if not _FIELD_NAME.match(f)]
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
) -> pd.DataFrame:
    """Raw Account rows (Salesforce field names); map them with ``salesforce_accounts.yaml``.

    When the mapping has ``optional`` columns, the Account describe (one cached call) decides
    which of them the org has; the absent ones are neither selected nor returned, so the
    mapped frame leaves their canonical columns out.
    """
    has_optional = any(spec.optional for spec in mapping.columns.values())
    available = available_fields(client, "Account") if has_optional else None
    fields = account_fields(mapping, available)
    frame = _frame(client, _select_accounts(fields, scope), fields, bulk_threshold)
    log.info("accounts_extracted", rows=len(frame))
    return frame


def read_users(
    client: QueryClient, *, bulk_threshold: int = DEFAULT_BULK_THRESHOLD
) -> pd.DataFrame:
    """Raw User rows: Id, Name, Email, ManagerId, IsActive."""
    soql = f"SELECT {', '.join(USER_FIELDS)} FROM User"
    frame = _frame(client, soql, USER_FIELDS, bulk_threshold)
    log.info("users_extracted", rows=len(frame))
    return frame


def _activity_type(values: pd.Series) -> pd.Series:
    def canonical(value: object) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        return _TYPES.get(text, text) or "other"

    return values.astype(object).map(canonical).astype("str")


def canonical_activities(raw: pd.DataFrame, source_object: str) -> pd.DataFrame:
    """Task or Event records on Accounts as canonical activities (all completed: the queries
    select completed Tasks and past Events only)."""
    what = raw["WhatId"].astype(object)
    on_account = what.map(lambda v: isinstance(v, str) and v.startswith(ACCOUNT_KEY_PREFIX))
    raw = raw.loc[on_account.astype(bool)]
    dates = pd.to_datetime(
        raw["ActivityDate"].astype(object).map(lambda v: str(v)[:10] if v else None),
        format="%Y-%m-%d",
        errors="coerce",
    )
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
    source_object (Task/Event).
    """
    start = as_of - timedelta(days=lookback_days)
    tasks = _frame(
        client, tasks_soql(start, as_of, completed_statuses), TASK_FIELDS, bulk_threshold
    )
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
