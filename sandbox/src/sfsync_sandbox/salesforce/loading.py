"""Loading trusted sample data into the org: fast conversion to stored values."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from sfsync_sandbox.ids import to_18
from sfsync_sandbox.salesforce.schema import FieldDef
from sfsync_sandbox.salesforce.values import coerce, format_datetime


def default_value(fdef: FieldDef, user_id: str) -> Any:
    if fdef.type == "boolean":
        return bool(fdef.default)
    if fdef.default_to_user:
        return user_id
    return fdef.default


def column_values(fdef: FieldDef, series: Any) -> list[Any]:
    """A pandas column in stored form (vectorised; NaN/NaT/NA become None)."""
    import pandas as pd

    ftype = fdef.type
    missing = series.isna().to_numpy()
    if ftype == "date":
        text = pd.to_datetime(series, errors="coerce").dt.strftime("%Y-%m-%d")
        values = text.tolist()
    elif ftype == "datetime":
        stamps = pd.to_datetime(series, errors="coerce", utc=True)
        values = (
            stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.")
            + (stamps.dt.microsecond // 1000).astype("string").str.zfill(3)
            + "+0000"
        ).tolist()
    elif ftype == "boolean":
        values = series.fillna(False).astype(bool).tolist()
        return values
    elif ftype == "int":
        values = [None if m else int(v) for v, m in zip(series.tolist(), missing, strict=True)]
        return values
    elif ftype in ("double", "currency", "percent"):
        values = series.astype("float64").tolist()
    elif ftype in ("reference", "id"):
        values = series.astype(object).tolist()
        if all(isinstance(v, str) and len(v) == 18 for v in values):
            return values
        return [None if m else to_18(str(v)) for v, m in zip(values, missing, strict=True)]
    else:
        values = series.astype(object).tolist()
        values = [None if m else str(v) for v, m in zip(values, missing, strict=True)]
        return values
    return [None if m else v for v, m in zip(values, missing, strict=True)]


def loader(fdef: FieldDef):
    """A fast converter for trusted sample values (pandas/numpy scalars included)."""
    ftype = fdef.type

    def is_null(value: Any) -> bool:
        if value is None:
            return True
        try:
            return bool(value != value)  # NaN, NaT, pd.NA
        except (TypeError, ValueError):
            return False

    def convert(value: Any) -> Any:
        if is_null(value):
            return False if ftype == "boolean" else None
        if ftype == "date":
            if isinstance(value, datetime | date):
                return value.strftime("%Y-%m-%d")
            return str(value)[:10]
        if ftype == "datetime":
            if isinstance(value, datetime):
                return format_datetime(
                    value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
                )
            if isinstance(value, date):
                return format_datetime(datetime(value.year, value.month, value.day))
            return coerce(fdef, str(value))
        if ftype == "boolean":
            return bool(value) if not isinstance(value, str) else value.lower() == "true"
        if ftype == "int":
            return int(value)
        if ftype in ("double", "currency", "percent"):
            number = float(value)
            return None if math.isnan(number) else number
        if ftype in ("reference", "id"):
            return to_18(str(value))
        return str(value)

    return convert
