"""One Bulk API 2.0 job helper, shared by ingest (writes) and query (reads).

A job's life: create → (ingest: upload, close) → poll with backoff until a final state →
results. Ingest results are three CSVs: successful, failed and unprocessed records (the last
read only when the first two do not account for every record sent, so a clean job costs no
extra call). Query results are CSV pages linked by the ``Sforce-Locator`` header.

Deadline: a job still running after ``salesforce.bulk_job_deadline_seconds`` (the client's
``bulk_job_deadline_seconds``) is aborted (``PATCH state: Aborted``) and :func:`wait_for_job`
returns its info with ``timed_out`` set; the caller decides what that means (the writer keeps
the records for the next run, a read fails).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import structlog

from sfsync.errors import ApiLimitError, AuthError, SfsyncError

log = structlog.get_logger(__name__)

DONE_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
DEADLINE_SETTING = "salesforce.bulk_job_deadline_seconds"
DEFAULT_DEADLINE_SECONDS = 1800.0
POLL_INITIAL = 0.5
POLL_MAX = 10.0
#: Requests of one job besides its polls: create, upload, close, successful + failed results
#: (+ unprocessed records when some are missing).
INGEST_JOB_CALLS = 6
#: Status polls of a job that takes a few minutes (the poll interval doubles up to 10 s).
POLLS_PER_JOB = 30


def deadline_seconds(client: Any, default: float = DEFAULT_DEADLINE_SECONDS) -> float:
    """The client's ``bulk_job_deadline_seconds``, else ``default``."""
    return float(getattr(client, "bulk_job_deadline_seconds", None) or default)


# -- ingest -------------------------------------------------------------------------------------


def create_ingest_job(client: Any, sobject: str, operation: str, key_field: str) -> str:
    """Create an ingest job (CSV, LF, comma); returns its Id."""
    job: dict[str, Any] = {
        "object": sobject,
        "operation": operation,
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if operation == "upsert":
        job["externalIdFieldName"] = key_field
    return client.request("POST", "jobs/ingest", json=job).json()["id"]


def upload(client: Any, job_id: str, data: bytes) -> None:
    """Upload the job's CSV (one upload per job)."""
    client.request(
        "PUT", f"jobs/ingest/{job_id}/batches", data=data, headers={"Content-Type": "text/csv"}
    )


def close(client: Any, job_id: str) -> None:
    """Mark the upload complete so that Salesforce starts processing."""
    client.request("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})


@dataclass(frozen=True)
class IngestResults:
    """The rows of an ingest job's result CSVs (each a dict of column → text).

    ``readable`` is False when Salesforce refused the results (possible for an aborted job).
    """

    successful: tuple[dict[str, str], ...] = ()
    failed: tuple[dict[str, str], ...] = ()
    unprocessed: tuple[dict[str, str], ...] = ()
    readable: bool = True


def ingest_results(
    client: Any, job_id: str, *, records: int, tolerate_errors: bool = False
) -> IngestResults:
    """Read the successful and failed results of a job of ``records`` rows, and its
    unprocessed records when those two do not cover every row. With ``tolerate_errors`` a
    refused read returns what was read, ``readable`` False."""
    try:
        ok = csv_rows(_text(client, f"jobs/ingest/{job_id}/successfulResults/"))
        failed = csv_rows(_text(client, f"jobs/ingest/{job_id}/failedResults/"))
        unprocessed: list[dict[str, str]] = []
        if len(ok) + len(failed) < records:
            unprocessed = csv_rows(_text(client, f"jobs/ingest/{job_id}/unprocessedrecords/"))
    except (ApiLimitError, AuthError):
        raise
    except SfsyncError:
        if not tolerate_errors:
            raise
        return IngestResults(readable=False)
    if unprocessed:
        log.info("salesforce_bulk_unprocessed_records", job_id=job_id, records=len(unprocessed))
    return IngestResults(tuple(ok), tuple(failed), tuple(unprocessed))


def _text(client: Any, path: str) -> str:
    response = client.request("GET", path)
    if hasattr(response, "encoding"):
        response.encoding = "utf-8"
    return response.text


def csv_rows(text: str) -> list[dict[str, str]]:
    """The rows of a result CSV as dicts (an empty body has none)."""
    if not text or not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text)))


# -- query --------------------------------------------------------------------------------------


def create_query_job(client: Any, soql: str, *, include_deleted: bool = False) -> str:
    """Create a query job (CSV, comma, LF); returns its Id."""
    job = client.request(
        "POST",
        "jobs/query",
        json={
            "operation": "queryAll" if include_deleted else "query",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        },
    ).json()
    return job["id"]


def query_result_pages(
    client: Any, job_id: str, *, max_records: int | None = None
) -> Iterator[str]:
    """The CSV text of each result page of a finished query job, following ``Sforce-Locator``."""
    locator: str | None = None
    while True:
        params: dict[str, Any] = {}
        if max_records:
            params["maxRecords"] = max_records
        if locator:
            params["locator"] = locator
        response = client.request("GET", f"jobs/query/{job_id}/results", params=params)
        response.encoding = "utf-8"
        yield response.text
        locator = response.headers.get("Sforce-Locator")
        if not locator or locator == "null":
            return


# -- both ---------------------------------------------------------------------------------------


def wait_for_job(
    client: Any,
    kind: str,
    job_id: str,
    *,
    timeout: float,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Poll a ``kind`` ("ingest" or "query") job until it reaches a final state, the interval
    doubling from 0.5 s up to 10 s; past ``timeout`` seconds abort it and return its info with
    ``timed_out`` set (see :func:`abort_job`)."""
    started = time.monotonic()
    waited, delay = 0.0, POLL_INITIAL
    while True:
        info = client.request("GET", f"jobs/{kind}/{job_id}").json()
        if info.get("state") in DONE_STATES:
            return info
        # an injected sleep may not pass real time (tests): count both clocks
        if max(waited, time.monotonic() - started) >= timeout:
            return abort_job(client, kind, job_id, info, timeout)
        sleep(delay)
        waited += delay
        delay = min(delay * 2, POLL_MAX)


def abort_job(client: Any, kind: str, job_id: str, info: dict, timeout: float) -> dict:
    """Abort a ``kind`` ("ingest" or "query") job that outlived its deadline; returns the
    job's latest info with ``timed_out: True`` (a job that finished meanwhile is returned as
    it is)."""
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
