"""Apply a Plan: write exactly its changes to Salesforce, batched, retried, idempotent.

- Account fields: ``update`` keyed by Id (only the changed fields of the changed records).
- Tasks: ``upsert`` keyed by the external ID ``Sync_Key__c`` (create and update alike), so a
  repeated request can never create a second Task.
- Campaign members: ``insert`` (CampaignMember has no external ID); the platform allows one
  membership per Campaign and Contact, so a repeated insert fails with ``DUPLICATE_VALUE``,
  which the writer counts as "already a member" (written, not created), never as a failure.
  Inserts always go through sObject Collections: an insert has no key to match Bulk results by.
- Every write goes through one interface, :class:`~sfsync.salesforce.dml.DmlOperation`
  (start / load records / end / results), chosen by volume: up to ``bulk_threshold`` records
  (default 2,000) sObject Collections, 200 records per call, ``allOrNone=false``
  (:mod:`~sfsync.salesforce.collections_dml`); above, Bulk API 2.0 ingest jobs, rows ordered
  by parent and split under the upload limits (:mod:`~sfsync.salesforce.bulk_ingest`).
- Per-record results are frozen :class:`WriteResult` records with a :class:`WriteStatus`.
  Records that failed with ``UNABLE_TO_LOCK_ROW`` are sent again, alone (through the API their
  number calls for), with exponential backoff; any other row failure is reported, never
  raised, and never blocks the other records. Request-level problems (5xx, expired session)
  are retried by the client; an exhausted API limit or a failed login propagates and stops
  the run.
- With a state store, failures go to the failure ledger (:mod:`sfsync.state.failures`) so
  that the next plan retries them; successes resolve earlier entries.

:class:`SalesforceWriter` holds the choices (threshold, lock retry, deadline, upload limits)
and writes requests or whole plans; :func:`write` and :func:`apply_plan` are the same as
functions.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from typing import Any

import structlog

from sfsync.plan import TASK_KEY_FIELD, Plan
from sfsync.salesforce.bulk_ingest import BulkIngestOperation
from sfsync.salesforce.bulk_upload import UploadLimits
from sfsync.salesforce.collections_dml import COLLECTION_SIZE, CollectionsOperation
from sfsync.salesforce.dml import (
    DUPLICATE_CODE,
    LOCK_CODES,
    DmlOperation,
    LockRetry,
    WriteRequest,
    WriteResult,
    WriteStatus,
)
from sfsync.state.failures import FailedWrite, record_failures, resolve_failures

__all__ = [
    "COLLECTION_SIZE",
    "DEFAULT_BULK_THRESHOLD",
    "LOCK_CODES",
    "ApplyResult",
    "LockRetry",
    "SalesforceWriter",
    "WriteRequest",
    "WriteResult",
    "WriteStatus",
    "apply_plan",
    "choose_api",
    "plan_requests",
    "write",
]

log = structlog.get_logger(__name__)

DEFAULT_BULK_THRESHOLD = 2000
DEFAULT_BULK_TIMEOUT = 600.0


@dataclasses.dataclass(frozen=True)
class ApplyResult:
    """Every record's outcome plus how the writes were made."""

    results: tuple[WriteResult, ...] = ()
    methods: dict[str, str] = dataclasses.field(default_factory=dict)  # sobject -> api
    api_calls: int = 0

    @property
    def failed(self) -> tuple[WriteResult, ...]:
        return tuple(r for r in self.results if r.status is not WriteStatus.SUCCESS)

    @property
    def succeeded(self) -> tuple[WriteResult, ...]:
        return tuple(r for r in self.results if r.status is WriteStatus.SUCCESS)

    def counts(self) -> dict[str, int]:
        """Counts for the run summary: written, created, failed, retried."""
        return {
            "written": len(self.succeeded),
            "created": sum(1 for r in self.succeeded if r.created),
            "failed": len(self.failed),
            "retried": sum(1 for r in self.results if r.attempts > 1),
            "api_calls": self.api_calls,
        }


