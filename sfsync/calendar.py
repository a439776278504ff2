"""Calendar arithmetic of SPEC §10, defined once: months, the scoring month, quarters.

Everything works on calendar dates (no time, no time zone): the caller passes the as-of date
already converted to the configured time zone. Two kinds of month arithmetic exist and have
different names:

- :func:`add_months` moves between *months*: the first day of the month ``n`` months later
  (query windows, the scoring month, monthly periods);
- :func:`shift_months_clamped` moves a *day* by calendar months, clamping the day
  (Jan 31 + 1 month = Feb 28/29): contract ages, renewal windows, "within 3 months".

A month as text is ``YYYY-MM`` (:func:`month_text`, :func:`parse_month`); Task keys
(``signal:<code>:<account>:<YYYY-MM>``) use ``month_text(scoring_month(as_of))``.
Array functions take and return numpy ``datetime64[D]`` arrays, with NaT for missing dates,
and never loop in Python.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, timedelta

import numpy as np
import pandas as pd

NAT = np.datetime64("NaT", "D")
MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return date(day.year, day.month, 1)


def add_months(month: date, n: int) -> date:
    """The first day of the month ``n`` months after ``month``'s month (negative: before)."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def shift_months_clamped(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def scoring_month(as_of: date) -> date:
    """First day of the latest complete calendar month before ``as_of`` (SPEC §10).

    As of 2025-03-15 and as of 2025-03-01 it is 2025-02-01: a partial current month would make
    every account look idle early in the month.
    """
    return add_months(as_of, -1)


def is_month_text(text: str) -> bool:
    """True when ``text`` is a month ``YYYY-MM`` (month 01-12)."""
    return MONTH_PATTERN.match(text) is not None


def month_text(month: date) -> str:
    """``YYYY-MM`` of ``month``."""
    return f"{month.year:04d}-{month.month:02d}"


def parse_month(text: str) -> date:
    """The first day of the month ``YYYY-MM``."""
    return date(int(text[:4]), int(text[5:7]), 1)


def shift_month_text(month: str, n: int) -> str:
    """The ``YYYY-MM`` month ``n`` months after ``month`` (negative: before)."""
    return month_text(add_months(parse_month(month), n))


def previous_month(month: str) -> str:
    """The calendar month before ``YYYY-MM``."""
    return shift_month_text(month, -1)


def fiscal_quarter(as_of: date, fiscal_year_start_month: int = 1) -> tuple[str, date, date]:
    """The fiscal quarter containing ``as_of``: (label like ``2025Q1``, first day, last day).

    The fiscal year is labelled by the calendar year in which it starts.
    """
    offset = (as_of.month - fiscal_year_start_month) % 12
    start = add_months(as_of, -(offset % 3))
    fy = start.year if start.month >= fiscal_year_start_month else start.year - 1
    end = add_months(start, 3) - timedelta(days=1)
    return f"{fy}Q{offset // 3 + 1}", start, end


def to_day_array(values: pd.Series | np.ndarray) -> np.ndarray:
    """Any date-like column (datetime64 of any unit, tz-aware, date objects) as ``datetime64[D]``.

    A tz-aware column keeps its wall-clock date (the time zone is the caller's concern).
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series, errors="coerce")
    if getattr(series.dtype, "tz", None) is not None:
        series = series.dt.tz_localize(None)
    return series.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970-01-01 (int64) -> (year, month 1-12, day), integer arithmetic only
    (H. Hinnant's civil_from_days; numpy's datetime64 unit casts are far slower)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """(year, month, day) -> days since 1970-01-01 (days_from_civil)."""
    year = year - (month <= 2)
    era = year // 400
    yoe = year - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_length(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return _MONTH_DAYS[month - 1] + ((month == 2) & leap)


def _shift(days: np.ndarray, months) -> np.ndarray:
    """int64 days shifted by calendar months with day clamping (no NaT handling)."""
    year, month, day = _civil(days)
    index = year * 12 + (month - 1) + np.asarray(months, dtype=np.int64)
    new_year, new_month = index // 12, index % 12 + 1
    return _days(new_year, new_month, np.minimum(day, _month_length(new_year, new_month)))


def shift_months_clamped_array(days: np.ndarray, months: int | np.ndarray) -> np.ndarray:
    """Vectorised :func:`shift_months_clamped` on ``datetime64[D]``; NaT stays NaT."""
    days = np.asarray(days, dtype="datetime64[D]")
    nat = np.isnat(days)
    ints = np.where(nat, 0, days.view(np.int64))
    result = _shift(ints, months).view("datetime64[D]")
    return np.where(nat, np.datetime64("NaT"), result)


def _whole_months(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Largest m with start + m months <= end, on int64 day numbers."""
    sy, sm, sd = _civil(start)
    ey, em, ed = _civil(end)
    months = (ey * 12 + em) - (sy * 12 + sm)
    # start + months lands in end's month on day min(sd, month length); later than end -> -1
    landed_day = np.minimum(sd, _month_length(ey, em))
    return months - (landed_day > ed)


