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
  real ones do, or a JSON body. ``json`` is a list of objects keyed by column name.
- Unknown card or database: 404 ``Not found.``

Sandbox-only admin endpoints (no authentication) under ``/_sandbox/``:
``GET counters``, ``POST counters/reset``, ``GET|PUT|POST|DELETE faults``
(``{"seed": 1, "http_503": 0.2, "session_expiry_after": 5}``), ``POST sessions/expire``.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import random
import re
import sqlite3
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sfsync.sandbox.metabase.native import (
    Card,
    QueryError,
    compile_sql,
    load_cards,
    tag_values,
    tags_from_dataset,
)

ROW_LIMIT = 2000
DATABASE_ID = 1
EXPORT_FORMATS = ("json", "csv", "api")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
            return _text("Not found.", 404)
        except HTTPException as exc:
            return _text(exc.description or exc.name, exc.code or 400)
        endpoint = rule.endpoint
        if endpoint.startswith("admin_"):
            return getattr(self, endpoint)(request)
        key = f"{request.method} {_pattern(rule.rule)}"
        with self._lock:
            self.counters[key] += 1
            self.counters["api_calls"] += 1
            if self.faults.get("http_503") and self._fault_rng.random() < self.faults["http_503"]:
                self.counters["faults_http_503"] += 1
                return _text("Service Unavailable", 503)
        if endpoint not in ("health", "login") and not self._authenticated(request):
            return _text("Unauthenticated", 401)
        try:
            return getattr(self, endpoint)(request, **args)
        except _BadRequest as exc:
            return _json({"errors": exc.errors}, 400)
        except _NotFoundError:
            return _text("Not found.", 404)

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
        return _json({"status": "ok"})

    def login(self, request: Request) -> Response:
        body = _body(request)
        username, password = body.get("username"), body.get("password")
        errors = {
            field: "value must be a non-blank string."
            for field, value in (("username", username), ("password", password))
            if not isinstance(value, str) or not value.strip()
        }
        if errors:
            return _json({"errors": errors}, 400)
        good = hmac.compare_digest(
            str(username).lower(), self._username.lower()
        ) & hmac.compare_digest(str(password).encode(), self._password.encode())
        if not good:
            return _json({"errors": {"password": "did not match stored password"}}, 401)
        session = str(uuid.uuid4())
        with self._lock:
            self._sessions[session] = 0
        return _json({"id": session})

    def logout(self, request: Request) -> Response:
        session = request.headers.get("X-Metabase-Session")
        with self._lock:
            self._sessions.pop(session or "", None)
        return Response(status=204)

    def current_user(self, request: Request) -> Response:
        return _json(
            {"id": 1, "email": self._username, "common_name": "Sandbox Admin", "is_superuser": True}
        )

    def list_databases(self, request: Request) -> Response:
        database = {"id": DATABASE_ID, "name": "Product warehouse (sandbox)", "engine": "sqlite"}
        return _json({"data": [database], "total": 1})

    def list_cards(self, request: Request) -> Response:
        return _json([self._card_json(card) for card in self.cards.values()])

    def get_card(self, request: Request, card_id: int) -> Response:
        card = self.cards.get(card_id)
        if card is None:
            return _text("Not found.", 404)
        return _json(self._card_json(card))

    def card_query(self, request: Request, card_id: int) -> Response:
        card = self.cards.get(card_id)
        if card is None:
            return _text("Not found.", 404)
        parameters = _parameters(_body(request).get("parameters"))
        json_query = {**self._dataset_query(card), "parameters": parameters}
        return self._run_api(card.sql, card.template_tags, parameters, json_query, "question")

    def card_export(self, request: Request, card_id: int, fmt: str) -> Response:
        card = self.cards.get(card_id)
        if card is None:
            return _text("Not found.", 404)
        _check_format(fmt)
        parameters = _parameters(_body(request).get("parameters"))
        json_query = {**self._dataset_query(card), "parameters": parameters}
        if fmt == "api":
            return self._run_api(card.sql, card.template_tags, parameters, json_query, "question")
        return self._run_export(card.sql, card.template_tags, parameters, fmt, card.name)

    def dataset(self, request: Request) -> Response:
        query = _body(request)
        sql, tags, parameters = self._native_query(query)
        return self._run_api(sql, tags, parameters, query, "ad-hoc")

    def dataset_export(self, request: Request, fmt: str) -> Response:
        _check_format(fmt)
        body = _body(request)
        query = body.get("query", body)
        if isinstance(query, str):
            query = _json_field("query", query)
        if not isinstance(query, dict):
            raise _BadRequest({"query": "value must be a valid JSON string."})
        sql, tags, parameters = self._native_query(query)
        if fmt == "api":
            return self._run_api(sql, tags, parameters, query, "ad-hoc")
        return self._run_export(sql, tags, parameters, fmt, "query_result")

    # ------------------------------------------------------------------ admin endpoints

    def admin_counters(self, request: Request) -> Response:
        with self._lock:
            return _json(dict(self.counters))

    def admin_reset(self, request: Request) -> Response:
        with self._lock:
            self.counters.clear()
        return _json({"ok": True})

    def admin_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.set_faults()
        elif request.method in ("PUT", "POST"):
            body = _body(request)
            unknown = set(body) - {"seed", "http_503", "session_expiry_after"}
            if unknown:
                return _json({"errors": {k: "unknown fault" for k in sorted(unknown)}}, 400)
            self.set_faults(**body)
        with self._lock:
            return _json(dict(self.faults))

    def admin_expire(self, request: Request) -> Response:
        with self._lock:
            expired = len(self._sessions)
            self._sessions.clear()
        return _json({"expired": expired})

    def set_faults(
        self, seed: int = 0, http_503: float = 0.0, session_expiry_after: int | None = None
    ) -> None:
        """Set (or with no arguments clear) injected faults; the 503 draw is seeded."""
        with self._lock:
            self._fault_rng = random.Random(seed)
            self.faults = {
                k: v
                for k, v in (
                    ("seed", seed),
                    ("http_503", float(http_503)),
                    ("session_expiry_after", session_expiry_after),
                )
                if v
            }

    # ------------------------------------------------------------------ query execution

    def _native_query(self, query: dict) -> tuple[str, dict, list[dict]]:
        database = query.get("database")
        if database != DATABASE_ID:
            raise _NotFoundError
        native = query.get("native")
        if query.get("type") != "native" or not isinstance(native, dict):
            raise _BadRequest({"query": "the sandbox runs native SQL queries only"})
        sql = native.get("query")
        if not isinstance(sql, str) or not sql.strip():
            raise _BadRequest({"native.query": "value must be a non-blank string."})
        tags = tags_from_dataset(native.get("template-tags"))
        return sql, tags, _parameters(query.get("parameters"))

    def _execute(
        self, sql: str, tags: dict, parameters: list[dict], limit: int | None
    ) -> tuple[list[str], list[list[Any]], str, list[Any]]:
        compiled, binds = compile_sql(sql, tags, tag_values(parameters, tags))
        uri = f"{self.db_path.resolve().as_uri()}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, detect_types=sqlite3.PARSE_DECLTYPES)
        except sqlite3.Error as exc:
            raise QueryError(f"database unavailable: {exc}", "db") from None
        try:
            cursor = conn.execute(compiled, binds)
            names = [d[0] for d in cursor.description or ()]
            raw = cursor.fetchmany(limit) if limit else cursor.fetchall()
        except sqlite3.Error as exc:
            raise QueryError(f"[SQLITE_ERROR] SQL error or missing database ({exc})") from None
        finally:
            conn.close()
        return names, [list(row) for row in raw], compiled, binds

    def _run_api(
        self, sql: str, tags: dict, parameters: list[dict], json_query: dict, context: str
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
            names, rows, compiled, binds = self._execute(sql, tags, parameters, ROW_LIMIT)
        except QueryError as exc:
            return _json(
                {
                    **base,
                    "status": "failed",
                    "error": str(exc),
                    "error_type": exc.error_type,
                    "row_count": 0,
                    "running_time": _ms(t0),
                    "data": {"rows": [], "cols": []},
                },
                202,
            )
        cols = _cols(names, rows)
        data: dict[str, Any] = {
            "rows": rows,
            "cols": cols,
            "native_form": {"query": compiled, "params": binds or None},
            "results_timezone": "UTC",
            "results_metadata": {"columns": cols},
            "insights": None,
        }
        if len(rows) == ROW_LIMIT:
            data["rows_truncated"] = ROW_LIMIT
        with self._lock:
            self.counters["rows_returned"] += len(rows)
        return _json(
            {
                **base,
                "status": "completed",
                "row_count": len(rows),
                "running_time": _ms(t0),
                "data": data,
            },
            202,
        )

    def _run_export(
        self, sql: str, tags: dict, parameters: list[dict], fmt: str, name: str
    ) -> Response:
        try:
            names, rows, _, _ = self._execute(sql, tags, parameters, None)
        except QueryError as exc:
            return _json({"status": "failed", "error": str(exc), "error_type": exc.error_type}, 400)
        with self._lock:
            self.counters["rows_returned"] += len(rows)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
        filename = f"{re.sub(r'[^A-Za-z0-9_-]+', '_', name).strip('_')}_{stamp}.{fmt}"
        if fmt == "json":
            payload = [dict(zip(names, row, strict=True)) for row in rows]
            response = _json(payload)
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(names)
            writer.writerows([[_csv_cell(v) for v in row] for row in rows])
            response = Response(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

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

    Create the warehouse first with :func:`sfsync.sandbox.metabase.load_usage`.
    """
    return MetabaseSandbox(db_path, cards_file, api_key, username, password)


# ---------------------------------------------------------------------- helpers


class _BadRequest(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


class _NotFoundError(HTTPException):
    code = 404
    description = "Not found."


def _pattern(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: ":" + m.group(1).replace("card_", ""), rule)


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


def _body(request: Request) -> dict:
    if request.mimetype == "application/json" or (
        not request.mimetype and request.get_data(cache=True)[:1] in (b"{", b"[")
    ):
        raw = request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise _BadRequest({"body": "value must be valid JSON."}) from None
        if not isinstance(data, dict):
            raise _BadRequest({"body": "value must be a JSON object."})
        return data
    return {key: request.form[key] for key in request.form}


def _json_field(name: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise _BadRequest({name: "value must be a valid JSON string."}) from None


def _parameters(raw: Any) -> list[dict]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = _json_field("parameters", raw)
    if not isinstance(raw, list):
        raise _BadRequest({"parameters": "value must be an array of parameter maps."})
    return raw


def _check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise _BadRequest(
            {"export-format": f"value must be one of: {', '.join(EXPORT_FORMATS)} (sandbox)."}
        )


def _base_type(values: list[Any]) -> str:
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            return "type/Boolean"
        if isinstance(value, int):
            return "type/Integer"
        if isinstance(value, float):
            return "type/Float"
        if isinstance(value, str) and _DATE.match(value):
            return "type/Date"
        return "type/Text"
    return "type/*"


def _cols(names: list[str], rows: list[list[Any]]) -> list[dict]:
    cols = []
    for i, name in enumerate(names):
        base = _base_type([row[i] for row in rows[:50]])
        cols.append(
            {
                "name": name,
                "display_name": name,
                "base_type": base,
                "effective_type": base,
                "source": "native",
                "field_ref": ["field", name, {"base-type": base}],
            }
        )
    return cols


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False, default=_default),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def _text(text: str, status: int) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")
