"""Bulk API 2.0: ingest jobs (CSV upload, UploadComplete, results CSVs) and query jobs.

Ingest jobs are processed on a background thread after UploadComplete, so clients see the
real state sequence Open → UploadComplete → InProgress → JobComplete (or Failed/Aborted).
Every job then stays ``InProgress`` for ``behaviour.bulk_in_progress_polls`` status requests
(and ``behaviour.bulk_min_seconds``) before it reports its final state, as a real job takes a
while (see :mod:`sfsync_sandbox.salesforce.behaviour`); query results are refused until then.

Query jobs refuse what the Bulk API 2.0 Developer Guide ("Understanding Bulk API 2.0 Query",
"SOQL Considerations") lists as unsupported: "GROUP BY, OFFSET, or TYPEOF clauses" and
"Aggregate Functions such as COUNT()". The guide does not give the error's wording; the job is
refused when it is created, 400 ``API_ERROR`` naming the clause, so a client sees the problem
before any polling.
"""

from __future__ import annotations

import base64
import csv
import io
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from sfsync_sandbox.salesforce.http import ApiError, Ctx, empty_response, json_response
from sfsync_sandbox.salesforce.soql import Query, SoqlError, parse_soql
from sfsync_sandbox.salesforce.values import RecordError, now_iso

if TYPE_CHECKING:
    from sfsync_sandbox.salesforce.app import SalesforceApp

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
CSV_TYPE = "text/csv"


@dataclass
class Job:
    id: str
    kind: str  # ingest | query
    operation: str
    object: str
    user_id: str
    version: str
    external_id_field: str | None = None
    delimiter: str = "COMMA"
    line_ending: str = "LF"
    query: str | None = None
    state: str = "Open"
    created: str = field(default_factory=now_iso)
    modstamp: str = field(default_factory=now_iso)
    data: str | None = None
    processed: int = 0
    failed: int = 0
    error_message: str | None = None
    header: list[str] = field(default_factory=list)
    successes: list[tuple[str, bool, list[str]]] = field(default_factory=list)
    failures: list[tuple[str, str, list[str]]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)  # query results
    columns: list[str] = field(default_factory=list)
    started: float = 0.0
    hold_polls: int = 0  # status requests still answered InProgress once the work is done
    ready_at: float = 0.0  # monotonic time before which the job is still InProgress

    def info(self) -> dict[str, Any]:
        base = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.user_id,
            "createdDate": self.created,
            "systemModstamp": self.modstamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
            "numberRecordsProcessed": self.processed,
            "retries": 0,
            "totalProcessingTime": 0,
        }
        if self.kind == "ingest":
            base.update(
                externalIdFieldName=self.external_id_field,
                contentUrl=f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
                jobType="V2Ingest",
                numberRecordsFailed=self.failed,
                apiActiveProcessingTime=0,
                apexProcessingTime=0,
            )
        else:
            base.update(jobType="V2Query")
        if self.error_message:
            base["errorMessage"] = self.error_message
        return base


