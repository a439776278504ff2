"""When the nightly job writes its periodic score-history snapshot (pure: dates in, keys out).

``history.every: weekly`` (with a ``weekday``): the first run of an ISO week on or after that
weekday writes the week's snapshot, key suffix ``YYYY-Www``; ``monthly`` (with a ``day``): the
first run of a month on or after that day, suffix ``YYYY-MM``; ``off``: never. A period whose
snapshot was written stays done for the rest of the period, a re-run on the same night
included (a re-run writes nothing new); should the state store forget it, the records are
upserted on the same keys again, never created twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sfsync.calendar import shift_months_clamped
from sfsync.jobs import HistorySpec


@dataclass(frozen=True)
class HistoryDue:
    """The snapshot a run writes: its period key suffix and the date of the previous period's
    snapshot (whose band is the ``previous_band``)."""

    period: str
    previous_day: date


def period_of(as_of: date, spec: HistorySpec) -> str | None:
    """The history period ``as_of`` falls in (``2025-W11`` / ``2025-03``; None when off)."""
    if spec.every == "weekly":
        year, week, _ = as_of.isocalendar()
        return f"{year}-W{week:02d}"
    if spec.every == "monthly":
        return f"{as_of.year}-{as_of.month:02d}"
    return None


def history_due(as_of: date, spec: HistorySpec, written_on: date | None) -> HistoryDue | None:
    """The snapshot a run as of ``as_of`` writes, or None.

    ``written_on``: the as-of date whose run already wrote this period's snapshot (None: not
    written yet). Due on or after the configured weekday / day of the period when not yet
    written."""
    period = period_of(as_of, spec)
    if period is None:
        return None
    if spec.every == "weekly":
        reached = as_of.weekday() >= spec.weekday_number
        previous_day = as_of - timedelta(days=7)
    else:
        reached = as_of.day >= spec.day
        previous_day = shift_months_clamped(as_of, -1)
    if not reached:
        return None
    if written_on is not None:
        return None
    return HistoryDue(period, previous_day)
