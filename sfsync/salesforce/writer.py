"""Apply a Plan: write exactly its changes to Salesforce, batched, retried, idempotent.

- Account fields: ``update`` keyed by Id (only the changed fields of the changed records).
- Tasks: ``upsert`` keyed by the external ID ``Sync_Key__c`` (create and update alike), so a
  repeated request can never create a second Task.
- Up to ``bulk_threshold`` records (default 2,000): sObject Collections, 200 records per call,
  ``allOrNone=false``. Above: one Bulk API 2.0 ingest job (CSV; an empty cell leaves a field
  untouched, ``#N/A`` writes null).
- Per-record results are frozen :class:`WriteResult` records with a :class:`WriteStatus`.
  Records that failed with ``UNABLE_TO_LOCK_ROW`` are sent again, alone, with exponential
  backoff (tenacity); any other row failure is reported, never raised, and never blocks the
  other records. Request-level problems (5xx, expired session) are retried by the client;
  an exhausted API limit or a failed login propagates and stops the run.
- With a state store, failures go to the failure ledger (:mod:`sfsync.state.failures`) so
  that the next plan retries them; successes resolve earlier entries.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
import tenacity

from sfsync.errors import ApiLimitError, AuthError, SfsyncError
from sfsync.plan import TASK_KEY_FIELD, Plan
from sfsync.salesforce.bulk_ingest import write_bulk_once

log = structlog.get_logger(__name__)

COLLECTION_SIZE = 200
DEFAULT_BULK_THRESHOLD = 2000
LOCK_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})


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


@dataclass(frozen=True)
class ApplyResult:
    """Every record's outcome plus how the writes were made."""

    results: tuple[WriteResult, ...] = ()
    methods: dict[str, str] = field(default_factory=dict)  # sobject -> collections | bulk
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


@dataclass(frozen=True)
class WriteRequest:
    """Records of one object to write one way: ``update`` by Id or ``upsert`` by external ID."""

    sobject: str
    operation: str  # update | upsert
    key_field: str  # Id for update, the external-ID field for upsert
    records: tuple[tuple[str, dict[str, Any]], ...]  # (key, field values without the key)


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


class _StillLocked(Exception):
    pass


def _error(errors: Any) -> tuple[str | None, str | None]:
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


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- sObject Collections ---------------------------------------------------------------------
def _send_collection(
    client: Any, request: WriteRequest, chunk: Sequence[tuple[str, dict[str, Any]]]
) -> list[tuple[str, dict[str, Any]]]:
    """One collections call; returns (key, result dict) per record, in order."""
    records = []
    for key, values in chunk:
        body: dict[str, Any] = {"attributes": {"type": request.sobject}, **values}
        body["id" if request.operation == "update" else request.key_field] = key
        records.append(body)
    path = "composite/sobjects"
    if request.operation == "upsert":
        path = f"composite/sobjects/{request.sobject}/{request.key_field}"
    response = client.request("PATCH", path, json={"allOrNone": False, "records": records})
    payload = response.json()
    if not isinstance(payload, list) or len(payload) != len(chunk):
        raise SfsyncError(
            f"unexpected sObject Collections response for {request.sobject}: "
            f"{len(payload) if isinstance(payload, list) else type(payload).__name__} results "
            f"for {len(chunk)} records"
        )
    return [(key, result) for (key, _), result in zip(chunk, payload, strict=True)]


def _write_collections(
    client: Any, request: WriteRequest, lock_retry: LockRetry
) -> list[WriteResult]:
    pending = dict(request.records)
    attempts: Counter[str] = Counter()
    results: dict[str, WriteResult] = {}
    unavailable: SfsyncError | None = None

    def one_round() -> None:
        nonlocal unavailable
        locked: list[str] = []
        for chunk in _chunks(list(pending.items()), COLLECTION_SIZE):
            if unavailable is not None:
                for key, values in chunk:
                    results[key] = _job_failure(request, key, values, unavailable, attempts[key])
                continue
            for key, _ in chunk:
                attempts[key] += 1
            try:
                outcome = _send_collection(client, request, chunk)
            except (ApiLimitError, AuthError):
                raise
            except SfsyncError as exc:  # retries exhausted, or the request was refused
                unavailable = exc
                for key, values in chunk:
                    results[key] = _job_failure(request, key, values, exc, attempts[key])
                continue
            for key, result in outcome:
                code, message = _error(result.get("errors"))
                if result.get("success"):
                    results[key] = WriteResult(
                        request.sobject,
                        key,
                        WriteStatus.SUCCESS,
                        record_id=result.get("id"),
                        created=bool(result.get("created", False)),
                        attempts=attempts[key],
                        fields=tuple(pending[key]),
                    )
                elif code in LOCK_CODES:
                    locked.append(key)
                    results[key] = WriteResult(
                        request.sobject,
                        key,
                        WriteStatus.ROW_FAILURE,
                        error_code=code,
                        message=message,
                        attempts=attempts[key],
                        fields=tuple(pending[key]),
                    )
                else:
                    results[key] = WriteResult(
                        request.sobject,
                        key,
                        WriteStatus.ROW_FAILURE,
                        record_id=result.get("id"),
                        error_code=code,
                        message=message,
                        attempts=attempts[key],
                        fields=tuple(pending[key]),
                    )
        for key in list(pending):
            if key not in locked:
                del pending[key]
        if locked:
            log.info("locked_records_retrying", sobject=request.sobject, records=len(locked))
            raise _StillLocked()

    _retry_locked(one_round, lock_retry)
    return [results[key] for key, _ in request.records]


