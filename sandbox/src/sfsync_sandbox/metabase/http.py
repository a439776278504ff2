"""Request parsing and response building for the Metabase sandbox endpoints."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import date, datetime
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

EXPORT_FORMATS = ("json", "csv", "api")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BadRequest(Exception):
    """A request Metabase would reject with 400 ``{"errors": {...}}``."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


class NotFoundError(HTTPException):
    """Unknown card or database: 404 ``Not found.``"""

    code = 404
    description = "Not found."


def route_pattern(rule: str) -> str:
    """Counter key for a route: ``/api/card/<int:card_id>/query`` -> ``/api/card/:id/query``."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: ":" + m.group(1).replace("card_", ""), rule)


def elapsed_ms(t0: float) -> int:
    """Milliseconds since ``t0`` (``time.perf_counter``)."""
    return int((time.perf_counter() - t0) * 1000)


def request_body(request: Request) -> dict:
    """The request body as a dict, from JSON or form encoding (Metabase accepts both)."""
    if request.mimetype == "application/json" or (
        not request.mimetype and request.get_data(cache=True)[:1] in (b"{", b"[")
    ):
        raw = request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise BadRequest({"body": "value must be valid JSON."}) from None
        if not isinstance(data, dict):
            raise BadRequest({"body": "value must be a JSON object."})
        return data
    return {key: request.form[key] for key in request.form}


def json_field(name: str, raw: str) -> Any:
    """Parse a form field that carries a JSON string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise BadRequest({name: "value must be a valid JSON string."}) from None


def parse_parameters(raw: Any) -> list[dict]:
    """The ``parameters`` list of a query, from a JSON array or a JSON string."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = json_field("parameters", raw)
    if not isinstance(raw, list):
        raise BadRequest({"parameters": "value must be an array of parameter maps."})
    return raw


def check_format(fmt: str) -> None:
    """Reject export formats the sandbox does not serve (xlsx)."""
    if fmt not in EXPORT_FORMATS:
        raise BadRequest(
            {"export-format": f"value must be one of: {', '.join(EXPORT_FORMATS)} (sandbox)."}
        )


def base_type(values: list[Any]) -> str:
    """Metabase base type of a result column, from its first non-null value."""
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


def result_cols(names: list[str], rows: list[list[Any]]) -> list[dict]:
    """The ``data.cols`` metadata of a native query result."""
    cols = []
    for i, name in enumerate(names):
        base = base_type([row[i] for row in rows[:50]])
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


def csv_cell(value: Any) -> Any:
    """A value as Metabase writes it in CSV downloads."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_lines(rows: list[list[Any]]) -> bytes:
    """Rows encoded as CSV lines (UTF-8, ``\\n`` line ends)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


def json_default(value: Any) -> Any:
    """JSON encoder fallback for dates and bytes."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(payload: Any, status: int = 200) -> Response:
    """A JSON response (UTF-8, non-ASCII kept)."""
    return Response(
        json.dumps(payload, ensure_ascii=False, default=json_default),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def text_response(text: str, status: int) -> Response:
    """A plain-text response, as Metabase sends ``Unauthenticated`` and ``Not found.``."""
    return Response(text, status=status, content_type="text/plain; charset=utf-8")