def whole_months_between(start: np.ndarray, end: np.ndarray | date) -> np.ndarray:
    """Whole calendar months completed from ``start`` to ``end``: the largest m with
    ``start + m months <= end`` (float array, NaN where ``start`` is NaT; negative when
    ``start`` is after ``end``)."""
    start = np.asarray(start, dtype="datetime64[D]")
    if isinstance(end, date):  # the common case: one as-of date, one civil conversion
        nat = np.isnat(start)
        sy, sm, sd = _civil(np.where(nat, 0, start.view(np.int64)))
        months = (end.year * 12 + end.month) - (sy * 12 + sm)
        months -= np.minimum(sd, monthrange(end.year, end.month)[1]) > end.day
        return np.where(nat, np.nan, months.astype(np.float64))
    nat = np.isnat(start) | np.isnat(end)
    months = _whole_months(
        np.where(nat, 0, start.view(np.int64)), np.where(nat, 0, end.view(np.int64))
    )
    return np.where(nat, np.nan, months.astype(np.float64))


def _shift_scalar(day: date, months: np.ndarray) -> np.ndarray:
    """int64 day numbers of ``day + months`` (array of month counts), clamped."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = index // 12, index % 12 + 1
    return _days(year, month, np.minimum(day.day, _month_length(year, month)))


def _month_starts(as_of: date, whole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers of ``as_of + whole`` and ``as_of + whole + 1`` months. The month counts of
    a million dates span a few dozen values: shift each distinct count once (a small table)
    and gather, instead of running the civil-calendar arithmetic per date."""
    if len(whole) == 0:
        return whole, whole
    first, last = int(whole.min()), int(whole.max())
    if last - first > 4 * len(whole) + 1000:  # absurdly spread dates: no table
        return _shift_scalar(as_of, whole), _shift_scalar(as_of, whole + 1)
    table = _shift_scalar(as_of, np.arange(first, last + 2, dtype=np.int64))
    offset = whole - first
    return table[offset], table[offset + 1]


def calendar_months_until(as_of: date, target: np.ndarray) -> np.ndarray:
    """Calendar months from ``as_of`` to ``target`` as a number that is exact at whole months.

    ``m + f`` where m is the largest integer with ``as_of + m months <= target`` and f the
    fraction of the way to ``as_of + (m+1) months``. So ``value <= 3`` exactly when
    ``target <= as_of + 3 months`` (with day clamping), which lets scorecard bins express
    "renewal within 3 months". NaN where ``target`` is NaT; negative for past dates.
    """
    target = np.asarray(target, dtype="datetime64[D]")
    nat = np.isnat(target)
    base = np.datetime64(as_of, "D").view(np.int64)
    ints = np.where(nat, base, target.view(np.int64))
    year, month, day = _civil(ints)
    whole = (year * 12 + month) - (as_of.year * 12 + as_of.month)
    whole -= np.minimum(as_of.day, _month_length(year, month)) > day
    low, high = _month_starts(as_of, whole)
    fraction = (ints - low).astype(np.float64) / (high - low).astype(np.float64)
    return np.where(nat, np.nan, whole + fraction)


def days_between(earlier: np.ndarray, later: date) -> np.ndarray:
    """``later - earlier`` in days as float (NaN where ``earlier`` is NaT)."""
    earlier = np.asarray(earlier, dtype="datetime64[D]")
    delta = (np.datetime64(later, "D") - earlier).astype("timedelta64[D]")
    return np.where(np.isnat(earlier), np.nan, delta.astype(np.int64).astype(np.float64))


def latest_shifted_on_or_before(as_of: date, months: int) -> date:
    """The latest day d with ``shift_months_clamped(d, -months) <= as_of``.

    Subtracting months (with clamping) never reorders dates, so for an array of dates
    ``shift_months_clamped_array(days, -months) <= as_of`` is exactly ``days <= this day``: one scalar
    computation instead of calendar arithmetic on every date. Several days can clamp to the
    same day (Mar 29-31 minus one month are all Feb 28), hence the search just past
    ``as_of + months``."""
    start = shift_months_clamped(as_of, months)
    return max(
        d
        for d in (start + timedelta(days=k) for k in range(5))
        if shift_months_clamped(d, -months) <= as_of
    )
