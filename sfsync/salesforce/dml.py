"""The writer's vocabulary: requests, per-record results, and the one DML interface.

In the manner of CumulusCI's bulk-data step: every way of writing (sObject Collections, Bulk
API 2.0) is a :class:`DmlOperation` — ``start()``, ``load_records(records)``, ``end()``,
``results()`` — whose results are frozen :class:`WriteResult` records with a
:class:`WriteStatus`: success, row failure (Salesforce rejected the record) or job failure
(the request or job carrying it failed). Row and job failures are reported, never raised;
only an exhausted API limit or a failed login propagates.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Row failures worth sending again, alone, after a pause.
LOCK_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
#: The row failure of an insert whose record is already there (``duplicate_is_done``).
DUPLICATE_CODE = "DUPLICATE_VALUE"

Record = tuple[str, dict[str, Any]]  # (key, field values without the key)


class WriteStatus(enum.Enum):
    """Outcome of one record: written, rejected by Salesforce, or its request failed."""

    SUCCESS = "success"
    ROW_FAILURE = "row_failure"
    JOB_FAILURE = "job_failure"


@dataclass(frozen=True)
class WriteResult:
    """What happened to one record of the plan."""

    sobject: str
    key: str
    status: WriteStatus
    record_id: str | None = None
    created: bool = False
    error_code: str | None = None
    message: str | None = None
    attempts: int = 1
    fields: tuple[str, ...] = ()

    @property
    def locked(self) -> bool:
        """A row failure caused by a lock on the record or its parent (worth retrying)."""
        return self.status is WriteStatus.ROW_FAILURE and self.error_code in LOCK_CODES


@dataclass(frozen=True)
class WriteRequest:
    """Records of one object to write one way: ``update`` by Id, ``upsert`` by external ID, or
    ``insert`` (new records without a key; the record key only names each record).

    ``parents`` maps a record key to the Id of the record it locks when written (a Task's
    ``WhatId``); Bulk uploads are ordered by it so that one parent's children travel together.
    ``duplicate_is_done``: a ``DUPLICATE_VALUE`` row failure means the record is already there
    (an insert of a Campaign member that a concurrent insert, or a retried request whose first
    answer was lost, already made); the writer counts it as written, not created.
    """

    sobject: str
    operation: str  # update | upsert | insert
    key_field: str  # Id for update, the external-ID field for upsert; unused by insert
    records: tuple[Record, ...]
    parents: Mapping[str, str] = field(default_factory=dict)
    duplicate_is_done: bool = False

    def subset(self, keys: Sequence[str]) -> WriteRequest:
        """The same request for only ``keys`` (in this request's order)."""
        wanted = set(keys)
        return WriteRequest(
            self.sobject,
            self.operation,
            self.key_field,
            tuple(r for r in self.records if r[0] in wanted),
            {k: v for k, v in self.parents.items() if k in wanted},
            self.duplicate_is_done,
        )


@dataclass(frozen=True)
class LockRetry:
    """How records rejected with UNABLE_TO_LOCK_ROW are retried."""

    attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 10.0
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_settings(cls, retry: Any) -> LockRetry:
        """From ``salesforce.retry`` (``attempts``, ``wait_initial_seconds``,
        ``wait_max_seconds``); None or unset keys keep the defaults."""
        values = {
            name: getattr(retry, key)
            for name, key in (
                ("attempts", "attempts"),
                ("initial_wait", "wait_initial_seconds"),
                ("max_wait", "wait_max_seconds"),
            )
            if getattr(retry, key, None) is not None
        }
        return cls(**values)


class DmlOperation(Protocol):
    """One pass of writes of one request through one API (CumulusCI's DML step).

    ``start`` prepares, ``load_records`` takes the records (it may be called more than once),
    ``end`` sends whatever is still to send and waits for it, ``results`` returns one
    :class:`WriteResult` per loaded record, in load order.
    """

    api: str  # "collections" | "bulk"

    def start(self) -> None: ...

    def load_records(self, records: Sequence[Record]) -> None: ...

    def end(self) -> None: ...

    def results(self) -> tuple[WriteResult, ...]: ...


def parse_error(errors: Any) -> tuple[str | None, str | None]:
    """(code, message) of the first error of a Collections result (``fields`` appended)."""
    if not errors:
        return None, None
    first = errors[0] if isinstance(errors, list) else errors
    if isinstance(first, dict):
        code = first.get("statusCode") or first.get("errorCode")
        message = first.get("message")
        fields = first.get("fields")
        if fields:
            message = f"{message} (fields: {', '.join(fields)})"
        return code, message
    return None, str(first)


def job_failure(sobject: str, key: str, values: dict[str, Any], exc: Exception) -> WriteResult:
    """The result of a record whose request or job failed as a whole."""
    return WriteResult(
        sobject,
        key,
        WriteStatus.JOB_FAILURE,
        error_code=getattr(exc, "error_code", None) or type(exc).__name__,
        message=str(exc)[:500],
        fields=tuple(values),
    )
