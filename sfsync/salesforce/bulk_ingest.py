"""One Bulk API 2.0 ingest job: CSV upload, wait, per-record results.

An empty CSV cell leaves a field untouched on update/upsert; ``#N/A`` writes null
(Salesforce "Valid CSV Record Rows"). Results are matched back to the request by the key
column (Id or the external-ID field).

Deadline: a job still running after ``salesforce.bulk_job_deadline_seconds`` (the client's
``bulk_job_deadline_seconds``) is aborted (``PATCH state: Aborted``); the records Salesforce
reports as done keep their result and every other record is a ``BULK_JOB_ABORTED`` row
failure, kept in the failure ledger so that the next run writes it again. Nothing is lost
and the run does not wait on a stuck job.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from sfsync.errors import ApiLimitError, AuthError, SfsyncError

if TYPE_CHECKING:
    from sfsync.salesforce.writer import WriteRequest

log = structlog.get_logger(__name__)

BULK_NULL = "#N/A"
BULK_DONE_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
DEADLINE_SETTING = "salesforce.bulk_job_deadline_seconds"
ABORTED_CODE = "BULK_JOB_ABORTED"


def _bulk_csv(request: WriteRequest) -> str:
    columns = list(dict.fromkeys(f for _, values in request.records for f in values))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([request.key_field, *columns])
    for key, values in request.records:
        row = [key]
        for name in columns:
            if name not in values:
                row.append("")  # empty: the field is left untouched
            elif values[name] is None:
                row.append(BULK_NULL)
            elif isinstance(values[name], bool):
                row.append("true" if values[name] else "false")
            else:
                row.append(str(values[name]))
        writer.writerow(row)
    return out.getvalue()


def _csv_rows(text: str) -> list[dict[str, str]]:
    if not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text)))


def _wait_for_job(client: Any, job_id: str, *, timeout: float, sleep: Callable[[float], None]):
    """Poll until the job is done; past ``timeout`` seconds abort it and return its info
    with ``timed_out`` set."""
    started = time.monotonic()
    waited, delay = 0.0, 0.5
    while True:
        info = client.request("GET", f"jobs/ingest/{job_id}").json()
        if info.get("state") in BULK_DONE_STATES:
            return info
        # the injected sleep may not pass real time (tests): count both clocks
        if max(waited, time.monotonic() - started) >= timeout:
            return abort_job(client, "ingest", job_id, info, timeout)
        sleep(delay)
        waited += delay
        delay = min(delay * 2, 10.0)


def abort_job(client: Any, kind: str, job_id: str, info: dict, timeout: float) -> dict:
    """Abort a Bulk 2.0 ``kind`` ("ingest" or "query") job that outlived its deadline; returns
    the job's latest info with ``timed_out: True`` (a job that finished meanwhile is returned
    as it is)."""
    log.warning(
        "salesforce_bulk_job_aborted",
        job_id=job_id,
        kind=kind,
        state=info.get("state"),
        deadline_seconds=timeout,
        setting=DEADLINE_SETTING,
    )
    try:
        info = client.request("PATCH", f"jobs/{kind}/{job_id}", json={"state": "Aborted"}).json()
    except (ApiLimitError, AuthError):
        raise
    except SfsyncError as exc:  # it may have finished in between: look again
        log.info("salesforce_bulk_abort_refused", job_id=job_id, error=str(exc)[:300])
        info = client.request("GET", f"jobs/{kind}/{job_id}").json()
        if info.get("state") == "JobComplete":
            return info
    return {**info, "state": "Aborted", "timed_out": True}


def write_bulk_once(
    client: Any, request: WriteRequest, *, timeout: float, sleep: Callable[[float], None]
) -> dict[str, tuple[bool, str | None, bool, str | None, str | None]]:
    """One ingest job; key -> (success, id, created, error code, message)."""
    job: dict[str, Any] = {
        "object": request.sobject,
        "operation": request.operation,
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if request.operation == "upsert":
        job["externalIdFieldName"] = request.key_field
    job_id = client.request("POST", "jobs/ingest", json=job).json()["id"]
    client.request(
        "PUT",
        f"jobs/ingest/{job_id}/batches",
        data=_bulk_csv(request).encode("utf-8"),
        headers={"Content-Type": "text/csv"},
    )
    client.request("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
    timeout = float(getattr(client, "bulk_job_deadline_seconds", None) or timeout)
    info = _wait_for_job(client, job_id, timeout=timeout, sleep=sleep)
    outcome: dict[str, tuple[bool, str | None, bool, str | None, str | None]] = {}
    if info.get("timed_out"):
        _read_results(client, request, job_id, outcome, tolerate_errors=True)
        message = (
            f"not written: Bulk API job {job_id} did not finish within {timeout:g} s "
            f"({DEADLINE_SETTING}) and was aborted; the next run writes this record again"
        )
        for key, _ in request.records:
            outcome.setdefault(key, (False, None, False, ABORTED_CODE, message))
        return outcome
    _read_results(client, request, job_id, outcome)
    if info.get("state") != "JobComplete":
        message = info.get("errorMessage") or f"job {info.get('state')}"
        for key, _ in request.records:
            outcome.setdefault(key, (False, None, False, "BULK_JOB_FAILED", message))
    return outcome


def _read_results(
    client: Any,
    request: WriteRequest,
    job_id: str,
    outcome: dict[str, tuple[bool, str | None, bool, str | None, str | None]],
    *,
    tolerate_errors: bool = False,
) -> None:
    """Fill ``outcome`` from the job's successful and failed results. For an aborted job
    Salesforce may refuse them; with ``tolerate_errors`` that leaves ``outcome`` as it is."""
    try:
        ok = client.request("GET", f"jobs/ingest/{job_id}/successfulResults/").text
        failed = client.request("GET", f"jobs/ingest/{job_id}/failedResults/").text
    except (ApiLimitError, AuthError):
        raise
    except SfsyncError:
        if not tolerate_errors:
            raise
        return
    for row in _csv_rows(ok):
        created = str(row.get("sf__Created", "")).lower() == "true"
        outcome[row.get(request.key_field) or row.get("sf__Id", "")] = (
            True,
            row.get("sf__Id"),
            created,
            None,
            None,
        )
    for row in _csv_rows(failed):
        text = row.get("sf__Error", "") or ""
        code, _, message = text.partition(":")
        outcome[row.get(request.key_field) or row.get("sf__Id", "")] = (
            False,
            row.get("sf__Id") or None,
            False,
            code or None,
            message.strip().removesuffix(":--").strip() or text,
        )
