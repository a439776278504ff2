"""Normalise values for one Salesforce field so that equal values compare equal.

Both sides of a diff go through :func:`normalise`: the desired value from the scoring result
and the current value read from Salesforce. The result is the value sfsync writes (JSON-able:
``None``, ``bool``, ``int``, ``float``, ``str``) and :func:`same` compares two normalised
values the way Salesforce would:

- numbers: ``72`` and ``72.0`` are equal; integral numbers are written as ints. ``scale`` in
  the mapping multiplies desired values only (a 0–1 ratio into a percent field: Salesforce
  stores 72 % as ``72``); current values are compared as stored.
- date: ``YYYY-MM-DD`` in the org's time zone; a datetime (aware or ISO with offset) is first
  converted to that zone; ``2025-03-15`` and ``2025-03-15T00:00:00+09:00`` are the same date.
- datetime: ISO 8601 in the org's time zone with its offset; naive values are taken as org
  local time; equal instants compare equal whatever offset they were given in.
- picklist: compared case-insensitively; written in the org's canonical spelling.
- multipicklist: ``;``-joined, order- and case-insensitive, duplicates dropped, sorted.
- string/textarea: compared exactly; longer than the field: cut (``truncate``) or rejected.
- boolean: ``true``/``false``/1/0; null is ``False`` (a checkbox is never null).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from sfsync.salesforce.mapping import NUMERIC_TYPES, FieldMapping

ELLIPSIS = "…"


class ValueProblem(ValueError):
    """A desired value that cannot be written to its field (reported per record)."""


def is_null(value: Any) -> bool:
    """True for None, pandas NA/NaT, float NaN and empty strings."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, (list, tuple, set, frozenset)):
        return len(value) == 0
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def target_type(spec: FieldMapping) -> str:
    """The type that decides the written format: the org's describe type when known."""
    return spec.org_type or spec.type


def normalise(value: Any, spec: FieldMapping, tz: ZoneInfo, *, desired: bool) -> Any:
    """The canonical, JSON-able form of ``value`` for the field described by ``spec``."""
    kind = target_type(spec)
    if kind == "boolean":
        return _boolean(value)
    if is_null(value):
        return None
    if kind in NUMERIC_TYPES:
        return _number(value, kind, spec.scale if desired else None)
    if kind == "date":
        return _date(value, tz).isoformat()
    if kind == "datetime":
        return _datetime(value, tz).isoformat(timespec="seconds")
    if kind == "multipicklist":
        return _multipicklist(value, spec) or None
    if kind == "picklist":
        return _canonical_choice(str(value).strip(), spec)
    text = _multipicklist(value, spec) if spec.type == "multipicklist" else str(value)
    if spec.type == "picklist":
        text = _canonical_choice(text.strip(), spec)
    return _fit_length(text, spec) or None


def same(old: Any, new: Any, spec: FieldMapping) -> bool:
    """Whether two normalised values are the same Salesforce value."""
    if old is None or new is None:
        return old is None and new is None
    kind = target_type(spec)
    if kind in NUMERIC_TYPES:
        return math.isclose(float(old), float(new), rel_tol=1e-9, abs_tol=1e-9)
    if kind in ("picklist", "multipicklist"):
        return str(old).casefold() == str(new).casefold()
    if kind == "datetime":
        return datetime.fromisoformat(str(old)) == datetime.fromisoformat(str(new))
    return old == new


def _boolean(value: Any) -> bool:
    if is_null(value):
        return False
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueProblem(f"{value!r} is not a boolean")
    return bool(value)


def _number(value: Any, kind: str, scale: float | None) -> int | float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueProblem(f"{value!r} is not a number") from None
    if math.isinf(number) or math.isnan(number):
        raise ValueProblem(f"{value!r} is not a finite number")
    if scale is not None:
        number *= scale
    if kind == "int":
        return int(Decimal(repr(number)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    number = round(number, 9)
    return int(number) if number.is_integer() else number


def _aware(value: Any, tz: ZoneInfo) -> datetime | date:
    """A date (no time part) or an aware datetime, from any accepted input."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if len(text) == 10:
        for fmt in ("%Y-%m-%d", "%Y/%m/%d"):
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueProblem(f"{value!r} is not a date or date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _date(value: Any, tz: ZoneInfo) -> date:
    moment = _aware(value, tz)
    if isinstance(moment, datetime):
        return moment.astimezone(tz).date()
    return moment


def _datetime(value: Any, tz: ZoneInfo) -> datetime:
    moment = _aware(value, tz)
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(0), tzinfo=tz)
    return moment.astimezone(tz)


def _canonical_choice(text: str, spec: FieldMapping) -> str:
    for allowed in spec.org_values or ():
        if allowed.casefold() == text.casefold():
            return allowed
    return text


def _multipicklist(value: Any, spec: FieldMapping) -> str:
    parts = value if isinstance(value, (list, tuple, set, frozenset)) else str(value).split(";")
    seen: dict[str, str] = {}
    for part in parts:
        text = str(part).strip()
        if text:
            seen.setdefault(text.casefold(), _canonical_choice(text, spec))
    return ";".join(seen[key] for key in sorted(seen))


def _fit_length(text: str, spec: FieldMapping) -> str:
    if spec.length is None or len(text) <= spec.length:
        return text
    if spec.truncate:
        return text[: spec.length - 1] + ELLIPSIS
    raise ValueProblem(f"value of {len(text)} characters exceeds the field length {spec.length}")
