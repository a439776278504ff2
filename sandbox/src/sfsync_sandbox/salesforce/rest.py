"""REST API resources: versions, resources, limits, describe, query/queryAll, sObject rows."""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from sfsync_sandbox.salesforce.http import ApiError, Ctx, empty_response, json_response, not_found
from sfsync_sandbox.salesforce.query_engine import CompiledQuery
from sfsync_sandbox.salesforce.soql import SoqlError
from sfsync_sandbox.salesforce.values import RecordError, is_id

if TYPE_CHECKING:
    from sfsync_sandbox.salesforce.app import SalesforceApp

SUPPORTED_VERSIONS = [f"{v}.0" for v in range(50, 67)]
MAX_CURSORS = 500


def versions() -> list[dict[str, str]]:
    return [
        {"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in SUPPORTED_VERSIONS
    ]


class Rest:
    """Handlers for the synchronous REST resources."""

    def __init__(self, app: SalesforceApp) -> None:
        self.app = app
        self.org = app.org
        self.engine = app.engine
        self._cursors: OrderedDict[str, tuple[CompiledQuery, list[dict], int]] = OrderedDict()
        self._cursor_lock = threading.Lock()

    # -- discovery ------------------------------------------------------------------
    def resources(self, ctx: Ctx) -> Response:
        base = ctx.base()
        names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs"]
        return json_response({name: f"{base}/{name}" for name in names})

    def limits(self, ctx: Ctx) -> Response:
        faults = self.app.faults
        remaining = max(0, faults.api_max - faults.api_used)
        return json_response(
            {
                "DailyApiRequests": {"Max": faults.api_max, "Remaining": remaining},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DataStorageMB": {"Max": 1024, "Remaining": 1000},
            }
        )

    def global_describe(self, ctx: Ctx) -> Response:
        objects = [o.summary(ctx.version) for o in self.org.schema.objects.values()]
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})

    def sobject_info(self, ctx: Ctx, sobject: str) -> Response:
        obj = self.app.object_or_404(sobject)
        if ctx.request.method == "POST":
            return self.create(ctx, obj.name)
        return json_response({"objectDescribe": obj.summary(ctx.version), "recentItems": []})

    def describe(self, ctx: Ctx, sobject: str) -> Response:
        return json_response(self.app.object_or_404(sobject).describe(ctx.version))

    # -- query ----------------------------------------------------------------------
    def query(self, ctx: Ctx, all_rows: bool = False) -> Response:
        text = ctx.request.args.get("q")
        if text is None:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            compiled, rows = self.engine.run(text, include_deleted=all_rows)
        except SoqlError as exc:
            raise ApiError(400, exc.code, exc.message) from None
        if compiled.query.count_only:
            return json_response({"totalSize": len(rows), "done": True, "records": []})
        return self._page(ctx, compiled, rows, 0, "queryAll" if all_rows else "query", None)

    def query_more(self, ctx: Ctx, locator: str, all_rows: bool = False) -> Response:
        cursor_id, _, position = locator.rpartition("-")
        with self._cursor_lock:
            cursor = self._cursors.get(cursor_id)
        if cursor is None or not position.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        compiled, rows, batch = cursor
        return self._page(
            ctx, compiled, rows, int(position), "queryAll" if all_rows else "query", cursor_id
        )

    def _page(
        self,
        ctx: Ctx,
        compiled: CompiledQuery,
        rows: list[dict],
        start: int,
        resource: str,
        cursor_id: str | None,
    ) -> Response:
        batch = self.app.behaviour.page_size(self._requested_batch(ctx))
        records: list[dict] = []
        size = 0
        for rec in rows[start : start + batch]:  # wide rows: fewer records per page
            out = self.engine.project(compiled, rec, ctx.version)
            size += len(json.dumps(out, ensure_ascii=False).encode("utf-8"))
            if records and size > self.app.behaviour.page_bytes:
                break
            records.append(out)
        end = start + len(records)
        self.app.faults.count_read(compiled.query.sobject, len(records))
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            if cursor_id is None:
                cursor_id = "01g" + secrets.token_hex(8)[:15].upper()
                with self._cursor_lock:
                    self._cursors[cursor_id] = (compiled, rows, batch)
                    while len(self._cursors) > MAX_CURSORS:
                        self._cursors.popitem(last=False)
            body["nextRecordsUrl"] = f"{ctx.base()}/{resource}/{cursor_id}-{end}"
        elif cursor_id is not None:
            with self._cursor_lock:
                self._cursors.pop(cursor_id, None)
        body["records"] = records
        return json_response(body)

    @staticmethod
    def _requested_batch(ctx: Ctx) -> int | None:
        """``batchSize`` of the ``Sforce-Query-Options`` header, if any."""
        options = ctx.request.headers.get("Sforce-Query-Options", "")
        for part in options.split(","):
            key, _, value = part.strip().partition("=")
            if key.lower() == "batchsize" and value.strip().isdigit():
                return int(value)
        return None

    # -- rows -----------------------------------------------------------------------
    def create(self, ctx: Ctx, sobject: str) -> Response:
        body = self._record_body(ctx)
        try:
            with self.org.transaction(ctx.user_id) as tx:
                record_id = tx.create(sobject, body)
        except RecordError as exc:
            raise self._record_error(exc) from None
        return json_response({"id": record_id, "success": True, "errors": []}, 201)

    def row(self, ctx: Ctx, sobject: str, record_id: str) -> Response:
        obj = self.app.object_or_404(sobject)
        if record_id == "describe":
            return self.describe(ctx, sobject)
        method = ctx.request.method
        if method == "POST" and record_id.lower() == "id":
            return self.create(ctx, obj.name)
        if not is_id(record_id) or self.org.get(obj.name, record_id) is None:
            raise not_found()
        if method == "GET":
            return json_response(self._record_out(ctx, obj.name, self.org.get(obj.name, record_id)))
        try:
            with self.org.transaction(ctx.user_id) as tx:
                if method == "PATCH":
                    tx.update(obj.name, record_id, self._record_body(ctx))
                else:
                    tx.delete(obj.name, record_id)
        except RecordError as exc:
            raise self._record_error(exc) from None
        return empty_response(204)

    def external_row(self, ctx: Ctx, sobject: str, field: str, value: str) -> Response:
        obj = self.app.object_or_404(sobject)
        fdef = obj.field(field)
        if fdef is None:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field}",
            )
        if not (fdef.external_id or fdef.unique or fdef.name == "Id"):
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Field {fdef.name} is not an External ID or indexed field for {obj.name}",
            )
        method = ctx.request.method
        matches = (
            [value] if fdef.name == "Id" else self.org.find_external(obj.name, fdef.name, value)
        )
        if method in ("GET", "DELETE"):
            matches = [m for m in matches if self.org.get(obj.name, m)]
            if not matches:
                raise not_found()
            if len(matches) > 1:
                return json_response(
                    [f"{ctx.base()}/sobjects/{obj.name}/{m}" for m in matches], 300
                )
            if method == "GET":
                return json_response(
                    self._record_out(ctx, obj.name, self.org.get(obj.name, matches[0]))
                )
            return self.row(ctx, obj.name, matches[0])
        if len(matches) > 1:
            return json_response([f"{ctx.base()}/sobjects/{obj.name}/{m}" for m in matches], 300)
        body = self._record_body(ctx)
        if ctx.request.args.get("updateOnly") == "true" and not matches:
            raise not_found()
        try:
            with self.org.transaction(ctx.user_id) as tx:
                record_id, created = tx.upsert(obj.name, fdef.name, value, body)
        except RecordError as exc:
            raise self._record_error(exc) from None
        result = {"id": record_id, "success": True, "errors": [], "created": created}
        return json_response(result, 201 if created else 200)

    def _record_out(self, ctx: Ctx, sobject: str, rec: dict) -> dict:
        wanted = ctx.request.args.get("fields")
        obj = self.org.schema.objects[sobject]
        out: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"{ctx.base()}/sobjects/{sobject}/{rec['Id']}"}
        }
        if wanted:
            for name in wanted.split(","):
                fdef = obj.field(name.strip())
                if fdef is None:
                    raise ApiError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name.strip()}' on entity '{sobject}'",
                    )
                out[fdef.name] = rec.get(fdef.name)
        else:
            out.update({name: rec.get(name) for name in obj.fields})
        return out

    @staticmethod
    def _record_body(ctx: Ctx) -> dict:
        body = ctx.json()
        if not isinstance(body, dict):
            raise ApiError(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of SObject from a non-object value",
            )
        return body

    @staticmethod
    def _record_error(exc: RecordError) -> ApiError:
        status = 404 if exc.code == "NOT_FOUND" else 400
        return ApiError(status, exc.code, exc.message, exc.fields)
