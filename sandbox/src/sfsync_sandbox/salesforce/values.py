"""Field values: coercion of JSON/CSV input to stored values, with Salesforce's error codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sfsync_sandbox.ids import to_18
from sfsync_sandbox.salesforce.schema import FieldDef

ID_CHARS = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass
class RecordError(Exception):
    """A per-record failure, reported as ``{statusCode|errorCode, message, fields}``."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def as_rest(self) -> dict[str, Any]:
        """The shape of an error in a single-record REST response."""
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def as_save_result(self) -> dict[str, Any]:
        """The shape of an error inside a SaveResult (sObject Collections)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_bulk(self) -> str:
        """The ``sf__Error`` text of a Bulk API 2.0 failed result."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


def now_iso() -> str:
    """The current time as Salesforce writes datetimes (UTC, milliseconds, +0000)."""
    return format_datetime(datetime.now(UTC))


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime (``Z``, ``+0000`` or ``+00:00`` offsets; naive = UTC)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":" and "T" in text:
        text = text[:-2] + ":" + text[-2:]
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_id(text: str) -> bool:
    return len(text) in (15, 18) and set(text) <= ID_CHARS


def _bad_type(fdef: FieldDef, value: Any, kind: str) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{fdef.label}: value not of required type: {value}",
        [fdef.name],
    )


def coerce(fdef: FieldDef, value: Any, *, from_csv: bool = False) -> Any:
    """The stored form of ``value`` for ``fdef``, or :class:`RecordError`.

    Stored forms are JSON-native: str for text, date (``YYYY-MM-DD``) and datetime
    (``YYYY-MM-DDTHH:MM:SS.000+0000``, UTC); float for numbers (int for ``int``); bool.
    """
    if isinstance(value, str) and value == "" or value is None:
        return False if fdef.type == "boolean" else None
    ftype = fdef.type
    if ftype in (
        "string",
        "textarea",
        "email",
        "url",
        "phone",
        "combobox",
        "picklist",
        "multipicklist",
    ):
        if isinstance(value, bool | int | float):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        if not isinstance(value, str):
            raise _bad_type(fdef, value, "text")
        if ftype == "multipicklist":
            return _multipicklist(fdef, value)
        if fdef.length and len(value) > fdef.length:
            raise RecordError(
                "STRING_TOO_LONG",
                f"{fdef.label}: data value too large: {value[:80]} (max length={fdef.length})",
                [fdef.name],
            )
        if ftype == "picklist" and fdef.restricted and value not in fdef.values:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{fdef.label}: bad value for restricted picklist field: {value}",
                [fdef.name],
            )
        return value
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _bad_type(fdef, value, "boolean")
    if ftype in ("double", "currency", "percent", "int"):
        return _number(fdef, value)
    if ftype == "date":
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            return value.isoformat()
        if not isinstance(value, str):
            raise _bad_type(fdef, value, "date")
        try:
            return date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            raise _bad_type(fdef, value, "date") from None
    if ftype == "datetime":
        if isinstance(value, datetime):
            return format_datetime(value)
        if not isinstance(value, str):
            raise _bad_type(fdef, value, "datetime")
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            raise _bad_type(fdef, value, "datetime") from None
    if ftype in ("reference", "id"):
        if not isinstance(value, str) or not is_id(value):
            raise RecordError(
                "MALFORMED_ID",
                f"{fdef.label}: id value of incorrect type: {value}",
                [fdef.name],
            )
        return to_18(value)
    return value


def _multipicklist(fdef: FieldDef, value: str) -> str | None:
    chosen = [v.strip() for v in value.split(";") if v.strip()]
    if fdef.restricted:
        bad = [v for v in chosen if v not in fdef.values]
        if bad:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{fdef.label}: bad value for restricted picklist field: {bad[0]}",
                [fdef.name],
            )
        order = {v: i for i, v in enumerate(fdef.values)}
        chosen = sorted(set(chosen), key=order.__getitem__)
    else:
        chosen = list(dict.fromkeys(chosen))
    if len(chosen) > 100:
        raise RecordError("TOO_MANY_ENUM_VALUE", f"{fdef.label}: too many values", [fdef.name])
    return ";".join(chosen) or None


def _number(fdef: FieldDef, value: Any) -> float | int:
    if isinstance(value, bool):
        raise _bad_type(fdef, value, "number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad_type(fdef, value, "number") from None
    if not number.is_finite():
        raise _bad_type(fdef, value, "number")
    scale = fdef.scale if fdef.type != "int" else 0
    number = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if fdef.precision:
        integer_digits = len(str(abs(int(number)))) if int(number) != 0 else 0
        if integer_digits > fdef.precision - scale:
            raise RecordError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{fdef.label}: value outside of valid range on numeric field: {value}",
                [fdef.name],
            )
    return int(number) if fdef.type == "int" else float(number)
