"""Metabase source: saved questions (cards) and native SQL through Metabase's export endpoints.

Why the export endpoints: ``POST /api/card/:id/query`` (what the Metabase UI uses) silently
stops at 2,000 rows; ``POST /api/card/:id/query/json`` and ``POST /api/dataset/json`` return the
whole result (up to the download limit, 1,048,575 rows by default). Those endpoints take their
arguments form-encoded, each value a JSON string (``parameters=[...]``, ``query={...}``), and
answer with CSV (``/query/csv``, what jobs use by default: a quarter of the JSON's bytes, decoded by Arrow
into text columns, :mod:`sfsync.sources.csv_rows`) or a JSON list of row objects
(``/query/json``, :mod:`sfsync.sources.json_rows`). With ``format_rows=false`` both carry the
database's column names and unformatted values. A query that fails can still answer 200/202
with a JSON error object, even when CSV was asked for; that is a SourceError with Metabase's
message.

Authentication: an API key (``x-api-key`` header) or a username/password session
(``POST /api/session`` → ``X-Metabase-Session``); a session that expires mid-run (401) logs in
again once. Timeouts and transient failures (connection errors, 5xx) are retried with
exponential backoff (``metabase.retry``: 4 attempts, waits from 0.5 s doubling up to 10 s by
default); 4xx are not retried.

Deadlines: ``timeout_seconds`` bounds each socket read; ``deadline_seconds`` (default ten times
that) bounds one whole request, retries included: the body is streamed and a server that
drips data or stalls fails with a TransientError naming ``metabase.deadline_seconds``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import requests
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.stop import stop_base

from sfsync.errors import AuthError, ConfigError, ConfigProblem, SourceError, TransientError
from sfsync.http_deadline import Deadline, DeadlineExceeded, send_within
from sfsync.log import redact_text, register_secrets
from sfsync.sources.csv_rows import ExportError, csv_frame
from sfsync.sources.json_rows import records_frame

log = structlog.get_logger(__name__)

QUERY_ENDPOINT_ROW_CAP = 2000  # /api/card/:id/query and /api/dataset stop here, silently
EXPORT_ROW_CAP = 1_048_575  # default download limit of the export endpoints

# template-tag type -> parameter type the query processor expects for it
_PARAMETER_TYPES = {"text": "category", "number": "number/=", "date": "date/single"}


def _secret(value: Any) -> str | None:
    """The plain value of a pydantic SecretStr, a str, or None."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else str(value)


def is_retriable(exc: BaseException) -> bool:
    """The one place that decides what a Metabase request retries: transient failures only
    (a passed total deadline is final: it is the most a request may take)."""
    if isinstance(exc, DeadlineExceeded):
        return False
    return isinstance(exc, TransientError | requests.ConnectionError | requests.Timeout)


