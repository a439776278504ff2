"""One Bulk API 2.0 ingest job: CSV upload, wait, per-record results.

An empty CSV cell leaves a field untouched on update/upsert; ``#N/A`` writes null
(Salesforce "Valid CSV Record Rows"). Results are matched back to the request by the key
column (Id or the external-ID field).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sfsync.errors import SfsyncError

if TYPE_CHECKING:
    from sfsync.salesforce.writer import WriteRequest

BULK_NULL = "#N/A"
BULK_DONE_STATES = frozenset({"JobComplete", "Failed", "Aborted"})


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
    waited, delay = 0.0, 0.5
    while True:
        info = client.request("GET", f"jobs/ingest/{job_id}").json()
        if info.get("state") in BULK_DONE_STATES:
            return info
        if waited >= timeout:
            raise SfsyncError(
                f"Bulk API job {job_id} did not finish within {timeout:.0f} s "
                f"(state {info.get('state')})",
                hint="the job continues in Salesforce; the next run re-plans from the org",
            )
        sleep(delay)
        waited += delay
        delay = min(delay * 2, 10.0)


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
    info = _wait_for_job(client, job_id, timeout=timeout, sleep=sleep)
    outcome: dict[str, tuple[bool, str | None, bool, str | None, str | None]] = {}
    ok = client.request("GET", f"jobs/ingest/{job_id}/successfulResults/").text
    for row in _csv_rows(ok):
        created = str(row.get("sf__Created", "")).lower() == "true"
        outcome[row.get(request.key_field) or row.get("sf__Id", "")] = (
            True,
            row.get("sf__Id"),
            created,
            None,
            None,
        )
    failed = client.request("GET", f"jobs/ingest/{job_id}/failedResults/").text
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
    if info.get("state") != "JobComplete":
        message = info.get("errorMessage") or f"job {info.get('state')}"
        for key, _ in request.records:
            outcome.setdefault(key, (False, None, False, "BULK_JOB_FAILED", message))
    return outcome
