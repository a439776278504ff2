"""The sandbox admin endpoint (``/_sandbox/...``): counters, faults, raw records, UI edits.

Admin calls are not API calls: they are neither counted nor subject to faults or limits.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sfsync_sandbox.salesforce.behaviour import ServerBehaviour
from sfsync_sandbox.salesforce.faults import FaultSettings
from sfsync_sandbox.salesforce.http import json_response
from sfsync_sandbox.salesforce.values import RecordError

if TYPE_CHECKING:
    from sfsync_sandbox.salesforce.app import SalesforceApp


class Admin:
    """Handlers of ``/_sandbox``; see :class:`sfsync_sandbox.admin.SandboxAdmin` for the client."""

    def __init__(self, app: SalesforceApp) -> None:
        self.app = app

    def dispatch(self, request: Request, path: str) -> Response:
        parts = path.split("/")[2:]  # after "/_sandbox"
        method = request.method
        try:
            body = (
                json.loads(request.get_data(as_text=True) or "{}")
                if method in ("POST", "PUT")
                else {}
            )
        except json.JSONDecodeError as exc:
            return _error(400, f"invalid JSON: {exc.msg}")
        faults = self.app.faults
        route = "/".join(parts)
        if route == "counters" and method == "GET":
            return json_response(faults.counters.snapshot())
        if route == "counters/reset" and method == "POST":
            faults.reset_counters()
            return json_response({"ok": True})
        if route == "faults" and method in ("POST", "PUT"):
            try:
                settings = FaultSettings.from_dict(body)
            except (TypeError, ValueError) as exc:
                return _error(400, str(exc))
            faults.set_faults(settings)
            if faults.expire_now():
                self.app.sessions.expire_all()
            return json_response({"ok": True})
        if route == "faults" and method == "DELETE":
            faults.clear_faults()
            self.app.sessions.revive_expired_by_fault()
            return json_response({"ok": True})
        if route == "behaviour" and method in ("POST", "PUT"):
            try:
                self.app.behaviour = ServerBehaviour.from_dict(body)
            except (TypeError, ValueError) as exc:
                return _error(400, str(exc))
            return json_response({"ok": True})
        if route == "behaviour" and method == "GET":
            return json_response(vars(self.app.behaviour))
        if route == "info" and method == "GET":
            user = self.app.integration_user()
            return json_response(
                {"org_id": self.app.org.org_id, "integration_user_id": user["Id"] if user else None}
            )
        if len(parts) == 2 and parts[0] == "records" and method == "GET":
            obj = self.app.schema.get(parts[1])
            if obj is None:
                return _error(404, f"no sObject type {parts[1]}")
            include_deleted = request.args.get("include_deleted") == "true"
            with self.app.org.lock:
                records = [dict(r) for r in self.app.org.records(obj.name, include_deleted)]
            return json_response(records)
        if route == "edit_as" and method == "POST":
            return self._edit_as(body)
        if route == "save" and method == "POST":
            self.app.org.save_snapshot()
            return json_response({"ok": True})
        return _error(404, f"unknown admin endpoint {method} {path}")

    def _edit_as(self, body: dict[str, Any]) -> Response:
        """A person editing a record in the Salesforce UI (e.g. a CSM completing a Task)."""
        try:
            user_id, sobject = body["user_id"], body["sobject"]
            record_id, fields = body["record_id"], body["fields"]
        except KeyError as exc:
            return _error(400, f"missing key {exc.args[0]}")
        obj = self.app.schema.get(sobject)
        if obj is None or self.app.org.get("User", user_id) is None:
            return _error(404, "unknown sObject type or user")
        try:
            with self.app.org.transaction(user_id, by_api=False) as tx:
                tx.update(obj.name, record_id, fields)
        except RecordError as exc:
            return json_response([exc.as_rest()], 400)
        return json_response(self.app.org.get(obj.name, record_id))


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)