class MetabaseClient:
    """A small Metabase API client: authentication, retries, and the export endpoints."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = 60,
        deadline_seconds: float | None = None,
        max_attempts: int = 4,
        wait_initial_seconds: float = 0.5,
        wait_max_seconds: float = 10.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url:
            raise ConfigError(
                [ConfigProblem("sfsync.yaml", "metabase.url", "Metabase URL is not set")],
                hint="set metabase.url or SFSYNC_METABASE_URL",
            )
        if not api_key and not (username and password):
            raise ConfigError(
                [
                    ConfigProblem(
                        "sfsync.yaml",
                        "metabase",
                        "no Metabase credentials: set api_key, or username and password",
                    )
                ],
                hint="set SFSYNC_METABASE_API_KEY, or metabase.username and metabase.password",
            )
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._username = username
        self._password = password
        self._session_id: str | None = None
        self.timeout = timeout_seconds
        self.deadline = float(deadline_seconds or 10 * timeout_seconds)
        self.max_attempts = max_attempts
        self.wait_initial = wait_initial_seconds
        self.wait_max = wait_max_seconds
        self.http = session or requests.Session()
        self._sleep = sleep
        self.api_calls = 0

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> MetabaseClient:
        """Build a client from the ``metabase`` section of the settings (secrets as SecretStr);
        ``metabase.retry`` sets the attempts and backoff (unset keys keep the defaults)."""
        retry = getattr(settings, "retry", None)
        for key, name in (
            ("max_attempts", "attempts"),
            ("wait_initial_seconds", "wait_initial_seconds"),
            ("wait_max_seconds", "wait_max_seconds"),
        ):
            value = getattr(retry, name, None)
            if value is not None:
                kwargs.setdefault(key, value)
        return cls(
            str(getattr(settings, "url", "") or ""),
            api_key=_secret(getattr(settings, "api_key", None)),
            username=getattr(settings, "username", None),
            password=_secret(getattr(settings, "password", None)),
            timeout_seconds=float(getattr(settings, "timeout_seconds", 60) or 60),
            deadline_seconds=getattr(settings, "deadline_seconds", None),
            **kwargs,
        )

    # --- HTTP -------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        if self._api_key:
            return {"x-api-key": self._api_key}
        if self._session_id is None:
            self._login()
        return {"X-Metabase-Session": self._session_id or ""}

    def _login(self) -> None:
        response = self._send(
            "POST",
            "/api/session",
            json={
                "username": self._username,
                "password": self._password,
            },
        )
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"Metabase at {redact_text(self.url)} refused the login of user {self._username!r}",
                hint="check metabase.username and metabase.password (or use an API key)",
            )
        self._raise_for_status(response, "/api/session")
        self._session_id = response.json().get("id")
        register_secrets([self._session_id])

    def _send(self, method: str, path: str, headers: dict | None = None, **kw: Any):
        """One HTTP request with retries of transient failures, all within the deadline."""
        deadline = Deadline(self.deadline, "Metabase", "metabase.deadline_seconds")
        what = f"{method} {path}"

        def attempt() -> requests.Response:
            self.api_calls += 1
            response = send_within(
                lambda **opts: self.http.request(
                    method, self.url + path, headers=headers, **opts, **kw
                ),
                deadline,
                what,
                self.timeout,
            )
            if response.status_code >= 500:
                raise TransientError(f"Metabase answered {response.status_code} to {method} {path}")
            return response

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "metabase_request_retried",
                path=path,
                attempt=state.attempt_number,
                error=type(exc).__name__,
            )

        backoff = wait_exponential(multiplier=self.wait_initial, max=self.wait_max)
        retrying = Retrying(
            retry=retry_if_exception(is_retriable),
            # never sleep past the deadline: the next attempt would fail at once
            wait=lambda state: min(backoff(state), max(deadline.remaining(), 0.0)),
            stop=stop_after_attempt(self.max_attempts) | _stop_at(deadline),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except DeadlineExceeded:
            raise
        except TransientError as exc:
            raise SourceError(
                f"{exc.message} after {self.max_attempts} attempts",
                hint="Metabase or its database is failing; try again later",
            ) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SourceError(
                f"cannot reach Metabase at {redact_text(self.url)} ({type(exc).__name__}) "
                f"after {self.max_attempts} attempts",
                hint="check metabase.url / SFSYNC_METABASE_URL and the network",
            ) from None

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        """An authenticated request; a 401 with a session logs in again once and retries."""
        response = self._send(method, path, headers=self._auth_headers(), **kw)
        if response.status_code == 401 and not self._api_key:
            log.info("metabase_session_renewed")
            self._session_id = None
            response = self._send(method, path, headers=self._auth_headers(), **kw)
        if response.status_code in (401, 403):
            how = "API key" if self._api_key else "session"
            raise AuthError(
                f"Metabase refused the {how} ({response.status_code}) for {method} {path}",
                hint="check SFSYNC_METABASE_API_KEY (or the username/password) and its "
                "permissions on the collection",
            )
        return response

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        if response.status_code < 400:
            return
        body = response.text[:300].strip()
        raise SourceError(f"Metabase answered {response.status_code} to {what}: {body}")

    # --- cards ------------------------------------------------------------------------------

    def card(self, card_id: int) -> dict:
        """The card's definition (``GET /api/card/:id``); a missing card is a SourceError."""
        response = self.request("GET", f"/api/card/{card_id}")
        if response.status_code == 404:
            raise SourceError(
                f"Metabase card {card_id} does not exist (or this user cannot see it)",
                hint="check the card id in the job YAML against the question's URL "
                "(/question/<id>-…)",
            )
        self._raise_for_status(response, f"GET /api/card/{card_id}")
        return response.json()

    def card_parameters(self, card: dict, values: Mapping[str, Any]) -> list[dict]:
        """Metabase parameter objects for ``values``, keyed by template-tag name.

        A value for a tag the card does not have is a ConfigError listing the tags it has, so
        that a typo in the job never runs the card unfiltered.
        """
        native = (card.get("dataset_query") or {}).get("native") or {}
        tags: dict[str, dict] = native.get("template-tags") or {}
        declared = {p.get("slug"): p for p in card.get("parameters") or [] if p.get("slug")}
        unknown = sorted(set(values) - set(tags) - set(declared))
        if unknown:
            raise SourceError(
                f"Metabase card {card.get('id')} has no parameter(s) {', '.join(unknown)}",
                hint=f"its parameters are: {', '.join(sorted(set(tags) | set(declared))) or 'none'}",
            )
        params = []
        for name, value in values.items():
            tag = tags.get(name, {})
            if name in declared and declared[name].get("target"):
                spec = declared[name]
                param = {"type": spec.get("type", "category"), "target": spec["target"]}
                if spec.get("id"):
                    param["id"] = spec["id"]
            else:
                kind = "dimension" if tag.get("type") == "dimension" else "variable"
                param = {
                    "type": _PARAMETER_TYPES.get(tag.get("type", "text"), "category"),
                    "target": [kind, ["template-tag", name]],
                }
            param["value"] = value
            params.append(param)
        return params

    def card_rows(
        self, card_id: int, parameters: Mapping[str, Any] | None = None, *, fmt: str = "json"
    ) -> pd.DataFrame:
        """Run a saved question with template-tag ``parameters`` through the export endpoint
        (``fmt``: ``csv``, decoded by Arrow into text columns, or ``json``)."""
        card = self.card(card_id)
        params = self.card_parameters(card, parameters or {})
        path = f"/api/card/{card_id}/query/{fmt}"
        response = self.request(
            "POST", path, data={"parameters": json.dumps(params), "format_rows": "false"}
        )
        if response.status_code == 404:
            raise SourceError(f"Metabase card {card_id} does not exist")
        frame = self._export_frame(response, fmt, f"card {card_id}")
        log.info("metabase_card_read", card=card_id, rows=len(frame))
        return frame

    def native_rows(
        self,
        database_id: int,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        fmt: str = "json",
    ) -> pd.DataFrame:
        """Run native SQL (with ``{{name}}`` text tags) through ``POST /api/dataset/:format``."""
        parameters = dict(parameters or {})
        tags = {
            name: {"id": name, "name": name, "display-name": name, "type": "text"}
            for name in parameters
        }
        query = {
            "database": database_id,
            "type": "native",
            "native": {"query": sql, "template-tags": tags},
            "parameters": [
                {"type": "category", "target": ["variable", ["template-tag", n]], "value": v}
                for n, v in parameters.items()
            ],
        }
        response = self.request(
            "POST", f"/api/dataset/{fmt}", data={"query": json.dumps(query), "format_rows": "false"}
        )
        frame = self._export_frame(response, fmt, f"native query on database {database_id}")
        log.info("metabase_native_read", database=database_id, rows=len(frame))
        return frame

    def _export_frame(self, response: requests.Response, fmt: str, what: str) -> pd.DataFrame:
        self._raise_for_status(response, what)
        if fmt == "csv":
            try:  # Arrow reads the body's bytes as they are (no str copy of the whole export)
                frame = csv_frame(response.content)
            except ExportError as exc:
                if exc.rows_before is None:
                    raise SourceError(f"Metabase could not run {what}: {exc.message}") from None
                raise SourceError(
                    f"Metabase failed while exporting {what}, after about {exc.rows_before:,} "
                    f"rows: {exc.message}",
                    hint="the query failed mid-export (a timeout or an error in the database); "
                    "nothing was used — try again, or narrow the question",
                ) from None
            except ValueError as exc:
                raise SourceError(
                    f"Metabase returned something that is not CSV for {what} ({exc})"
                ) from None
        else:
            try:  # row by row into columns, not a dict per row for the whole export
                payload = records_frame(response.content)
            except ValueError:
                raise SourceError(
                    f"Metabase returned something that is not JSON for {what}"
                ) from None
            if isinstance(payload, dict):
                # a failed query comes back as an object with "error" (often with HTTP 202)
                message = payload.get("error") or payload.get("message") or str(payload)[:300]
                raise SourceError(f"Metabase could not run {what}: {message}")
            frame = (
                payload if isinstance(payload, pd.DataFrame) else pd.DataFrame.from_records(payload)
            )
        raise_if_truncated(len(frame), EXPORT_ROW_CAP, what)
        return frame


