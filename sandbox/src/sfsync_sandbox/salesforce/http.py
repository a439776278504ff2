"""HTTP helpers shared by the sandbox's route modules: request context, errors, JSON responses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

JSON_TYPE = "application/json;charset=UTF-8"


class ApiError(Exception):
    """An error response in Salesforce's shape: a JSON array of {message, errorCode[, fields]}."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def response(self) -> Response:
        error: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            error["fields"] = self.fields
        return json_response([error], self.status)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type=JSON_TYPE,
        headers=headers,
    )


def empty_response(status: int = 204) -> Response:
    return Response(b"", status=status)


@dataclass
class Ctx:
    """One authenticated API request."""

    request: Request
    user_id: str
    version: str

    def json(self) -> Any:
        """The JSON body, or a JSON_PARSER_ERROR."""
        raw = self.request.get_data(as_text=True)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ApiError(
                400,
                "JSON_PARSER_ERROR",
                f"Unexpected character: {exc.msg} at [line:{exc.lineno}, column:{exc.colno}]",
            ) from None

    def base(self) -> str:
        return f"/services/data/v{self.version}"
