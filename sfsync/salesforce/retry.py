"""The retry policy of the Salesforce client, and the one function that decides retryability.

Every HTTP call simple-salesforce or sfsync makes goes through :class:`SalesforceSession`
(a ``requests.Session`` subclass). Its ``request()``:

1. puts the current access token into the request (so a handler created before a
   re-authentication still sends the new token),
2. sends the request under the client's :class:`RetryPolicy` (tenacity: exponential backoff
   with jitter, ``Retry-After`` honoured, bounded attempts and total time),
3. on ``401 INVALID_SESSION_ID`` re-authenticates once and repeats the request,
4. on ``403 REQUEST_LIMIT_EXCEEDED`` raises :class:`~sfsync.errors.ApiLimitError`,
5. counts the API calls it sent and keeps the last ``Sforce-Limit-Info`` usage.

Other non-2xx responses (validation errors, 300 multiple matches, 404) are returned
unchanged, so simple-salesforce raises its usual exceptions and our own callers can read
the Salesforce error body.
"""

from __future__ import annotations

import email.utils
import enum
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
import structlog
import tenacity

from sfsync.errors import ApiLimitError, AuthError, ConfigError, SfsyncError, TransientError

log = structlog.get_logger(__name__)

#: Salesforce error codes that mean "try again later" even inside a 4xx response or a
#: per-record result (the writer uses :func:`is_retryable_error_code` for the latter).
RETRYABLE_ERROR_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"}
)
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class Decision(enum.Enum):
    """What to do with the outcome of one HTTP attempt."""

    OK = "ok"  # hand the response to the caller (including 4xx validation errors)
    RETRY = "retry"  # transient: back off and send again
    REAUTH = "reauth"  # the session expired: re-authenticate once, then send again
    LIMIT = "limit"  # the org's API request limit is exhausted: stop the run


class Usage(NamedTuple):
    """Org-wide API usage from the ``Sforce-Limit-Info: api-usage=N/M`` header."""

    used: int
    total: int


class SalesforceApiError(SfsyncError):
    """Salesforce answered a request with an error that retrying does not fix.

    ``status`` is the HTTP status, ``error_code`` the first Salesforce ``errorCode`` (or the
    OAuth ``error``), ``content`` the decoded body (JSON when possible), ``endpoint`` the
    method and path (never the query string, headers or body).
    """

    def __init__(self, response: requests.Response, *, hint: str | None = None) -> None:
        self.response = response
        self.status = response.status_code
        self.content = response_content(response)
        codes = error_codes(self.content)
        self.error_code = codes[0] if codes else None
        self.endpoint = describe_endpoint(response.request.method, response.url)
        detail = error_messages(self.content) or f"HTTP {self.status}"
        super().__init__(f"Salesforce {self.endpoint} failed: {detail}", hint=hint)


def response_content(response: requests.Response) -> Any:
    """The decoded body: parsed JSON when it is JSON, else the text."""
    try:
        return response.json()
    except ValueError:
        return response.text


def error_codes(content: Any) -> list[str]:
    """The Salesforce error codes in a response body (REST list, Bulk, or OAuth shapes)."""
    items = content if isinstance(content, list) else [content]
    codes: list[str] = []
    for item in items:
        if isinstance(item, dict):
            code = item.get("errorCode") or item.get("statusCode") or item.get("error")
            if isinstance(code, str):
                codes.append(code)
    return codes


def error_messages(content: Any, limit: int = 500) -> str:
    """A short human-readable summary of the errors in a response body."""
    items = content if isinstance(content, list) else [content]
    parts: list[str] = []
    for item in items:
        if isinstance(item, dict):
            code = item.get("errorCode") or item.get("statusCode") or item.get("error") or ""
            msg = item.get("message") or item.get("error_description") or ""
            parts.append(f"{code}: {msg}".strip(": "))
        elif isinstance(item, str) and item.strip():
            parts.append(item.strip())
    return "; ".join(parts)[:limit]


def is_retryable_error_code(code: str | None) -> bool:
    """Whether a Salesforce error code (request- or record-level) is transient."""
    return code in RETRYABLE_ERROR_CODES


