"""Counters (API calls, records written) and seeded fault injection for the sandbox org."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DAILY_API_MAX = 100_000


@dataclass
class FaultSettings:
    """What can go wrong, and how often. Probabilities are per request (503, dropped
    connection) or per record write (row lock); ``session_expiry_after`` expires every
    session after that many more API calls; ``daily_api_remaining`` sets the remaining quota.

    ``lose_response`` (``"METHOD route"``, e.g. ``"POST composite/sobjects"``) with
    ``lose_response_times`` (n): the next n such requests are carried out and committed, then
    the connection drops before the answer is sent, as when a network fails after the org did
    the work. A client that sends the request again meets what the first one did (a second
    insert of a Campaign member fails with DUPLICATE_VALUE)."""

    seed: int = 0
    http_503: float = 0.0
    lock_row: float = 0.0
    drop_connection: float = 0.0
    session_expiry_after: int | None = None
    daily_api_remaining: int | None = None
    lose_response: str | None = None
    lose_response_times: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultSettings:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        settings = cls(**data)
        for name in ("http_503", "lock_row", "drop_connection"):
            if not 0.0 <= float(getattr(settings, name)) <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        if int(settings.lose_response_times) < 0:
            raise ValueError("lose_response_times must be >= 0")
        return settings


@dataclass
class Counters:
    """What clients did to the org since the last reset."""

    calls: Counter = field(default_factory=Counter)  # "GET query" -> n
    api_calls: int = 0
    records_written: int = 0
    writes_per_record: Counter = field(default_factory=Counter)
    records_read: Counter = field(default_factory=Counter)  # "Task" -> rows sent by queries
    faults: Counter = field(default_factory=Counter)  # "http_503" -> n injected

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "api_calls": self.api_calls,
            "records_written": self.records_written,
            "writes_per_record": dict(self.writes_per_record),
            "records_read": dict(self.records_read),
            "faults": dict(self.faults),
        }


class FaultsAndCounters:
    """Thread-safe counters, the daily API quota, and the seeded fault dice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters = Counters()
        self.settings = FaultSettings()
        self._rng = random.Random(0)
        self.api_used = 0
        self.api_max = DAILY_API_MAX
        self._calls_until_expiry: int | None = None
        self._responses_to_lose = 0

    # -- settings -------------------------------------------------------------------
    def set_faults(self, settings: FaultSettings) -> None:
        with self._lock:
            self.settings = settings
            self._rng = random.Random(settings.seed)
            self._calls_until_expiry = settings.session_expiry_after
            self._responses_to_lose = int(settings.lose_response_times)
            if settings.daily_api_remaining is not None:
                self.api_used = max(0, self.api_max - int(settings.daily_api_remaining))

    def expire_now(self) -> bool:
        """True (once) when faults were set with ``session_expiry_after=0``."""
        with self._lock:
            if self._calls_until_expiry == 0:
                self._calls_until_expiry = None
                self.counters.faults["session_expiry"] += 1
                return True
        return False

    def clear_faults(self) -> None:
        with self._lock:
            self.settings = FaultSettings()
            self._calls_until_expiry = None
            self._responses_to_lose = 0
            self.api_used = 0

    def reset_counters(self) -> None:
        with self._lock:
            self.counters = Counters()

    # -- per request ----------------------------------------------------------------
    def roll_request_fault(self) -> str | None:
        """``"drop_connection"``, ``"http_503"`` or None, drawn from the seeded dice."""
        with self._lock:
            s = self.settings
            if s.drop_connection and self._rng.random() < s.drop_connection:
                self.counters.faults["drop_connection"] += 1
                return "drop_connection"
            if s.http_503 and self._rng.random() < s.http_503:
                self.counters.faults["http_503"] += 1
                return "http_503"
        return None

    def lose_this_response(self, endpoint: str) -> bool:
        """True (the next ``lose_response_times`` times) for a request to ``endpoint``
        (``"METHOD route"``) whose answer must be lost after the work is done."""
        with self._lock:
            if self._responses_to_lose <= 0 or endpoint != self.settings.lose_response:
                return False
            self._responses_to_lose -= 1
            self.counters.faults["lose_response"] += 1
            return True

    def quota_exhausted(self) -> bool:
        with self._lock:
            return self.api_used >= self.api_max

    def count_api_call(self, endpoint: str) -> bool:
        """Count one API call; True when sessions must expire after it (the K-th call)."""
        with self._lock:
            self.counters.calls[endpoint] += 1
            self.counters.api_calls += 1
            self.api_used += 1
            if self._calls_until_expiry is not None:
                self._calls_until_expiry -= 1
                if self._calls_until_expiry <= 0:
                    self._calls_until_expiry = None
                    self.counters.faults["session_expiry"] += 1
                    return True
        return False

    def count_other(self, endpoint: str) -> None:
        with self._lock:
            self.counters.calls[endpoint] += 1

    def roll_lock_row(self) -> bool:
        with self._lock:
            if self.settings.lock_row and self._rng.random() < self.settings.lock_row:
                self.counters.faults["lock_row"] += 1
                return True
        return False

    def count_read(self, sobject: str, records: int) -> None:
        """Rows a query sent (a REST page or a Bulk 2.0 result page)."""
        with self._lock:
            self.counters.records_read[sobject] += records

    def count_write(self, record_id: str) -> None:
        with self._lock:
            self.counters.records_written += 1
            self.counters.writes_per_record[record_id] += 1

    def limit_header(self) -> str:
        return f"api-usage={min(self.api_used, self.api_max)}/{self.api_max}"
