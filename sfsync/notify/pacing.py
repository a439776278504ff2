"""Pacing of posts: at most one message per ``interval`` seconds per channel.

Slack allows about one message per second per channel (bursts are answered with HTTP 429 and
a ``Retry-After``, which ``sfsync.notify.retry`` honours); pacing keeps sfsync below that in
the first place. The clock and the sleep are injectable, so tests observe the waits without
waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_INTERVAL = 1.0


class Pacer:
    """Spaces calls per key (a channel) at least ``interval`` seconds apart; 0 = no pacing."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if interval < 0:
            raise ValueError("the pacing interval cannot be negative")
        self.interval = float(interval)
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0  # seconds slept in all (for figures)
        self._last: dict[str, float] = {}

    def wait(self, key: str) -> float:
        """Sleep until a call for ``key`` is allowed, then note it; returns the seconds slept."""
        if self.interval <= 0:
            return 0.0
        last = self._last.get(key)
        slept = 0.0
        if last is not None:
            slept = max(0.0, last + self.interval - self.clock())
            if slept > 0:
                self.sleep(slept)
                self.waited += slept
        self._last[key] = self.clock()
        return slept


def no_pacing() -> Pacer:
    """A pacer that never waits (tests, and a notifier built without settings)."""
    return Pacer(0.0)
