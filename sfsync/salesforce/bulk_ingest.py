"""The Bulk API 2.0 implementation of the writer's :class:`~sfsync.salesforce.dml.DmlOperation`.

The loaded records are ordered by parent and split into uploads under the job data limits
(:mod:`sfsync.salesforce.bulk_upload`); each upload is one ingest job run to its end through
the shared job helper (:mod:`sfsync.salesforce.bulk2`), one job after another, and results are
matched back to the records by the key column (Id or the external-ID field).

- A job that Salesforce finishes as ``Failed`` leaves its records without a result as
  ``BULK_JOB_FAILED`` row failures (its unprocessed records are read and logged).
- Deadline: a job still running after ``salesforce.bulk_job_deadline_seconds`` is aborted;
  the records Salesforce reports as done keep their result and every other record is a
  ``BULK_JOB_ABORTED`` row failure, kept in the failure ledger so that the next run writes it
  again. Nothing is lost and the run does not wait on a stuck job.
- A request that fails as a whole (retries exhausted, refused) makes the records of that job,
  and of the jobs not yet started, job failures; an exhausted API limit or a failed login
  propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog

from sfsync.errors import ApiLimitError, AuthError, SfsyncError
from sfsync.salesforce import bulk2
from sfsync.salesforce.bulk2 import DEADLINE_SETTING, abort_job
from sfsync.salesforce.bulk_upload import BULK_NULL, Upload, UploadLimits, split_uploads
from sfsync.salesforce.dml import Record, WriteRequest, WriteResult, WriteStatus, job_failure

__all__ = [
    "ABORTED_CODE",
    "BULK_NULL",
    "DEADLINE_SETTING",
    "FAILED_CODE",
    "BulkIngestOperation",
    "abort_job",
]

log = structlog.get_logger(__name__)

ABORTED_CODE = "BULK_JOB_ABORTED"
FAILED_CODE = "BULK_JOB_FAILED"
NO_RESULT_CODE = "NOT_PROCESSED"


class BulkIngestOperation:
    """Write one request's records with Bulk API 2.0 ingest jobs (see the module doc)."""

    api = "bulk"

    def __init__(
        self,
        client: Any,
        request: WriteRequest,
        *,
        timeout: float,
        sleep: Callable[[float], None],
        limits: UploadLimits | None = None,
    ) -> None:
        self.client = client
        self.request = request
        self.timeout = bulk2.deadline_seconds(client, timeout)
        self.sleep = sleep
        self.limits = limits or UploadLimits()
        self.jobs: list[str] = []
        self._records: list[Record] = []
        self._results: dict[str, WriteResult] = {}

    def start(self) -> None:
        """Nothing to prepare: each upload gets its own job when :meth:`end` sends it."""
        self._records, self._results, self.jobs = [], {}, []

    def load_records(self, records: Sequence[Record]) -> None:
        """Take records to write (sent by :meth:`end`)."""
        self._records.extend(records)

    def end(self) -> None:
        """Order, split and send the loaded records, one ingest job per upload."""
        if not self._records:
            return
        request = WriteRequest(
            self.request.sobject,
            self.request.operation,
            self.request.key_field,
            tuple(self._records),
            self.request.parents,
        )
        values = dict(self._records)
        unavailable: SfsyncError | None = None
        uploads = split_uploads(request, self.limits)
        for number, part in enumerate(uploads, start=1):
            if number == 2:
                log.info("salesforce_bulk_upload_split", sobject=request.sobject)
            if unavailable is not None:
                for key in part.keys:
                    self._results[key] = job_failure(request.sobject, key, values[key], unavailable)
                continue
            try:
                self._run_job(part, values)
            except (ApiLimitError, AuthError):
                raise
            except SfsyncError as exc:  # retries exhausted, or the request was refused
                unavailable = exc
                for key in part.keys:
                    self._results[key] = job_failure(request.sobject, key, values[key], exc)

    def results(self) -> tuple[WriteResult, ...]:
        """One result per loaded record, in load order."""
        return tuple(self._results[key] for key, _ in self._records)

    # -- one job --------------------------------------------------------------------------------
    def _run_job(self, part: Upload, values: dict[str, dict[str, Any]]) -> None:
        request, client = self.request, self.client
        job_id = bulk2.create_ingest_job(
            client, request.sobject, request.operation, request.key_field
        )
        self.jobs.append(job_id)
        bulk2.upload(client, job_id, part.data)
        bulk2.close(client, job_id)
        info = bulk2.wait_for_job(client, "ingest", job_id, timeout=self.timeout, sleep=self.sleep)
        timed_out = bool(info.get("timed_out"))
        found = bulk2.ingest_results(
            client, job_id, records=len(part.keys), tolerate_errors=timed_out
        )
        outcome = self._match(found, values)
        if timed_out:
            code, message = (
                ABORTED_CODE,
                (
                    f"not written: Bulk API job {job_id} did not finish within {self.timeout:g} s "
                    f"({DEADLINE_SETTING}) and was aborted; the next run writes this record again"
                ),
            )
        elif info.get("state") != "JobComplete":
            code, message = FAILED_CODE, info.get("errorMessage") or f"job {info.get('state')}"
        else:
            code, message = NO_RESULT_CODE, "Salesforce returned no result"
        for key in part.keys:
            self._results[key] = outcome.get(key) or WriteResult(
                request.sobject,
                key,
                WriteStatus.ROW_FAILURE,
                error_code=code,
                message=message,
                fields=tuple(values[key]),
            )
        log.info(
            "salesforce_bulk_job_done",
            job_id=job_id,
            sobject=request.sobject,
            state=info.get("state"),
            records=len(part.keys),
            bytes=part.size,
        )

    def _match(
        self, found: bulk2.IngestResults, values: dict[str, dict[str, Any]]
    ) -> dict[str, WriteResult]:
        """Results by record key, from the successful and failed result rows."""
        sobject, key_field = self.request.sobject, self.request.key_field
        out: dict[str, WriteResult] = {}
        for row in found.successful:
            key = row.get(key_field) or row.get("sf__Id", "")
            out[key] = WriteResult(
                sobject,
                key,
                WriteStatus.SUCCESS,
                row.get("sf__Id"),
                str(row.get("sf__Created", "")).lower() == "true",
                fields=tuple(values.get(key, ())),
            )
        for row in found.failed:
            key = row.get(key_field) or row.get("sf__Id", "")
            text = row.get("sf__Error", "") or ""
            code, _, message = text.partition(":")
            out[key] = WriteResult(
                sobject,
                key,
                WriteStatus.ROW_FAILURE,
                row.get("sf__Id") or None,
                False,
                code or None,
                message.strip().removesuffix(":--").strip() or text,
                fields=tuple(values.get(key, ())),
            )
        return out
