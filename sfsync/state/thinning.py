"""Which score-snapshot dates the state store keeps (pure: dates in, dates out).

The rule, for the snapshot dates of one scorecard and a reference day ``today`` (the as-of
date of the run that prunes):

* every date younger than ``daily_days`` (age = ``today`` − date, in days) is kept;
* from ``daily_days`` to ``weekly_days``: the latest remaining date of each ISO week;
* older: the latest remaining date of each calendar month; after ``monthly_days`` (when set)
  nothing.

Whatever the settings say, every date younger than ``protect_days`` is kept: the jobs' trend
baseline (the latest score at least ``trend_days`` older) and the output guard's baseline
(``recent_days`` of runs) must stay exactly what they would be without pruning. A date's
week or month is judged among the dates that remain, so pruning again keeps what it kept
(idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

# Days beyond the longest trend window kept daily: the trend baseline of the runs of the next
# week stays exact even if pruning runs daily and a run is missed.
BASELINE_MARGIN_DAYS = 7


@dataclass(frozen=True)
class ThinningRule:
    """The ages (days) at which daily snapshots become weekly, weekly monthly, monthly gone."""

    daily_days: int = 45
    weekly_days: int = 400
    monthly_days: int | None = None
    protect_days: int = 0  # never thin what is younger (the jobs' baselines)

    @property
    def effective_daily_days(self) -> int:
        """``daily_days``, raised to ``protect_days`` when that is longer."""
        return max(self.daily_days, self.protect_days)


def protected_days(trend_days: Iterable[int], guard_days: Iterable[int]) -> int:
    """The age below which nothing may be thinned: the longest trend window plus a margin,
    and the longest output-guard window (plus a day: the window counts back from the next
    run)."""
    trend = max(trend_days, default=0)
    guard = max(guard_days, default=0)
    return max(trend + BASELINE_MARGIN_DAYS, guard + 1)


def _week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso[0], iso[1]


def dates_to_keep(dates: Iterable[date], today: date, rule: ThinningRule) -> set[date]:
    """The snapshot dates ``rule`` keeps as of ``today`` (dates after ``today`` are kept)."""
    ordered = sorted(set(dates))
    daily = rule.effective_daily_days
    weekly = max(rule.weekly_days, daily)
    monthly = None if rule.monthly_days is None else max(rule.monthly_days, weekly)
    last_of_week = {_week(day): day for day in ordered}  # ordered: the last one wins

    def week_survivor(day: date) -> bool:
        return last_of_week[_week(day)] == day

    keep: set[date] = set()
    last_of_month: dict[tuple[int, int], date] = {}  # among the daily and weekly survivors
    for day in ordered:
        age = (today - day).days
        if age < daily:
            keep.add(day)
        elif not week_survivor(day):
            continue
        elif age < weekly:
            keep.add(day)
        last_of_month[(day.year, day.month)] = day
    for day in ordered:
        age = (today - day).days
        if age < weekly or (monthly is not None and age >= monthly):
            continue
        if week_survivor(day) and last_of_month[(day.year, day.month)] == day:
            keep.add(day)
    return keep


def dates_to_delete(dates: Iterable[date], today: date, rule: ThinningRule) -> list[date]:
    """The snapshot dates ``rule`` deletes as of ``today``, oldest first."""
    dates = set(dates)
    return sorted(dates - dates_to_keep(dates, today, rule))


def doomed_spans(
    dates: Iterable[date], kept: Iterable[date]
) -> list[tuple[date | None, date | None]]:
    """The runs of dates that are not kept, each as (the kept date before it, the kept date
    after it); None where the run starts or ends the history. Every date strictly between the
    two bounds of a span is one of ``dates`` that is not kept."""
    keep = set(kept)
    spans: list[tuple[date | None, date | None]] = []
    previous: date | None = None
    open_span = False
    for day in sorted(set(dates) | keep):
        if day in keep:
            if open_span:
                spans.append((previous, day))
                open_span = False
            previous = day
        else:
            open_span = True
    if open_span:
        spans.append((previous, None))
    return spans