def _retry_locked(one_round: Callable[[], None], lock_retry: LockRetry) -> None:
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(lock_retry.attempts),
        wait=tenacity.wait_exponential_jitter(
            multiplier=lock_retry.initial_wait, max=lock_retry.max_wait
        ),
        retry=tenacity.retry_if_exception_type(_StillLocked),
        sleep=lock_retry.sleep,
        reraise=True,
    )
    # Records still locked after the last attempt keep their UNABLE_TO_LOCK_ROW row failure.
    with contextlib.suppress(_StillLocked):
        retrying(one_round)


def _job_failure(
    request: WriteRequest, key: str, values: dict[str, Any], exc: Exception, attempts: int
) -> WriteResult:
    return WriteResult(
        request.sobject,
        key,
        WriteStatus.JOB_FAILURE,
        error_code=getattr(exc, "error_code", None) or type(exc).__name__,
        message=str(exc)[:500],
        attempts=max(attempts, 1),
        fields=tuple(values),
    )


# -- Bulk API 2.0 ----------------------------------------------------------------------------
def _write_bulk(
    client: Any,
    request: WriteRequest,
    lock_retry: LockRetry,
    *,
    timeout: float,
    bulk_threshold: int,
    rounds_left: int,
) -> list[WriteResult]:
    values_by_key = dict(request.records)
    attempts: Counter[str] = Counter(dict.fromkeys(values_by_key, 1))
    try:
        outcome = write_bulk_once(client, request, timeout=timeout, sleep=lock_retry.sleep)
    except (ApiLimitError, AuthError):
        raise
    except SfsyncError as exc:
        return [_job_failure(request, k, v, exc, 1) for k, v in request.records]
    results: dict[str, WriteResult] = {}
    locked: list[tuple[str, dict[str, Any]]] = []
    for key, values in request.records:
        success, record_id, created, code, message = outcome.get(
            key, (False, None, False, "NOT_PROCESSED", "Salesforce returned no result")
        )
        if success:
            results[key] = WriteResult(
                request.sobject,
                key,
                WriteStatus.SUCCESS,
                record_id,
                created,
                fields=tuple(values),
            )
        elif code in LOCK_CODES:
            locked.append((key, values))
        else:
            results[key] = WriteResult(
                request.sobject,
                key,
                WriteStatus.ROW_FAILURE,
                record_id,
                False,
                code,
                message,
                fields=tuple(values),
            )
    if locked and rounds_left <= 1:
        for key, values in locked:
            results[key] = WriteResult(
                request.sobject,
                key,
                WriteStatus.ROW_FAILURE,
                None,
                False,
                "UNABLE_TO_LOCK_ROW",
                "record still locked after retries",
                fields=tuple(values),
            )
    elif locked:
        # Only the locked records go again, through collections when they are few enough.
        log.info("locked_records_retrying", sobject=request.sobject, records=len(locked))
        again = WriteRequest(request.sobject, request.operation, request.key_field, tuple(locked))
        lock_retry.sleep(lock_retry.initial_wait)
        if len(locked) > bulk_threshold:
            retried = _write_bulk(
                client,
                again,
                lock_retry,
                timeout=timeout,
                bulk_threshold=bulk_threshold,
                rounds_left=rounds_left - 1,
            )
        else:
            retried = _write_collections(client, again, lock_retry)
        for result in retried:
            results[result.key] = WriteResult(
                result.sobject,
                result.key,
                result.status,
                result.record_id,
                result.created,
                result.error_code,
                result.message,
                result.attempts + attempts[result.key],
                result.fields,
            )
    return [results[key] for key, _ in request.records]


def write(
    client: Any,
    request: WriteRequest,
    *,
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
    lock_retry: LockRetry | None = None,
    bulk_timeout: float = 600.0,
) -> list[WriteResult]:
    """Write one request: collections up to ``bulk_threshold`` records, Bulk API 2.0 above."""
    lock_retry = lock_retry or LockRetry()
    if not request.records:
        return []
    if len(request.records) > bulk_threshold:
        return _write_bulk(
            client,
            request,
            lock_retry,
            timeout=bulk_timeout,
            bulk_threshold=bulk_threshold,
            rounds_left=lock_retry.attempts,
        )
    return _write_collections(client, request, lock_retry)


def plan_requests(plan: Plan) -> list[WriteRequest]:
    """The writes a plan stands for: record updates by match field, Task upserts by key."""
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
    bulk_timeout: float = 600.0,
) -> ApplyResult:
    """Execute exactly ``plan``; collect per-record outcomes; update the failure ledger.

    ``lock_retry`` defaults to the client's ``salesforce.retry`` settings."""
    lock_retry = lock_retry or LockRetry.from_settings(getattr(client, "retry_settings", None))
    threshold = bulk_threshold
    if threshold is None:
        threshold = getattr(client, "bulk_threshold", None) or DEFAULT_BULK_THRESHOLD
    calls_before = getattr(client, "api_calls", 0)
    results: list[WriteResult] = []
    methods: dict[str, str] = {}
    for request in plan_requests(plan):
        methods[request.sobject] = "bulk" if len(request.records) > threshold else "collections"
        outcome = write(
            client,
            request,
            bulk_threshold=threshold,
            lock_retry=lock_retry,
            bulk_timeout=bulk_timeout,
        )
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
        api_calls=getattr(client, "api_calls", 0) - calls_before,
    )


def _update_ledger(store: Any, run_id: int | None, plan: Plan, results: list[WriteResult]):
    from sfsync.state.failures import FailedWrite, record_failures, resolve_failures

    failed = [
        FailedWrite(r.sobject, r.key, r.fields, r.error_code, r.message)
        for r in results
        if r.status is not WriteStatus.SUCCESS
    ]
    record_failures(store, run_id, failed)
    done = [(r.sobject, r.key) for r in results if r.status is WriteStatus.SUCCESS]
    done += [(p.sobject, p.key) for p in plan.resolved]
    resolve_failures(store, run_id, done)
