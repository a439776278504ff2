"""The sandbox Salesforce org as a WSGI application: routing, authentication, limits, faults.

Every answer under ``/services`` and ``/id`` is JSON, errors included: Salesforce answers an
unknown resource with 404 ``[{"errorCode":"NOT_FOUND","message":"The requested resource does
not exist"}]``, a wrong method with 405 ``METHOD_NOT_ALLOWED``, and an internal failure with
500 ``UNKNOWN_EXCEPTION`` ("An unexpected error occurred. Please include this ErrorId if you
contact support: …"), never with werkzeug's HTML error pages.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from sfsync_sandbox.salesforce.admin import Admin
from sfsync_sandbox.salesforce.behaviour import ServerBehaviour
from sfsync_sandbox.salesforce.bulk2 import Bulk2
from sfsync_sandbox.salesforce.composite import Collections
from sfsync_sandbox.salesforce.faults import FaultsAndCounters
from sfsync_sandbox.salesforce.http import ApiError, Ctx, json_response, not_found
from sfsync_sandbox.salesforce.oauth import (
    ConnectedApp,
    OAuthError,
    Sessions,
    ensure_connected_app,
    token_response,
)
from sfsync_sandbox.salesforce.query_engine import QueryEngine
from sfsync_sandbox.salesforce.rest import SUPPORTED_VERSIONS, Rest, versions
from sfsync_sandbox.salesforce.schema import ObjectDef, Schema, load_schema
from sfsync_sandbox.salesforce.store import Org

Handler = Callable[..., Response]
_V = r"/services/data/v(?P<version>\d+\.\d)"
_NAME = r"(?P<sobject>[A-Za-z][A-Za-z0-9_]*)"


class SalesforceApp:
    """A WSGI app serving the Salesforce REST, Bulk 2.0 and OAuth endpoints of the sandbox org.

    ``data_dir`` holds the org's records and sessions between runs (None: nothing persisted);
    ``credentials_dir`` the connected app's keys and secrets (default: ``data_dir``).
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        schema: Schema | None = None,
        credentials_dir: Path | None = None,
    ) -> None:
        self.faults = FaultsAndCounters()
        self.behaviour = ServerBehaviour()
        self.schema = schema or load_schema()
        self.data_dir = data_dir
        self.org = Org(self.schema, self.faults, data_dir)
        if self.org.has_saved_state():
            self.org.load_saved_state()
        secrets_dir = (
            credentials_dir or data_dir or Path(tempfile.mkdtemp(prefix="sfsync-sandbox-"))
        )
        self.connected_app: ConnectedApp = ensure_connected_app(secrets_dir)
        self.sessions = Sessions(self.org.org_id, data_dir)
        self.engine = QueryEngine(self.org)
        self.instance_url = "https://127.0.0.1"
        self.rest = Rest(self)
        self.collections = Collections(self)
        self.bulk = Bulk2(self)
        self.admin = Admin(self)
        r, c, b = self.rest, self.collections, self.bulk
        self._routes: list[tuple[set[str], re.Pattern, Handler, str]] = []
        add = self._add
        add({"GET"}, _V, r.resources, "resources")
        add({"GET"}, _V + "/limits", r.limits, "limits")
        add({"GET"}, _V + "/sobjects", r.global_describe, "sobjects")
        add({"GET", "POST"}, _V + "/sobjects/" + _NAME, r.sobject_info, "sobjects/{type}")
        add(
            {"GET"}, _V + "/sobjects/" + _NAME + "/describe", r.describe, "sobjects/{type}/describe"
        )
        add(
            {"GET", "PATCH", "DELETE", "POST"},
            _V + "/sobjects/" + _NAME + r"/(?P<record_id>[^/]+)",
            r.row,
            "sobjects/{type}/{id}",
        )
        add(
            {"GET", "PATCH", "DELETE"},
            _V + "/sobjects/" + _NAME + r"/(?P<field>[^/]+)/(?P<value>.+)",
            r.external_row,
            "sobjects/{type}/{field}/{value}",
        )
        add({"GET"}, _V + "/query", r.query, "query")
        add({"GET"}, _V + r"/query/(?P<locator>[^/]+)", r.query_more, "query/{locator}")
        add({"GET"}, _V + "/queryAll", lambda ctx: r.query(ctx, all_rows=True), "queryAll")
        add(
            {"GET"},
            _V + r"/queryAll/(?P<locator>[^/]+)",
            lambda ctx, locator: r.query_more(ctx, locator, all_rows=True),
            "queryAll/{locator}",
        )
        add(
            {"POST", "PATCH", "DELETE"},
            _V + "/composite/sobjects",
            c.dispatch,
            "composite/sobjects",
        )
        add(
            {"GET", "POST"},
            _V + "/composite/sobjects/" + _NAME,
            c.retrieve,
            "composite/sobjects/{type}",
        )
        add(
            {"PATCH"},
            _V + "/composite/sobjects/" + _NAME + r"/(?P<field>[^/]+)",
            c.upsert,
            "composite/sobjects/{type}/{field}",
        )
        add({"GET", "POST"}, _V + "/jobs/ingest", b.ingest_jobs, "jobs/ingest")
        add(
            {"GET", "PATCH", "DELETE"},
            _V + r"/jobs/ingest/(?P<job_id>[^/]+)",
            b.ingest_job,
            "jobs/ingest/{id}",
        )
        add(
            {"PUT"},
            _V + r"/jobs/ingest/(?P<job_id>[^/]+)/batches",
            b.upload,
            "jobs/ingest/{id}/batches",
        )
        add(
            {"GET"},
            _V
            + r"/jobs/ingest/(?P<job_id>[^/]+)/(?P<kind>successfulResults|failedResults|unprocessedrecords|unprocessedRecords)",
            b.ingest_results,
            "jobs/ingest/{id}/{results}",
        )
        add({"GET", "POST"}, _V + "/jobs/query", b.query_jobs, "jobs/query")
        add(
            {"GET", "PATCH", "DELETE"},
            _V + r"/jobs/query/(?P<job_id>[^/]+)",
            b.query_job,
            "jobs/query/{id}",
        )
        add(
            {"GET"},
            _V + r"/jobs/query/(?P<job_id>[^/]+)/results",
            b.query_results,
            "jobs/query/{id}/results",
        )

    def _add(self, methods: set[str], pattern: str, handler: Handler, name: str) -> None:
        self._routes.append((methods, re.compile(pattern + "$"), handler, name))

    # -- helpers for route modules ----------------------------------------------------
    def object_or_404(self, name: str) -> ObjectDef:
        obj = self.schema.get(name)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    def integration_user(self) -> dict | None:
        return self.find_user(self.connected_app.integration_username)

    def find_user(self, username: str) -> dict | None:
        ids = self.org.find_external("User", "Username", username)
        for user_id in ids:
            rec = self.org.get("User", user_id)
            if rec and rec.get("IsActive"):
                return rec
        return None

    # -- WSGI -------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        path = request.path.rstrip("/") or "/"
        try:
            response = self._dispatch(request, path, environ)
        except ConnectionResetError:  # the drop_connection fault
            raise
        except HTTPException as exc:  # werkzeug's own (bad request body, too large, …)
            response = ApiError(
                exc.code or 400,
                "INVALID_REQUEST" if (exc.code or 400) < 500 else "UNKNOWN_EXCEPTION",
                exc.description or exc.name,
            ).response()
        except Exception:
            error_id = f"{secrets.randbelow(10**9)}-{secrets.randbelow(10**5)} ({secrets.randbelow(10**9)})"
            logging.getLogger("sfsync_sandbox").exception("sandbox_internal_error")
            response = ApiError(
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact "
                f"support: {error_id}",
            ).response()
        if path.startswith(("/services/", "/id/")):
            response.headers["Sforce-Limit-Info"] = self.faults.limit_header()
        return response(environ, start_response)

    def _dispatch(self, request: Request, path: str, environ: dict[str, Any]) -> Response:
        if path.startswith("/_sandbox"):
            return self.admin.dispatch(request, path)
        if path.startswith("/services/"):
            return self._services(request, path, environ)
        if path.startswith("/id/"):
            return self._identity(request, path)
        return not_found().response()

    def _services(self, request: Request, path: str, environ: dict[str, Any]) -> Response:
        if path == "/services/oauth2/token":
            return self._token(request)
        if path == "/services/oauth2/userinfo":
            return self._userinfo(request)
        if path == "/services/data":
            return json_response(versions())
        fault = self.faults.roll_request_fault()
        if fault == "drop_connection":
            _drop(environ)
        if fault == "http_503":
            return ApiError(
                503,
                "SERVER_UNAVAILABLE",
                "Server temporarily unavailable (sandbox fault injection)",
            ).response()
        for methods, pattern, handler, name in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            params = match.groupdict()
            version = params.pop("version")
            if version not in SUPPORTED_VERSIONS:
                return not_found().response()
            if request.method not in methods:
                allowed = ",".join(sorted(methods))
                return ApiError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
                ).response()
            try:
                user_id = self._authenticate(request)
                if self.faults.quota_exhausted():
                    raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
                if self.faults.count_api_call(f"{request.method} {name}"):
                    self.sessions.expire_all()
                response = handler(Ctx(request, user_id, version), **params)
                if self.faults.lose_this_response(f"{request.method} {name}"):
                    _drop(environ)  # the work is committed; the answer never arrives
                return response
            except ApiError as exc:
                return exc.response()
        return not_found().response()

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user_id = (
            self.sessions.user_for(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
        )
        if user_id is None:
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return user_id

    def _token(self, request: Request) -> Response:
        self.faults.count_other("POST oauth2/token")
        if request.method != "POST":
            return json_response(
                {"error": "invalid_request", "error_description": "must use HTTP POST"}, 400
            )
        auth = request.authorization
        basic = (
            (auth.username or "", auth.password or "") if auth and auth.type == "basic" else None
        )
        try:
            body = token_response(
                form=request.form.to_dict(),
                basic_auth=basic,
                app=self.connected_app,
                sessions=self.sessions,
                find_user=self.find_user,
                instance_url=self.instance_url,
            )
        except OAuthError as exc:
            return json_response(
                {"error": exc.error, "error_description": exc.description}, exc.status
            )
        return json_response(body)

    def _userinfo(self, request: Request) -> Response:
        """OpenID Connect userinfo of the session's user (as the real endpoint answers it)."""
        self.faults.count_other(f"{request.method} oauth2/userinfo")
        try:
            user_id = self._authenticate(request)
        except ApiError as exc:
            return exc.response()
        user = self.org.get("User", user_id) or {}
        return json_response(
            {
                "sub": f"{self.instance_url}/id/{self.org.org_id}/{user_id}",
                "user_id": user_id,
                "organization_id": self.org.org_id,
                "preferred_username": user.get("Username"),
                "name": user.get("Name"),
                "email": user.get("Email"),
                "active": user.get("IsActive"),
            }
        )

    def _identity(self, request: Request, path: str) -> Response:
        try:
            self._authenticate(request)
        except ApiError as exc:
            return exc.response()
        parts = path.split("/")
        user = self.org.get("User", parts[-1]) if len(parts) == 4 else None
        if user is None:
            return not_found().response()
        return json_response(
            {
                "id": f"{self.instance_url}{path}",
                "user_id": user["Id"],
                "organization_id": self.org.org_id,
                "username": user.get("Username"),
                "display_name": user.get("Name"),
                "email": user.get("Email"),
                "active": user.get("IsActive"),
                "urls": {"rest": f"{self.instance_url}/services/data/v{{version}}/"},
            }
        )


def _drop(environ: dict[str, Any]) -> None:
    """Close the client's connection without an answer (the dropped-connection faults)."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionResetError("sandbox fault: connection dropped")
