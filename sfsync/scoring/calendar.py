"""Calendar arithmetic of SPEC §10: scoring month, month addition with day clamping.

Everything works on calendar dates (no time, no time zone): the caller passes the as-of date
already converted to the configured time zone. Array functions take and return numpy
``datetime64[D]`` arrays, with NaT for missing dates, and never loop in Python.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import date

import numpy as np
import pandas as pd

NAT = np.datetime64("NaT", "D")


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = _calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def scoring_month(as_of: date) -> str:
    """The latest complete calendar month before ``as_of``, as ``YYYY-MM``.

    As of 2025-03-15 and as of 2025-03-01 it is ``2025-02``: a partial current month would
    make every account look idle early in the month.
    """
    prev = add_months(date(as_of.year, as_of.month, 1), -1)
    return f"{prev.year:04d}-{prev.month:02d}"


def previous_month(month: str) -> str:
    """The calendar month before ``YYYY-MM``."""
    prev = add_months(date(int(month[:4]), int(month[5:7]), 1), -1)
    return f"{prev.year:04d}-{prev.month:02d}"


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


def add_months_array(days: np.ndarray, months: int | np.ndarray) -> np.ndarray:
    """Vectorised :func:`add_months` on ``datetime64[D]``; NaT stays NaT."""
    days = np.asarray(days, dtype="datetime64[D]")
    nat = np.isnat(days)
    safe = np.where(nat, np.datetime64("2000-01-01", "D"), days)
    month_start = safe.astype("datetime64[M]")
    day_offset = (safe - month_start.astype("datetime64[D]")).astype(np.int64)
    target = month_start + np.asarray(months, dtype=np.int64).astype("timedelta64[M]")
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    result = target.astype("datetime64[D]") + np.minimum(day_offset, month_len - 1)
    return np.where(nat | np.isnat(target), NAT, result)


def whole_months_between(start: np.ndarray, end: np.ndarray | date) -> np.ndarray:
    """Whole calendar months completed from ``start`` to ``end``: the largest m with
    ``start + m months <= end`` (float array, NaN where ``start`` is NaT; negative when
    ``start`` is after ``end``)."""
    start = np.asarray(start, dtype="datetime64[D]")
    end = np.broadcast_to(np.datetime64(end, "D") if isinstance(end, date) else end, start.shape)
    nat = np.isnat(start) | np.isnat(end)
    start_safe = np.where(nat, np.datetime64("2000-01-01", "D"), start)
    end_safe = np.where(nat, np.datetime64("2000-01-01", "D"), end)
    months = end_safe.astype("datetime64[M]").astype(np.int64) - start_safe.astype(
        "datetime64[M]"
    ).astype(np.int64)
    landed = add_months_array(start_safe, months)
    months = months - (landed > end_safe)
    return np.where(nat, np.nan, months.astype(np.float64))


def calendar_months_until(as_of: date, target: np.ndarray) -> np.ndarray:
    """Calendar months from ``as_of`` to ``target`` as a number that is exact at whole months.

    ``m + f`` where m is the largest integer with ``as_of + m months <= target`` and f the
    fraction of the way to ``as_of + (m+1) months``. So ``value <= 3`` exactly when
    ``target <= as_of + 3 months`` (with day clamping), which lets scorecard bins express
    "renewal within 3 months". NaN where ``target`` is NaT; negative for past dates.
    """
    target = np.asarray(target, dtype="datetime64[D]")
    nat = np.isnat(target)
    safe = np.where(nat, np.datetime64(as_of, "D"), target)
    start = np.full(safe.shape, np.datetime64(as_of, "D"))
    whole = whole_months_between(start, safe).astype(np.int64)
    low = add_months_array(start, whole)
    high = add_months_array(start, whole + 1)
    fraction = (safe - low).astype(np.float64) / (high - low).astype(np.float64)
    return np.where(nat, np.nan, whole + fraction)


def days_between(earlier: np.ndarray, later: date) -> np.ndarray:
    """``later - earlier`` in days as float (NaN where ``earlier`` is NaT)."""
    earlier = np.asarray(earlier, dtype="datetime64[D]")
    delta = (np.datetime64(later, "D") - earlier).astype("timedelta64[D]")
    return np.where(np.isnat(earlier), np.nan, delta.astype(np.int64).astype(np.float64))
