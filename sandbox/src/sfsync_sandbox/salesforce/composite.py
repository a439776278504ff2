"""sObject Collections: create, update, upsert, delete and retrieve up to 200 records per call.

Results come back in request order. With ``allOrNone`` every write is rolled back when any
record fails; the records without their own error then report ALL_OR_NONE_OPERATION_ROLLED_BACK.

Upsert (``PATCH composite/sobjects/<type>/<field>``) follows the REST API Developer Guide,
"Upsert Records Using sObject Collections": "Only external ids are supported. Don't use
record ids." and "If the request isn't well formed, the API returns a 400 Bad Request". The
guide gives no wording for an ``Id`` key; the sandbox answers 400 ``INVALID_FIELD`` with the
platform's message for a field that cannot key an upsert ("Invalid field for upsert, must be
an External Id custom or standard indexed field: Id", as a real org words it for Apex and the
API). An external-ID value repeated within one request fails every record that carries it,
``DUPLICATE_VALUE`` "Duplicate external id specified: <value>" with ``fields: [<field>]``
(the error a real org gives, e.g. "DUPLICATE_VALUE, Duplicate external id specified: ABC123:
[Name]" on salesforce.stackexchange.com, "Why does upsert cause a DUPLICATE_VALUE error?";
the SOAP upsert() docs: records with the same external ID in one call "will be marked as
errors in the UpsertResult"). Matching is case-insensitive, like the unique index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from sfsync_sandbox.salesforce.http import ApiError, Ctx, json_response
from sfsync_sandbox.salesforce.transaction import Transaction
from sfsync_sandbox.salesforce.values import RecordError, is_id

if TYPE_CHECKING:
    from sfsync_sandbox.salesforce.app import SalesforceApp

MAX_RECORDS = 200
ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


class Collections:
    """Handlers for ``/composite/sobjects``."""

    def __init__(self, app: SalesforceApp) -> None:
        self.app = app
        self.org = app.org

    def dispatch(self, ctx: Ctx) -> Response:
        method = ctx.request.method
        if method == "DELETE":
            ids = [i for i in ctx.request.args.get("ids", "").split(",") if i]
            all_or_none = ctx.request.args.get("allOrNone", "false").lower() == "true"
            self._check_size(len(ids))
            return self._run(ctx, [{"Id": i} for i in ids], all_or_none, self._delete_one)
        body = ctx.json()
        records, all_or_none = self._records(body)
        if method == "POST":
            return self._run(ctx, records, all_or_none, self._create_one)
        if method == "PATCH":
            return self._run(ctx, records, all_or_none, self._update_one)
        raise ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{method}' not allowed. Allowed are POST,PATCH,DELETE",
        )

    def upsert(self, ctx: Ctx, sobject: str, field: str) -> Response:
        obj = self.app.object_or_404(sobject)
        fdef = obj.field(field)
        if fdef is None or not (fdef.external_id or fdef.unique):
            raise ApiError(
                400,
                "INVALID_FIELD",
                "Invalid field for upsert, must be an External Id custom or standard indexed "
                f"field: {fdef.name if fdef else field}",
            )
        records, all_or_none = self._records(ctx.json())

        def key_of(rec: dict) -> Any:
            return next((v for k, v in rec.items() if k.lower() == fdef.name.lower()), None)

        seen = Counter(str(key).lower() for key in map(key_of, records) if key not in (None, ""))

        def upsert_one(tx: Transaction, rec: dict) -> dict:
            rtype = (rec.get("attributes") or {}).get("type")
            if rtype and rtype.lower() != obj.name.lower():
                raise RecordError("INVALID_TYPE", f"Record type {rtype} does not match {obj.name}")
            value = key_of(rec)
            if value not in (None, "") and seen[str(value).lower()] > 1:
                raise RecordError(
                    "DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [fdef.name]
                )
            body = {k: v for k, v in rec.items() if k != "attributes"}
            record_id, created = tx.upsert(obj.name, fdef.name, value, body)
            return {"id": record_id, "success": True, "errors": [], "created": created}

        return self._run(ctx, records, all_or_none, upsert_one)

    def retrieve(self, ctx: Ctx, sobject: str) -> Response:
        obj = self.app.object_or_404(sobject)
        if ctx.request.method == "POST":
            body = ctx.json()
            ids, fields = body.get("ids", []), body.get("fields", [])
        else:
            ids = [i for i in ctx.request.args.get("ids", "").split(",") if i]
            fields = [f for f in ctx.request.args.get("fields", "").split(",") if f]
        self._check_size(len(ids))
        if not fields:
            raise ApiError(400, "MISSING_ARGUMENT", "fields not specified")
        canonical = []
        for name in fields:
            fdef = obj.field(name)
            if fdef is None:
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'"
                )
            canonical.append(fdef.name)
        out: list[Any] = []
        for record_id in ids:
            rec = self.org.get(obj.name, record_id) if is_id(record_id) else None
            if rec is None:
                out.append(None)
                continue
            row = {
                "attributes": {
                    "type": obj.name,
                    "url": f"{ctx.base()}/sobjects/{obj.name}/{rec['Id']}",
                }
            }
            row.update({name: rec.get(name) for name in canonical})
            row["Id"] = rec["Id"]
            out.append(row)
        return json_response(out)

    # -- internals ------------------------------------------------------------------
    def _records(self, body: Any) -> tuple[list[dict], bool]:
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ApiError(
                400,
                "JSON_PARSER_ERROR",
                "The request body must be an object with a 'records' array",
            )
        records = body["records"]
        self._check_size(len(records))
        if any(not isinstance(r, dict) for r in records):
            raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        return records, bool(body.get("allOrNone", False))

    @staticmethod
    def _check_size(count: int) -> None:
        if count > MAX_RECORDS:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
            )

    def _object_of(self, rec: dict) -> str:
        rtype = (rec.get("attributes") or {}).get("type")
        if not rtype:
            raise RecordError("INVALID_TYPE", "Must send a concrete entity type.")
        obj = self.org.schema.get(rtype)
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{rtype}' is not supported.")
        return obj.name

    def _create_one(self, tx: Transaction, rec: dict) -> dict:
        sobject = self._object_of(rec)
        body = {k: v for k, v in rec.items() if k != "attributes"}
        return {"id": tx.create(sobject, body), "success": True, "errors": []}

    def _update_one(self, tx: Transaction, rec: dict) -> dict:
        sobject = self._object_of(rec)
        record_id = next((v for k, v in rec.items() if k.lower() == "id"), None)
        if not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        if not is_id(str(record_id)):
            raise RecordError("MALFORMED_ID", f"malformed id {record_id}", ["Id"])
        body = {k: v for k, v in rec.items() if k != "attributes" and k.lower() != "id"}
        return {"id": tx.update(sobject, str(record_id), body), "success": True, "errors": []}

    def _delete_one(self, tx: Transaction, rec: dict) -> dict:
        record_id = rec["Id"]
        obj = self.org.schema.for_id(record_id) if is_id(record_id) else None
        if obj is None:
            raise RecordError("MALFORMED_ID", f"malformed id {record_id}")
        return {"id": tx.delete(obj.name, record_id), "success": True, "errors": []}

    def _run(
        self,
        ctx: Ctx,
        records: list[dict],
        all_or_none: bool,
        one: Callable[[Transaction, dict], dict],
    ) -> Response:
        results: list[dict | None] = []
        with self.org.transaction(ctx.user_id, all_or_none=all_or_none) as tx:
            for rec in records:
                try:
                    results.append(one(tx, rec))
                except RecordError as exc:
                    tx.failed = True
                    results.append({"success": False, "errors": [exc.as_save_result()]})
        if all_or_none and any(not r["success"] for r in results):
            results = [
                r
                if not r["success"]
                else {"success": False, "errors": [ROLLED_BACK.as_save_result()]}
                for r in results
            ]
        return json_response(results)