def choose_api(records: int, bulk_threshold: int, operation: str = "update") -> str:
    """``collections`` up to ``bulk_threshold`` records, ``bulk`` above; ``collections`` for
    every insert (its results are matched by position, not by a key column)."""
    if operation == "insert":
        return "collections"
    return "bulk" if records > bulk_threshold else "collections"


def _lock_wait(lock_retry: LockRetry, round_number: int) -> float:
    """Exponential backoff with jitter before lock-retry round ``round_number`` (2, 3, …)."""
    wait = lock_retry.initial_wait * 2 ** (round_number - 2)
    return min(wait + random.uniform(0, lock_retry.initial_wait), lock_retry.max_wait)


class SalesforceWriter:
    """Writes requests and plans to one org through the DML operations (see the module doc)."""

    def __init__(
        self,
        client: Any,
        *,
        bulk_threshold: int | None = None,
        lock_retry: LockRetry | None = None,
        bulk_timeout: float = DEFAULT_BULK_TIMEOUT,
        upload_limits: UploadLimits | None = None,
    ) -> None:
        if bulk_threshold is None:
            bulk_threshold = getattr(client, "bulk_threshold", None) or DEFAULT_BULK_THRESHOLD
        self.client = client
        self.bulk_threshold = int(bulk_threshold)
        # default: the client's salesforce.retry settings (tests set tiny waits there)
        self.lock_retry = lock_retry or LockRetry.from_settings(
            getattr(client, "retry_settings", None)
        )
        self.bulk_timeout = bulk_timeout
        self.upload_limits = upload_limits or UploadLimits()

    def operation(self, request: WriteRequest) -> DmlOperation:
        """The DML operation for ``request``, chosen by its number of records."""
        if choose_api(len(request.records), self.bulk_threshold, request.operation) == "bulk":
            return BulkIngestOperation(
                self.client,
                request,
                timeout=self.bulk_timeout,
                sleep=self.lock_retry.sleep,
                limits=self.upload_limits,
            )
        return CollectionsOperation(self.client, request)

    def _run(self, request: WriteRequest) -> tuple[WriteResult, ...]:
        operation = self.operation(request)
        operation.start()
        operation.load_records(request.records)
        operation.end()
        return operation.results()

    def write(self, request: WriteRequest) -> list[WriteResult]:
        """Write one request; locked records go again (alone) up to ``lock_retry.attempts``
        rounds. Returns one result per record, in request order."""
        if not request.records:
            return []
        final: dict[str, WriteResult] = {}
        attempts: Counter[str] = Counter()
        pending = request
        for round_number in range(1, max(self.lock_retry.attempts, 1) + 1):
            if round_number > 1:
                self.lock_retry.sleep(_lock_wait(self.lock_retry, round_number))
            locked: list[str] = []
            for result in self._run(pending):
                attempts[result.key] += 1
                final[result.key] = dataclasses.replace(result, attempts=attempts[result.key])
                if result.locked:
                    locked.append(result.key)
            if not locked:
                break
            if round_number < self.lock_retry.attempts:
                log.info("locked_records_retrying", sobject=request.sobject, records=len(locked))
            pending = request.subset(locked)
        results = [final[key] for key, _ in request.records]
        if request.duplicate_is_done:
            results = [_already_there(r) for r in results]
        return results

    def apply(self, plan: Plan, store: Any = None, run_id: int | None = None) -> ApplyResult:
        """Execute exactly ``plan``; collect per-record outcomes; update the failure ledger."""
        calls_before = getattr(self.client, "api_calls", 0)
        results: list[WriteResult] = []
        methods: dict[str, str] = {}
        for request in plan_requests(plan):
            methods[request.sobject] = choose_api(
                len(request.records), self.bulk_threshold, request.operation
            )
            outcome = self.write(request)
            results.extend(outcome)
            failed = [r for r in outcome if r.status is not WriteStatus.SUCCESS]
            log.info(
                "records_written",
                sobject=request.sobject,
                method=methods[request.sobject],
                records=len(outcome) - len(failed),
                failed=len(failed),
            )
            for r in failed[:20]:
                log.warning(
                    "record_write_failed",
                    sobject=r.sobject,
                    key=r.key,
                    error_code=r.error_code,
                    message=r.message,
                )
        if store is not None:
            _update_ledger(store, run_id, plan, results)
        return ApplyResult(
            results=tuple(results),
            methods=methods,
            api_calls=getattr(self.client, "api_calls", 0) - calls_before,
        )


