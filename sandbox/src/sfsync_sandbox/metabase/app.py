"""A WSGI app that answers like the Metabase REST API, backed by the sandbox's SQLite warehouse.

Behaviour mirrored from Metabase (src/metabase/api/{session,card,dataset}.clj):

- ``POST /api/session`` ``{"username", "password"}`` -> ``{"id": <session id>}``; a wrong
  password is 401 ``{"errors": {"password": "did not match stored password"}}``.
- Every other ``/api`` call needs ``X-Metabase-Session: <id>`` or ``x-api-key: <key>``; without
  either it is 401 with the plain-text body ``Unauthenticated``.
- ``POST /api/card/:id/query`` and ``POST /api/dataset`` answer 202 with the query result
  (``data.rows``, ``data.cols``, ``row_count``, ``status``) capped at 2,000 rows; a capped
  result carries ``data.rows_truncated: 2000`` like the real ``add-rows-truncated`` middleware.
  A failing query is still 202, with ``status: "failed"``, ``error`` and ``error_type``.
- ``POST /api/card/:id/query/{json,csv,api}`` and ``POST /api/dataset/{json,csv,api}`` are the
  uncapped downloads; they take form-encoded ``parameters`` / ``query`` (JSON strings) as the
  real ones do, or a JSON body. ``json`` is a list of objects keyed by column name, ``csv`` has
  a header row, ``api`` is the ``/query`` result shape without the cap. A failing download
  answers 400 with ``{"status": "failed", "error", "error_type"}``.
- Unknown card or database: 404 ``Not found.``

Sandbox-only admin endpoints (no authentication) under ``/_sandbox/``:
``GET counters``, ``POST counters/reset``, ``GET|PUT|POST|DELETE faults``
(``{"seed": 1, "http_503": 0.2, "session_expiry_after": 5}``), ``POST sessions/expire``.
"""

from __future__ import annotations

import hmac
import json
import random
import re
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sfsync_sandbox.metabase.http import (
    BadRequest,
    NotFoundError,
    check_format,
    csv_cell,
    csv_lines,
    elapsed_ms,
    json_default,
    json_field,
    json_response,
    parse_parameters,
    request_body,
    result_cols,
    route_pattern,
    text_response,
)
from sfsync_sandbox.metabase.native import (
    Card,
    InvalidParameterError,
    QueryError,
    card_parameters,
    compile_sql,
    load_cards,
    tag_values,
    tags_from_dataset,
)

ROW_LIMIT = 2000
EXPORT_BATCH = 5000
DATABASE_ID = 1