def decide(outcome: requests.Response | BaseException) -> Decision:
    """The single place that decides what an HTTP outcome means for the retry policy."""
    if isinstance(outcome, BaseException):
        if isinstance(outcome, requests.exceptions.SSLError):
            return Decision.OK  # a certificate problem does not heal by waiting
        if isinstance(
            outcome,
            requests.ConnectionError
            | requests.Timeout
            | requests.exceptions.ChunkedEncodingError
            | requests.exceptions.ContentDecodingError,
        ):
            return Decision.RETRY
        return Decision.OK  # anything else is a bug or a hard failure: let it propagate
    status = outcome.status_code
    if status < 400:
        return Decision.OK
    codes = error_codes(response_content(outcome))
    if status == 401 and "INVALID_SESSION_ID" in codes:
        return Decision.REAUTH
    if "REQUEST_LIMIT_EXCEEDED" in codes:
        return Decision.LIMIT
    if status in RETRYABLE_STATUS or any(is_retryable_error_code(c) for c in codes):
        return Decision.RETRY
    return Decision.OK


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """The ``Retry-After`` header as seconds (delta-seconds or an HTTP date), if present."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def describe_endpoint(method: str | None, url: str | None) -> str:
    """``METHOD /path`` of a request, without query string (no SOQL, no secrets)."""
    path = urlsplit(url or "").path or "/"
    return f"{(method or 'GET').upper()} {path}"


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with jitter; ``Retry-After`` wins when the server sends it.

    ``sleep`` and ``clock`` (monotonic seconds, for the ``max_seconds`` bound) are injectable
    so tests can observe the waits without waiting. ``salesforce.retry`` in ``sfsync.yaml``
    sets the attempts and waits (:meth:`from_settings`).
    """

    max_attempts: int = 6
    max_seconds: float = 300.0
    initial_wait: float = 0.5
    max_wait: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    @classmethod
    def from_settings(cls, retry: Any, **overrides: Any) -> RetryPolicy:
        """A policy from a ``retry`` settings block (``attempts``, ``wait_initial_seconds``,
        ``wait_max_seconds``; None or unset keys keep the defaults). The jitter is at most the
        first wait, so tiny waits stay tiny."""
        policy = cls(**overrides)
        attempts = getattr(retry, "attempts", None)
        initial = getattr(retry, "wait_initial_seconds", None)
        longest = getattr(retry, "wait_max_seconds", None)
        if attempts is not None:
            policy.max_attempts = int(attempts)
        if initial is not None:
            policy.initial_wait = float(initial)
            policy.jitter = min(policy.jitter, float(initial))
        if longest is not None:
            policy.max_wait = float(longest)
        return policy

    def wait_seconds(self, retry_state: tenacity.RetryCallState) -> float:
        """Seconds to wait before the next attempt."""
        response = None
        if retry_state.outcome is not None and not retry_state.outcome.failed:
            response = retry_state.outcome.result()
        server_says = retry_after_seconds(response)
        if server_says is not None:
            return min(server_says, self.max_retry_after)
        exponent = max(0, retry_state.attempt_number - 1)
        backoff = min(self.max_wait, self.initial_wait * 2**exponent)
        return backoff + random.uniform(0, self.jitter)

    def retrying(self) -> tenacity.Retrying:
        """A fresh tenacity controller for one logical request."""
        started = self.clock()
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts)
            | (lambda _state: self.clock() - started >= self.max_seconds),
            wait=self.wait_seconds,
            retry=tenacity.retry_if_result(lambda r: decide(r) is Decision.RETRY)
            | tenacity.retry_if_exception(lambda e: decide(e) is Decision.RETRY),
            sleep=lambda seconds: self.sleep(seconds),
            before_sleep=_log_retry,
            retry_error_callback=_give_up,
            reraise=False,
        )


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    method, url = retry_state.args[:2] if len(retry_state.args) >= 2 else (None, None)
    outcome = retry_state.outcome
    reason = (
        type(outcome.exception()).__name__
        if outcome is not None and outcome.failed
        else f"HTTP {outcome.result().status_code}"
        if outcome is not None
        else "?"
    )
    log.warning(
        "salesforce_request_retried",
        endpoint=describe_endpoint(method, url),
        attempt=retry_state.attempt_number,
        reason=reason,
        wait_seconds=round(retry_state.upcoming_sleep, 3),
    )


def _give_up(retry_state: tenacity.RetryCallState) -> Any:
    method, url = retry_state.args[:2]
    endpoint = describe_endpoint(method, url)
    outcome = retry_state.outcome
    assert outcome is not None
    elapsed = retry_state.seconds_since_start or 0.0
    if outcome.failed:
        exc = outcome.exception()
        reason = f"{type(exc).__name__}"
    else:
        response = outcome.result()
        summary = error_messages(response_content(response), limit=200)
        reason = f"HTTP {response.status_code}" + (f" {summary}" if summary else "")
        response.close()
    raise TransientError(
        f"Salesforce {endpoint} still failing after {retry_state.attempt_number} attempts "
        f"in {elapsed:.1f} s: {reason}",
        hint="the service is unavailable or overloaded; re-run the job later",
    )


