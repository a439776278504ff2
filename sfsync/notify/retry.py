"""How the Slack client retries: slack_sdk retry handlers built from ``slack.retry``.

- HTTP 429 (Slack did not process the call): wait the ``Retry-After`` Slack sent plus up to
  one second of jitter, then send again; 4 attempts in all by default.
- 5xx and connection errors (reads only: posts never repeat them, see
  ``sfsync.notify.delivery.posting_client``): one more attempt after 0.5 s plus jitter.

``slack.retry`` (``attempts``, ``wait_initial_seconds``, ``wait_max_seconds``) changes these:
``attempts`` bounds both kinds, ``wait_initial_seconds`` is the first backoff wait (and the most
jitter), ``wait_max_seconds`` caps every wait, a ``Retry-After`` included. ``sleep`` is
injectable so tests can observe the waits without waiting. Everything here uses slack_sdk's
public ``RetryHandler`` / ``RetryIntervalCalculator`` interfaces.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

RATE_LIMIT_RETRIES = 3
ERROR_RETRIES = 1
WAIT_INITIAL = 0.5
JITTER = 1.0


class Backoff(RetryIntervalCalculator):
    """Exponential backoff with jitter: ``initial × 2^attempt`` (at most ``longest``) plus up to
    ``jitter`` seconds."""

    def __init__(self, initial: float, longest: float | None, jitter: float) -> None:
        self.initial = initial
        self.longest = longest
        self.jitter = jitter

    def calculate_sleep_duration(self, current_attempt: int) -> float:
        wait = self.initial * 2**current_attempt + random.uniform(0, self.jitter)
        return wait if self.longest is None else min(wait, self.longest)


class RetryAfterHandler(RateLimitErrorRetryHandler):
    """HTTP 429: wait the ``Retry-After`` Slack sent (at most ``longest`` when set) plus jitter."""

    def __init__(
        self,
        max_retry_count: int,
        *,
        longest: float | None = None,
        jitter: float = JITTER,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(max_retry_count)
        self.longest = longest
        self.jitter = jitter
        self.sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        state.next_attempt_requested = True
        wait = retry_after(response) + random.uniform(0, self.jitter)
        self.sleep(wait if self.longest is None else min(wait, self.longest))
        state.increment_current_attempt()


class _Sleeping(RetryHandler):
    """Mixin: the base handler's backoff, slept through an injected ``sleep``."""

    sleep: Callable[[float], None]

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        self.sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        state.increment_current_attempt()


class ConnectionRetry(_Sleeping, ConnectionErrorRetryHandler):
    """Connection errors (reset, refused, unreachable) with backoff."""


class ServerErrorRetry(_Sleeping, ServerErrorRetryHandler):
    """HTTP 500 and 503 with backoff."""


def retry_after(response: HttpResponse) -> float:
    """The ``Retry-After`` seconds of a 429 answer (1 when absent or unreadable)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return 1.0
    return 1.0


def retry_handlers(
    retry: Any = None,
    *,
    rate_limit_retries: int = RATE_LIMIT_RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RetryHandler]:
    """The handlers of a Slack client for ``slack.retry`` (None: the defaults above)."""
    attempts = getattr(retry, "attempts", None)
    initial = getattr(retry, "wait_initial_seconds", None)
    longest = getattr(retry, "wait_max_seconds", None)
    rate_limited = rate_limit_retries if attempts is None else int(attempts) - 1
    errors = ERROR_RETRIES if attempts is None else min(ERROR_RETRIES, int(attempts) - 1)
    first = WAIT_INITIAL if initial is None else float(initial)
    jitter = JITTER if initial is None else min(JITTER, float(initial))
    backoff = Backoff(first, longest, jitter)
    connection = ConnectionRetry(max_retry_count=errors, interval_calculator=backoff)
    server = ServerErrorRetry(max_retry_count=errors, interval_calculator=backoff)
    connection.sleep = server.sleep = sleep
    return [
        connection,
        RetryAfterHandler(rate_limited, longest=longest, jitter=jitter, sleep=sleep),
        server,
    ]