class MetabaseSandbox:
    """The WSGI application; ``create_app`` builds one. Thread-safe."""

    def __init__(
        self, db_path: Path, cards_file: Path, api_key: str, username: str, password: str
    ) -> None:
        self.db_path = Path(db_path)
        self.cards: dict[int, Card] = load_cards(Path(cards_file))
        self._api_key = api_key
        self._username = username
        self._password = password
        self._lock = threading.Lock()
        self._sessions: dict[str, int] = {}  # session id -> authenticated calls made with it
        self.counters: Counter[str] = Counter()
        self.faults: dict[str, Any] = {}
        self._fault_rng = random.Random(0)
        self.url_map = Map(
            [
                Rule("/api/health", endpoint="health", methods=["GET"]),
                Rule("/api/session", endpoint="login", methods=["POST"]),
                Rule("/api/session", endpoint="logout", methods=["DELETE"]),
                Rule("/api/user/current", endpoint="current_user", methods=["GET"]),
                Rule("/api/database", endpoint="list_databases", methods=["GET"]),
                Rule("/api/card", endpoint="list_cards", methods=["GET"]),
                Rule("/api/card/", endpoint="list_cards", methods=["GET"]),
                Rule("/api/card/<int:card_id>", endpoint="get_card", methods=["GET"]),
                Rule("/api/card/<int:card_id>/query", endpoint="card_query", methods=["POST"]),
                Rule(
                    "/api/card/<int:card_id>/query/<fmt>", endpoint="card_export", methods=["POST"]
                ),
                Rule("/api/dataset", endpoint="dataset", methods=["POST"]),
                Rule("/api/dataset/", endpoint="dataset", methods=["POST"]),
                Rule("/api/dataset/<fmt>", endpoint="dataset_export", methods=["POST"]),
                Rule("/_sandbox/counters", endpoint="admin_counters", methods=["GET"]),
                Rule("/_sandbox/counters/reset", endpoint="admin_reset", methods=["POST"]),
                Rule(
                    "/_sandbox/faults",
                    endpoint="admin_faults",
                    methods=["GET", "PUT", "POST", "DELETE"],
                ),
                Rule("/_sandbox/sessions/expire", endpoint="admin_expire", methods=["POST"]),
            ],
            strict_slashes=False,
        )

    # ------------------------------------------------------------------ WSGI plumbing

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            rule, args = adapter.match(return_rule=True)
        except NotFound:
            return text_response("Not found.", 404)
        except HTTPException as exc:
            return text_response(exc.description or exc.name, exc.code or 400)
        endpoint = rule.endpoint
        if endpoint.startswith("admin_"):
            return getattr(self, endpoint)(request)
        key = f"{request.method} {route_pattern(rule.rule)}".replace(":fmt", str(args.get("fmt")))
        with self._lock:
            self.counters[key] += 1
            self.counters["api_calls"] += 1
            if self.faults.get("http_503") and self._fault_rng.random() < self.faults["http_503"]:
                self.counters["faults_http_503"] += 1
                return text_response("Service Unavailable", 503)
        if endpoint not in ("health", "login") and not self._authenticated(request):
            return text_response("Unauthenticated", 401)
        try:
            return getattr(self, endpoint)(request, **args)
        except BadRequest as exc:
            return json_response({"errors": exc.errors}, 400)
        except NotFoundError:
            return text_response("Not found.", 404)

    def _authenticated(self, request: Request) -> bool:
        key = request.headers.get("x-api-key")
        if key is not None:
            return hmac.compare_digest(key.encode(), self._api_key.encode())
        session = request.headers.get("X-Metabase-Session") or request.cookies.get(
            "metabase.SESSION"
        )
        if not session:
            return False
        with self._lock:
            if session not in self._sessions:
                return False
            self._sessions[session] += 1
            limit = self.faults.get("session_expiry_after")
            if limit and self._sessions[session] > limit:
                del self._sessions[session]
                self.counters["faults_session_expired"] += 1
                return False
        return True

    # ------------------------------------------------------------------ API endpoints

    def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    def login(self, request: Request) -> Response:
        body = request_body(request)
        username, password = body.get("username"), body.get("password")
        errors = {
            field: "value must be a non-blank string."
            for field, value in (("username", username), ("password", password))
            if not isinstance(value, str) or not value.strip()
        }
        if errors:
            return json_response({"errors": errors}, 400)
        good = hmac.compare_digest(
            str(username).lower(), self._username.lower()
        ) & hmac.compare_digest(str(password).encode(), self._password.encode())
        if not good:
            return json_response({"errors": {"password": "did not match stored password"}}, 401)
        session = str(uuid.uuid4())
        with self._lock:
            self._sessions[session] = 0
        return json_response({"id": session})

    def logout(self, request: Request) -> Response:
        session = request.headers.get("X-Metabase-Session")
        with self._lock:
            self._sessions.pop(session or "", None)
        return Response(status=204)

    def current_user(self, request: Request) -> Response:
        return json_response(
            {"id": 1, "email": self._username, "common_name": "Sandbox Admin", "is_superuser": True}
        )

    def list_databases(self, request: Request) -> Response:
        database = {"id": DATABASE_ID, "name": "Product warehouse (sandbox)", "engine": "sqlite"}
        return json_response({"data": [database], "total": 1})

    def list_cards(self, request: Request) -> Response:
        return json_response([self._card_json(card) for card in self.cards.values()])

    def get_card(self, request: Request, card_id: int) -> Response:
        card = self.cards.get(card_id)
        if card is None:
            return text_response("Not found.", 404)
        return json_response(self._card_json(card))

    def card_query(self, request: Request, card_id: int) -> Response:
        card = self.cards.get(card_id)
        if card is None:
            return text_response("Not found.", 404)
        parameters = self._card_parameters(card, request_body(request).get("parameters"))
        if isinstance(parameters, Response):
            return parameters
        json_query = {**self._dataset_query(card), "parameters": parameters}
        return self._run_api(card.sql, card.template_tags, parameters, json_query, "question")

    def card_export(self, request: Request, card_id: int, fmt: str) -> Response:
        card = self.cards.get(card_id)
        if card is None:
            return text_response("Not found.", 404)
        check_format(fmt)
        parameters = self._card_parameters(card, request_body(request).get("parameters"))
        if isinstance(parameters, Response):
            return parameters
        json_query = {**self._dataset_query(card), "parameters": parameters}
        if fmt == "api":
            return self._run_api(
                card.sql, card.template_tags, parameters, json_query, "question", limit=None
            )
        return self._run_export(card.sql, card.template_tags, parameters, fmt, card.name)

    def _card_parameters(self, card: Card, raw: Any) -> list[dict] | Response:
        try:
            return card_parameters(card, parse_parameters(raw))
        except InvalidParameterError as exc:
            body = {
                "message": str(exc),
                "error_type": exc.error_type,
                "invalid-parameter": exc.param,
                "allowed-parameters": exc.allowed,
            }
            return json_response(body, 400)
        except QueryError as exc:
            return json_response({"message": str(exc), "error_type": exc.error_type}, 400)

    def dataset(self, request: Request) -> Response:
        query = request_body(request)
        sql, tags, parameters = self._native_query(query)
        return self._run_api(sql, tags, parameters, query, "ad-hoc")

    def dataset_export(self, request: Request, fmt: str) -> Response:
        check_format(fmt)
        body = request_body(request)
        query = body.get("query", body)
        if isinstance(query, str):
            query = json_field("query", query)
        if not isinstance(query, dict):
            raise BadRequest({"query": "value must be a valid JSON string."})
        sql, tags, parameters = self._native_query(query)
        if fmt == "api":
            return self._run_api(sql, tags, parameters, query, "ad-hoc", limit=None)
        return self._run_export(sql, tags, parameters, fmt, "query_result")

    # ------------------------------------------------------------------ admin endpoints

    def admin_counters(self, request: Request) -> Response:
        with self._lock:
            return json_response(dict(self.counters))

    def admin_reset(self, request: Request) -> Response:
        with self._lock:
            self.counters.clear()
        return json_response({"ok": True})

    def admin_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.set_faults()
        elif request.method in ("PUT", "POST"):
            body = request_body(request)
            unknown = set(body) - {"seed", "http_503", "session_expiry_after"}
            if unknown:
                return json_response({"errors": {k: "unknown fault" for k in sorted(unknown)}}, 400)
            try:
                self.set_faults(**body)
            except (TypeError, ValueError) as exc:
                return json_response({"errors": {"faults": str(exc)}}, 400)
        with self._lock:
            return json_response(dict(self.faults))

    def admin_expire(self, request: Request) -> Response:
        with self._lock:
            expired = len(self._sessions)
            self._sessions.clear()
        return json_response({"expired": expired})

    def set_faults(
        self, seed: int = 0, http_503: float = 0.0, session_expiry_after: int | None = None
    ) -> None:
        """Set (or with no arguments clear) injected faults; the 503 draw is seeded."""
        http_503 = float(http_503)
        if not 0.0 <= http_503 <= 1.0:
            raise ValueError(f"http_503 must be a share between 0 and 1, got {http_503}")
        if session_expiry_after is not None:
            session_expiry_after = int(session_expiry_after)
        with self._lock:
            self._fault_rng = random.Random(seed)
            self.faults = {
                k: v
                for k, v in (
                    ("seed", seed),
                    ("http_503", http_503),
                    ("session_expiry_after", session_expiry_after),
                )
                if v
            }

    # ------------------------------------------------------------------ query execution

    def _native_query(self, query: dict) -> tuple[str, dict, list[dict]]:
        database = query.get("database")
        if database != DATABASE_ID:
            raise NotFoundError
        native = query.get("native")
        if query.get("type") != "native" or not isinstance(native, dict):
            raise BadRequest({"query": "the sandbox runs native SQL queries only"})
        sql = native.get("query")
        if not isinstance(sql, str) or not sql.strip():
            raise BadRequest({"native.query": "value must be a non-blank string."})
        tags = tags_from_dataset(native.get("template-tags"))
        return sql, tags, parse_parameters(query.get("parameters"))

    def _open_cursor(
        self, sql: str, tags: dict, parameters: list[dict]
    ) -> tuple[sqlite3.Connection, sqlite3.Cursor, list[str], str, list[Any]]:
        """Run the query read-only; the caller fetches and closes the connection."""
        compiled, binds = compile_sql(sql, tags, tag_values(parameters, tags))
        uri = f"{self.db_path.resolve().as_uri()}?mode=ro"
        try:
            conn = sqlite3.connect(
                uri, uri=True, detect_types=sqlite3.PARSE_DECLTYPES, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise QueryError(f"database unavailable: {exc}", "db") from None
        try:
            cursor = conn.execute(compiled, binds)
        except sqlite3.Error as exc:
            conn.close()
            raise QueryError(f"[SQLITE_ERROR] SQL error or missing database ({exc})") from None
        names = [d[0] for d in cursor.description or ()]
        return conn, cursor, names, compiled, binds

    def _execute(
        self, sql: str, tags: dict, parameters: list[dict], limit: int | None
    ) -> tuple[list[str], list[list[Any]], str, list[Any]]:
        conn, cursor, names, compiled, binds = self._open_cursor(sql, tags, parameters)
        try:
            raw = cursor.fetchmany(limit) if limit else cursor.fetchall()
        except sqlite3.Error as exc:
            raise QueryError(f"[SQLITE_ERROR] SQL error or missing database ({exc})") from None
        finally:
            conn.close()
        return names, [list(row) for row in raw], compiled, binds

    def _run_api(
        self,
        sql: str,
        tags: dict,
        parameters: list[dict],
        json_query: dict,
        context: str,
        limit: int | None = ROW_LIMIT,
    ) -> Response:
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        base = {
            "database_id": DATABASE_ID,
            "started_at": started.isoformat(),
            "json_query": json_query,
            "average_execution_time": None,
            "context": context,
        }
        try:
            names, rows, compiled, binds = self._execute(sql, tags, parameters, limit)
        except QueryError as exc:
            return json_response(
                {
                    **base,
                    "status": "failed",
                    "error": str(exc),
                    "error_type": exc.error_type,
                    "row_count": 0,
                    "running_time": elapsed_ms(t0),
                    "data": {"rows": [], "cols": []},
                },
                202,
            )
        cols = result_cols(names, rows)
        data: dict[str, Any] = {
            "rows": rows,
            "cols": cols,
            "native_form": {"query": compiled, "params": binds or None},
            "results_timezone": "UTC",
            "results_metadata": {"columns": cols},
            "insights": None,
        }
        if limit is not None and len(rows) == limit:
            data["rows_truncated"] = limit
        with self._lock:
            self.counters["rows_returned"] += len(rows)
        return json_response(
            {
                **base,
                "status": "completed",
                "row_count": len(rows),
                "running_time": elapsed_ms(t0),
                "data": data,
            },
            202,
        )

    def _run_export(
        self, sql: str, tags: dict, parameters: list[dict], fmt: str, name: str
    ) -> Response:
        """Stream a download (rows are never all in memory), as Metabase streams its exports."""
        try:
            conn, cursor, names, _, _ = self._open_cursor(sql, tags, parameters)
        except QueryError as exc:
            return json_response(
                {"status": "failed", "error": str(exc), "error_type": exc.error_type}, 400
            )
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
        filename = f"{re.sub(r'[^A-Za-z0-9_-]+', '_', name).strip('_')}_{stamp}.{fmt}"
        body = self._export_chunks(conn, cursor, names, fmt)
        content_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
        response = Response(body, content_type=content_type, direct_passthrough=True)
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def _export_chunks(
        self, conn: sqlite3.Connection, cursor: sqlite3.Cursor, names: list[str], fmt: str
    ) -> Iterator[bytes]:
        rows_sent = 0
        try:
            if fmt == "json":
                yield b"["
            else:
                yield csv_lines([names])
            while batch := cursor.fetchmany(EXPORT_BATCH):
                if fmt == "json":
                    text = ",".join(
                        json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False,
                                   default=json_default)
                        for row in batch
                    )  # fmt: skip
                    yield (("," if rows_sent else "") + text).encode()
                else:
                    yield csv_lines([[csv_cell(v) for v in row] for row in batch])
                rows_sent += len(batch)
            if fmt == "json":
                yield b"]"
        finally:
            conn.close()
            with self._lock:
                self.counters["rows_returned"] += rows_sent

    # ------------------------------------------------------------------ card JSON

    def _dataset_query(self, card: Card) -> dict:
        return {
            "database": DATABASE_ID,
            "type": "native",
            "native": {
                "query": card.sql,
                "template-tags": {
                    name: {
                        "id": f"tag-{card.id}-{name}",
                        "name": name,
                        "display-name": tag.display_name or name,
                        "type": tag.type,
                        "required": tag.required,
                        **({"default": tag.default} if tag.default is not None else {}),
                    }
                    for name, tag in card.template_tags.items()
                },
            },
        }

    def _card_json(self, card: Card) -> dict:
        return {
            "id": card.id,
            "name": card.name,
            "description": card.description,
            "display": "table",
            "type": "question",
            "query_type": "native",
            "database_id": DATABASE_ID,
            "archived": False,
            "collection_id": None,
            "dataset_query": self._dataset_query(card),
            "parameters": [
                {
                    "id": f"tag-{card.id}-{name}",
                    "type": "category",
                    "target": ["variable", ["template-tag", name]],
                    "name": tag.display_name or name,
                    "slug": name,
                    "required": tag.required,
                }
                for name, tag in card.template_tags.items()
            ],
        }


def create_app(
    db_path: Path, cards_file: Path, api_key: str, username: str, password: str
) -> MetabaseSandbox:
    """Build the Metabase sandbox WSGI app over the SQLite warehouse at ``db_path``.

    Create the warehouse first with :func:`sfsync_sandbox.metabase.load_usage`.
    """
    return MetabaseSandbox(db_path, cards_file, api_key, username, password)