class Bulk2:
    """Handlers for ``/jobs/ingest`` and ``/jobs/query``."""

    def __init__(self, app: SalesforceApp) -> None:
        self.app = app
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def _hold(self, job: Job) -> None:
        """Keep ``job`` InProgress for a while once its work is done (see the module doc)."""
        behaviour = self.app.behaviour
        job.hold_polls = int(behaviour.bulk_in_progress_polls)
        job.ready_at = time.monotonic() + float(behaviour.bulk_min_seconds)

    @staticmethod
    def _held(job: Job) -> bool:
        return job.state in ("JobComplete", "Failed") and (
            job.hold_polls > 0 or time.monotonic() < job.ready_at
        )

    def _status(self, job: Job) -> dict[str, Any]:
        """The job's info as a status request sees it (one poll of the hold is used up)."""
        info = job.info()
        if self._held(job):
            job.hold_polls = max(0, job.hold_polls - 1)
            info["state"] = "InProgress"
            info.pop("errorMessage", None)
        return info

    def _job(self, job_id: str, kind: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _new_id(self, prefix: str) -> str:
        return prefix + secrets.token_hex(8)[:15].upper()

    # -- ingest ---------------------------------------------------------------------
    def ingest_jobs(self, ctx: Ctx) -> Response:
        if ctx.request.method == "GET":
            jobs = [j.info() for j in self.jobs.values() if j.kind == "ingest"]
            return json_response({"done": True, "records": jobs, "nextRecordsUrl": None})
        body = ctx.json()
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        obj = self.app.schema.get(str(body.get("object", "")))
        if obj is None:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            fdef = obj.field(ext or "")
            if fdef is None or not (fdef.external_id or fdef.unique or fdef.name == "Id"):
                raise ApiError(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {ext} is not an External ID or indexed field for {obj.name}",
                )
            ext = fdef.name
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise ApiError(400, "INVALIDJOB", "InvalidJob : Invalid columnDelimiter or lineEnding")
        job = Job(self._new_id("750"), "ingest", operation, obj.name, ctx.user_id, ctx.version,
                  external_id_field=ext, delimiter=delimiter, line_ending=line_ending)  # fmt: skip
        self.jobs[job.id] = job
        return json_response(job.info())

    def upload(self, ctx: Ctx, job_id: str) -> Response:
        job = self._job(job_id, "ingest")
        if job.state != "Open" or job.data is not None:
            raise ApiError(
                409,
                "INVALIDJOBSTATE",
                "Job's state does not allow uploads: only one upload per job, while Open",
            )
        job.data = ctx.request.get_data(as_text=True)
        return empty_response(201)

    def ingest_job(self, ctx: Ctx, job_id: str) -> Response:
        job = self._job(job_id, "ingest")
        method = ctx.request.method
        if method == "GET":
            return json_response(self._status(job))
        if method == "DELETE":
            if job.state in ("Open", "UploadComplete", "InProgress") or self._held(job):
                raise ApiError(
                    400, "INVALIDJOBSTATE", "Cannot delete a job that is still being processed"
                )
            del self.jobs[job_id]
            return empty_response(204)
        state = ctx.json().get("state")
        if state == "UploadComplete":
            if job.state != "Open":
                raise ApiError(409, "INVALIDJOBSTATE", f"Job is {job.state}, cannot close")
            job.state = "UploadComplete"
            job.modstamp = now_iso()
            self._hold(job)
            info = job.info()
            threading.Thread(target=self._process, args=(job,), daemon=True).start()
            return json_response(info)
        if state == "Aborted":
            if job.state in ("JobComplete", "Failed", "Aborted"):
                raise ApiError(409, "INVALIDJOBSTATE", f"Job is {job.state}, cannot abort")
            was_open = job.state == "Open"
            job.state = "Aborted"
            job.modstamp = now_iso()
            if was_open:
                self._mark_unprocessed(job)
            return json_response(job.info())
        raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state: {state}")

    def _process(self, job: Job) -> None:
        time.sleep(0.05)
        if job.state == "Aborted":
            self._mark_unprocessed(job)
            return
        job.state = "InProgress"
        try:
            reader = csv.reader(
                io.StringIO(job.data or "", newline=""), delimiter=DELIMITERS[job.delimiter]
            )
            rows = list(reader)
        except csv.Error as exc:
            job.state, job.error_message = "Failed", f"InvalidBatch : {exc}"
            return
        if not rows or not rows[0]:
            job.state, job.error_message = "Failed", "InvalidBatch : No data provided"
            return
        header, data = rows[0], [r for r in rows[1:] if r]
        obj = self.app.schema.objects[job.object]
        unknown = [h for h in header if obj.field(h) is None]
        if unknown:
            job.state, job.error_message = (
                "Failed",
                f"InvalidBatch : Field name not found : {unknown[0]}",
            )
            job.header = header
            job.unprocessed = data
            return
        job.header = header
        org = self.app.org
        with org.transaction(job.user_id) as tx:
            for row in data:
                if job.state == "Aborted":
                    job.unprocessed.append(row)
                    continue
                values = dict(zip(header, row, strict=False))
                try:
                    record_id, created = self._apply(tx, job, values)
                    job.successes.append((record_id, created, row))
                except RecordError as exc:
                    job.failures.append((values.get("Id", "") or "", exc.as_bulk(), row))
                job.processed += 1
        job.failed = len(job.failures)
        if job.state != "Aborted":
            job.state = "JobComplete"
        job.modstamp = now_iso()

    def _apply(self, tx: Any, job: Job, values: dict[str, str]) -> tuple[str, bool]:
        record_id = next((v for k, v in values.items() if k.lower() == "id"), "")
        if job.operation == "insert":
            return tx.create(job.object, values, from_csv=True), True
        if job.operation in ("delete", "hardDelete"):
            return tx.delete(job.object, record_id), False
        if job.operation == "update":
            body = {k: v for k, v in values.items() if k.lower() != "id"}
            if not record_id:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            return tx.update(job.object, record_id, body, from_csv=True), False
        ext = job.external_id_field or "Id"
        ext_value = next((v for k, v in values.items() if k.lower() == ext.lower()), "")
        return tx.upsert(job.object, ext, ext_value, values, from_csv=True)

    def _mark_unprocessed(self, job: Job) -> None:
        rows = list(csv.reader(io.StringIO(job.data or ""), delimiter=DELIMITERS[job.delimiter]))
        if rows:
            job.header, job.unprocessed = rows[0], [r for r in rows[1:] if r]

    def ingest_results(self, ctx: Ctx, job_id: str, kind: str) -> Response:
        job = self._job(job_id, "ingest")
        delimiter = DELIMITERS[job.delimiter]
        out = io.StringIO()
        writer = csv.writer(
            out,
            delimiter=delimiter,
            lineterminator=LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        if kind == "successfulResults":
            writer.writerow(["sf__Id", "sf__Created", *job.header])
            for record_id, created, row in job.successes:
                writer.writerow([record_id, "true" if created else "false", *row])
        elif kind == "failedResults":
            writer.writerow(["sf__Id", "sf__Error", *job.header])
            for record_id, error, row in job.failures:
                writer.writerow([record_id, error, *row])
        else:
            writer.writerow(job.header)
            for row in job.unprocessed:
                writer.writerow(row)
        return Response(out.getvalue(), content_type=CSV_TYPE)

    # -- query ----------------------------------------------------------------------
    def query_jobs(self, ctx: Ctx) -> Response:
        if ctx.request.method == "GET":
            jobs = [j.info() for j in self.jobs.values() if j.kind == "query"]
            return json_response({"done": True, "records": jobs, "nextRecordsUrl": None})
        body = ctx.json()
        operation = body.get("operation", "query")
        if operation not in ("query", "queryAll"):
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        text = body.get("query") or ""
        try:
            parsed = parse_soql(text)
            _bulk_query_supported(parsed)
            compiled, rows = self.app.engine.run(text, include_deleted=operation == "queryAll")
        except SoqlError as exc:
            raise ApiError(400, exc.code, exc.message) from None
        job = Job(self._new_id("750"), "query", operation, compiled.obj.name, ctx.user_id, ctx.version,
                  delimiter=body.get("columnDelimiter", "COMMA"), line_ending=body.get("lineEnding", "LF"),
                  query=text)  # fmt: skip
        job.columns = [p.text for p in compiled.select]
        job.rows = [self.app.engine.flat_row(compiled, r) for r in rows]
        job.processed = len(job.rows)
        job.state = "UploadComplete"
        info = job.info()
        job.state = "JobComplete"
        self._hold(job)
        self.jobs[job.id] = job
        return json_response(info)

    def query_job(self, ctx: Ctx, job_id: str) -> Response:
        job = self._job(job_id, "query")
        method = ctx.request.method
        if method == "DELETE":
            del self.jobs[job_id]
            return empty_response(204)
        if method == "PATCH":
            if ctx.json().get("state") == "Aborted":
                job.state, job.hold_polls, job.ready_at = "Aborted", 0, 0.0
            return json_response(job.info())
        return json_response(self._status(job))

    def query_results(self, ctx: Ctx, job_id: str) -> Response:
        job = self._job(job_id, "query")
        if job.state != "JobComplete" or self._held(job):
            raise ApiError(
                400,
                "INVALIDJOBSTATE",
                f"Job is {'InProgress' if self._held(job) else job.state}; results are "
                "available after JobComplete",
            )
        args = ctx.request.args
        max_records = int(args.get("maxRecords") or 50000)
        locator = args.get("locator")
        start = 0
        if locator:
            try:
                start = int(base64.urlsafe_b64decode(locator.encode()).decode())
            except ValueError:
                raise ApiError(400, "INVALID_LOCATOR", "invalid locator") from None
        end = min(len(job.rows), start + max(1, max_records))
        out = io.StringIO()
        writer = csv.writer(
            out,
            delimiter=DELIMITERS.get(job.delimiter, ","),
            lineterminator=LINE_ENDINGS.get(job.line_ending, "\n"),
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(job.columns)
        for row in job.rows[start:end]:
            writer.writerow([_csv_value(v) for v in row])
        next_locator = (
            base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(job.rows) else "null"
        )
        self.app.faults.count_read(job.object, end - start)
        return Response(
            out.getvalue(),
            content_type=CSV_TYPE,
            headers={"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(end - start)},
        )


def _bulk_query_supported(query: Query) -> None:
    """API_ERROR for what Bulk API 2.0 query jobs do not run (GROUP BY, OFFSET, aggregates)."""
    unsupported = []
    if query.group_by:
        unsupported.append("GROUP BY")
    if query.offset is not None:
        unsupported.append("OFFSET")
    if query.count_only or query.aggregates:
        unsupported.append("aggregate functions such as COUNT()")
    if unsupported:
        raise SoqlError(
            f"Bulk API 2.0 query jobs do not support {', '.join(unsupported)}; remove "
            "it from the query or run it with the REST query resource",
            code="API_ERROR",
        )


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