def _already_there(result: WriteResult) -> WriteResult:
    """A ``DUPLICATE_VALUE`` row failure of an insert as what it means: the record exists."""
    if result.status is not WriteStatus.ROW_FAILURE or result.error_code != DUPLICATE_CODE:
        return result
    return dataclasses.replace(
        result,
        status=WriteStatus.SUCCESS,
        created=False,
        error_code=None,
        message=f"already there ({DUPLICATE_CODE}: {result.message})",
    )


def write(
    client: Any,
    request: WriteRequest,
    *,
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
    lock_retry: LockRetry | None = None,
    bulk_timeout: float = DEFAULT_BULK_TIMEOUT,
    upload_limits: UploadLimits | None = None,
) -> list[WriteResult]:
    """Write one request: collections up to ``bulk_threshold`` records, Bulk API 2.0 above."""
    writer = SalesforceWriter(
        client,
        bulk_threshold=bulk_threshold,
        lock_retry=lock_retry,
        bulk_timeout=bulk_timeout,
        upload_limits=upload_limits,
    )
    return writer.write(request)


def plan_requests(plan: Plan) -> list[WriteRequest]:
    """The writes a plan stands for: record updates by match field, Task upserts by key
    (each Task's parent Account known, for Bulk ordering), other objects' upserts, inserts."""
    requests: list[WriteRequest] = []
    if plan.records:
        operation = "update" if plan.match_field.lower() == "id" else "upsert"
        requests.append(
            WriteRequest(
                plan.sobject,
                operation,
                plan.match_field,
                tuple((r.key, r.values()) for r in plan.records),
            )
        )
    tasks = plan.task_writes
    if tasks:
        requests.append(
            WriteRequest(
                "Task",
                "upsert",
                TASK_KEY_FIELD,
                tuple(
                    (t.sync_key, {k: v for k, v in t.fields.items() if k != TASK_KEY_FIELD})
                    for t in tasks
                ),
                {
                    t.sync_key: str(t.fields.get("WhatId") or t.account_id)
                    for t in tasks
                    if t.fields.get("WhatId") or t.account_id
                },
            )
        )
    for upsert in plan.upserts:
        if upsert.records:
            requests.append(
                WriteRequest(
                    upsert.sobject,
                    "upsert",
                    upsert.match_field,
                    tuple((r.key, r.values()) for r in upsert.records),
                    upsert.parents(),
                )
            )
    for insert in plan.inserts:
        if insert.records:
            requests.append(
                WriteRequest(
                    insert.sobject,
                    "insert",
                    "",
                    tuple((r.key, r.values()) for r in insert.records),
                    duplicate_is_done=insert.duplicate_is_done,
                )
            )
    return requests


def apply_plan(
    client: Any,
    plan: Plan,
    store: Any = None,
    run_id: int | None = None,
    *,
    bulk_threshold: int | None = None,
    lock_retry: LockRetry | None = None,
    bulk_timeout: float = DEFAULT_BULK_TIMEOUT,
    upload_limits: UploadLimits | None = None,
) -> ApplyResult:
    """Execute exactly ``plan``; collect per-record outcomes; update the failure ledger."""
    writer = SalesforceWriter(
        client,
        bulk_threshold=bulk_threshold,
        lock_retry=lock_retry,
        bulk_timeout=bulk_timeout,
        upload_limits=upload_limits,
    )
    return writer.apply(plan, store, run_id)


def _update_ledger(store: Any, run_id: int | None, plan: Plan, results: list[WriteResult]):
    failed = [
        FailedWrite(r.sobject, r.key, r.fields, r.error_code, r.message)
        for r in results
        if r.status is not WriteStatus.SUCCESS
    ]
    record_failures(store, run_id, failed)
    done = [(r.sobject, r.key) for r in results if r.status is WriteStatus.SUCCESS]
    done += [(p.sobject, p.key) for p in plan.resolved]
    resolve_failures(store, run_id, done)