def _stop_at(deadline: Deadline) -> Any:
    """A tenacity stop condition: no attempt after the deadline has passed."""

    class _StopAtDeadline(stop_base):
        def __call__(self, retry_state: RetryCallState) -> bool:
            return deadline.remaining() <= 0

    return _StopAtDeadline()


def raise_if_truncated(rows: int, cap: int, what: str) -> None:
    """A result of exactly ``cap`` rows was cut off by Metabase: refuse it rather than use half."""
    if rows == cap:
        raise SourceError(
            f"Metabase returned exactly {cap:,} rows for {what}: the result was truncated",
            hint="narrow the question (fewer months, a filter) or raise Metabase's download "
            "row limit",
        )


def query_response_frame(payload: dict, what: str) -> pd.DataFrame:
    """Rows of a non-export ``/query`` response (``data.rows`` + ``data.cols``).

    These endpoints stop at 2,000 rows without saying so in older versions; a truncated result
    is an error, never silently half the data.
    """
    data = payload.get("data") or {}
    columns = [c.get("name") for c in data.get("cols") or []]
    rows = data.get("rows") or []
    if data.get("rows_truncated") or payload.get("row_count") == QUERY_ENDPOINT_ROW_CAP:
        raise SourceError(
            f"Metabase truncated the result of {what} at {QUERY_ENDPOINT_ROW_CAP:,} rows",
            hint="read it through the export endpoint (/query/json) instead",
        )
    return pd.DataFrame.from_records(rows, columns=columns)