_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def parse_limit_info(header: str | None) -> Usage | None:
    """Parse ``Sforce-Limit-Info: api-usage=18/5000[; per-app-api-usage=…]``."""
    if not header:
        return None
    match = _USAGE.search(header)
    return Usage(int(match.group(1)), int(match.group(2))) if match else None


def _counted_kind(path: str) -> str | None:
    """Which kind of API call a path is, or None when it does not count (OAuth, admin)."""
    if "/services/oauth2/" in path or "/services/" not in path:
        return None
    if "/services/Soap/u/" in path:
        return None  # the SOAP login itself
    match = re.search(r"/services/data/v[\d.]+/(?P<rest>[^?]*)", path)
    if not match:
        return "other"
    parts = match.group("rest").strip("/").split("/")
    head = parts[0] or "root"
    if head == "jobs" and len(parts) > 1:
        return f"jobs/{parts[1]}"
    if head in ("query", "queryAll") and len(parts) > 1:
        return f"{head}More"
    return head


class SalesforceSession(requests.Session):
    """A ``requests.Session`` for one Salesforce org: retries, re-auth and call counting.

    ``reauthenticate`` is called (at most once per request) when Salesforce answers
    ``INVALID_SESSION_ID``; it must return the new access token. ``None`` means the session
    cannot be renewed (an access token given directly) and the 401 becomes an AuthError.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        timeout: float | tuple[float, float] = (15.0, 300.0),
    ) -> None:
        super().__init__()
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.access_token: str | None = None
        self.reauthenticate: Callable[[], str] | None = None
        self.api_calls = 0
        self.calls_by_kind: Counter[str] = Counter()
        self.api_usage: Usage | None = None
        self._lock = threading.Lock()

    # -- the one entry point every simple-salesforce call goes through -------------------
    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        method = method.decode() if isinstance(method, bytes) else method
        url = url.decode() if isinstance(url, bytes) else url
        kwargs.setdefault("timeout", self.timeout)
        reauthenticated = False
        while True:
            kwargs["headers"] = self._with_current_token(kwargs.get("headers"))
            try:
                response = self.policy.retrying()(self._send_once, method, url, *args, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise ConfigError(
                    f"TLS verification failed for {describe_endpoint(method, url)} on "
                    f"{urlsplit(url).netloc}: {type(exc).__name__}",
                    hint="point REQUESTS_CA_BUNDLE at the CA bundle that signed the server "
                    "certificate",
                ) from None
            decision = decide(response)
            if decision is Decision.REAUTH:
                endpoint = describe_endpoint(method, url)
                if self.reauthenticate is None or reauthenticated:
                    response.close()
                    raise AuthError(
                        f"Salesforce rejected the session (INVALID_SESSION_ID) on {endpoint}",
                        hint="the access token expired or was revoked; set a new "
                        "SFSYNC_SF_ACCESS_TOKEN or configure the JWT bearer flow "
                        "(SFSYNC_SF_CONSUMER_KEY, SFSYNC_SF_PRIVATE_KEY_FILE, SFSYNC_SF_USERNAME) "
                        "so sfsync can log in again by itself",
                    )
                log.info("salesforce_session_renewed", endpoint=endpoint)
                response.close()
                self.access_token = self.reauthenticate()
                reauthenticated = True
                continue
            if decision is Decision.LIMIT:
                endpoint = describe_endpoint(method, url)
                detail = error_messages(response_content(response), limit=300)
                response.close()
                raise ApiLimitError(
                    f"Salesforce refused {endpoint}: the org's API request limit is "
                    f"exhausted ({detail or 'REQUEST_LIMIT_EXCEEDED'})",
                    hint="no further calls were made; wait until the 24-hour API window frees "
                    "requests or ask the Salesforce admin to raise the limit, then re-run",
                )
            return response

    def _send_once(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kind = _counted_kind(urlsplit(url).path)
        try:
            response = super().request(method, url, *args, **kwargs)
        finally:
            if kind is not None:
                with self._lock:
                    self.api_calls += 1
                    self.calls_by_kind[kind] += 1
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            self.api_usage = usage
        return response

    def _with_current_token(self, headers: Any) -> dict[str, str] | None:
        """Replace a stale token in the request headers by the current one."""
        if headers is None or self.access_token is None:
            return headers
        headers = dict(headers)
        auth = headers.get("Authorization")
        if isinstance(auth, str) and auth.startswith("Bearer "):
            headers["Authorization"] = f"Bearer {self.access_token}"
        if "X-SFDC-Session" in headers:  # Bulk API 1.0
            headers["X-SFDC-Session"] = self.access_token
        return headers
