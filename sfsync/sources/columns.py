"""Column mappings: rename source columns to canonical fields, coerce types, quarantine bad rows.

A mapping file (``mappings/columns/<name>.yaml``) lists the canonical fields (SPEC §3) a source
provides, the source column each comes from, its type and its constraints::

    description: Monthly usage by tenant (Metabase card 1)
    key: [tenant_id, month]          # a key seen twice quarantines every row that has it
    columns:
      tenant_id: {type: str, required: true}
      month: {type: month, required: true}
      deliveries: {source: webinars_delivered, type: int, min: 0}

Types: ``str``, ``id`` (a Salesforce record id, 15 or 18 letters and digits, always kept in its
18-character form so that ids differing only in case stay apart), ``int`` (whole numbers, stored as float64 so that missing stays NaN), ``float``,
``date`` (ISO ``YYYY-MM-DD``; timestamps keep their calendar date), ``month`` (``YYYY-MM``) and
``bool`` (true/false, 1/0, yes/no). An empty cell is a missing value. A number that is not
finite (``inf``, ``1e999``, ``NaN`` spelled out) or outside its canonical field's plausible range
(:mod:`sfsync.plausible`, e.g. ``login_days`` 0–31) is a bad value: the row is quarantined. A column marked
``values: [...]`` (text columns) lists the values allowed; any other value is a bad value too.
A column marked
``optional: true`` may be absent from the source altogether (a field not every org has); the
canonical column is then left out, so that consumers can tell "not known" from "empty".

:func:`apply_mapping` is pure: a raw frame in, a :class:`MappedFrame` out holding the valid rows
(canonical columns, canonical dtypes) and one quarantine row per rejected source row with every
reason it failed. A required *column* that the source does not return is a :class:`SourceError`
(nothing can be salvaged); a required *value* that is empty quarantines that row only.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import structlog
from pydantic import Field, model_validator

from sfsync.configfile import StrictModel, load_model
from sfsync.errors import InputDataError, SourceError
from sfsync.frames import isin
from sfsync.plausible import non_finite, plausible_range
from sfsync.salesforce.ids import ID_PATTERN, to_18, to_18_column

log = structlog.get_logger(__name__)

# "id": a Salesforce record id, 15 or 18 characters, normalised to 18 (sfsync.salesforce.ids)
ColumnType = Literal["str", "id", "int", "float", "date", "month", "bool"]

QUARANTINE_COLUMNS = ["source", "row_ref", "reason"]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_ISO_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}")
_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


class ColumnSpec(StrictModel):
    """How one canonical field is read from a source column."""

    source: str | None = Field(
        default=None, description="source column name; default: the canonical field name"
    )
    type: ColumnType = "str"
    required: bool = False
    optional: bool = Field(
        default=False,
        description="the source may lack this column (e.g. a field not deployed in every org); "
        "the canonical column is then left out of the frame rather than filled with blanks",
    )
    min: float | None = None
    max: float | None = None
    values: list[str] | None = Field(
        default=None,
        description="str columns: the values allowed (matched ignoring case and surrounding "
        "spaces, kept in the spelling given here); any other value quarantines the row",
    )

    @model_validator(mode="after")
    def _required_or_optional(self) -> ColumnSpec:
        if self.required and self.optional:
            raise ValueError("a column cannot be both required and optional")
        if self.values is not None and self.type != "str":
            raise ValueError("values (allowed values) is only for type: str columns")
        if self.values is not None and not self.values:
            raise ValueError("values must list at least one allowed value")
        return self


class ColumnMapping(StrictModel):
    """Source columns → canonical fields, with types, constraints and a row key."""

    description: str = ""
    key: list[str] = Field(default_factory=list)
    columns: dict[str, ColumnSpec]
    keep_extra: bool = Field(
        default=False, description="pass source columns that are not mapped through unchanged"
    )

    @model_validator(mode="after")
    def _key_names_columns(self) -> ColumnMapping:
        unknown = [k for k in self.key if k not in self.columns]
        if unknown:
            raise ValueError(f"key names fields that are not in columns: {', '.join(unknown)}")
        sources = [spec.source or name for name, spec in self.columns.items()]
        doubled = sorted({s for s in sources if sources.count(s) > 1})
        if doubled:
            raise ValueError(f"source column(s) mapped twice: {', '.join(doubled)}")
        return self

    def source_column(self, field: str) -> str:
        """The source column that feeds canonical ``field``."""
        return self.columns[field].source or field

    @property
    def source_columns(self) -> list[str]:
        """Every source column this mapping reads, in mapping order."""
        return [self.source_column(f) for f in self.columns]


def load_column_mapping(path: str | Path) -> ColumnMapping:
    """Load ``mappings/columns/<name>.yaml``; problems are reported with file and key path."""
    return load_model(path, ColumnMapping)


@dataclass(frozen=True)
class MappedFrame:
    """The result of applying a mapping: valid rows and quarantined rows with reasons."""

    source: str
    frame: pd.DataFrame
    quarantined: pd.DataFrame  # columns: source, row_ref, reason
    rows_read: int
    key: tuple[str, ...] = ()

    @property
    def quarantined_count(self) -> int:
        return len(self.quarantined)

    def with_more_quarantined(self, keep: pd.Series, reasons: pd.Series) -> MappedFrame:
        """Move the rows of ``frame`` where ``keep`` is False to quarantine with ``reasons``."""
        dropped = self.frame.loc[~keep]
        extra = pd.DataFrame(
            {
                "source": self.source,
                "row_ref": [_row_ref(i, dropped.loc[i], self.key) for i in dropped.index],
                "reason": reasons.loc[~keep].astype(str).tolist(),
            },
            columns=QUARANTINE_COLUMNS,
        )
        return MappedFrame(
            source=self.source,
            frame=self.frame.loc[keep],
            quarantined=pd.concat([self.quarantined, extra], ignore_index=True),
            rows_read=self.rows_read,
            key=self.key,
        )


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in QUARANTINE_COLUMNS})


def _row_ref(index: object, row: pd.Series, key: Iterable[str]) -> str:
    try:
        ref = f"row {int(index) + 1}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        ref = f"row {index}"
    parts = [f"{k}={row[k]}" for k in key if k in row.index and not _is_missing(row[k])]
    return f"{ref} ({', '.join(parts)})" if parts else ref


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _blank_to_na(series: pd.Series) -> pd.Series:
    """Strings stripped; empty strings and None become NA. Non-strings are left alone."""
    values = series.astype(object)
    cleaned = [
        (v.strip() or None) if isinstance(v, str) else (None if _is_missing(v) else v)
        for v in values
    ]
    return pd.Series(cleaned, index=series.index, dtype=object)


def _to_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _coerce(series: pd.Series, kind: ColumnType) -> tuple[pd.Series, pd.Series]:
    """Coerce one raw column. Returns (typed values, bad) where ``bad`` marks unparseable cells.

    Text and numeric columns take a vectorised path (:func:`_coerce_text`,
    :func:`_coerce_numbers`); a column mixing Python types takes the value-by-value path,
    whose results the vectorised ones reproduce exactly."""
    fast = _coerce_fast(series, kind)
    if fast is not None:
        return fast
    return _coerce_values(series, kind)


def _coerce_values(series: pd.Series, kind: ColumnType) -> tuple[pd.Series, pd.Series]:
    """:func:`_coerce` value by value (any mix of Python types)."""
    raw = _blank_to_na(series)
    present = raw.notna()
    if kind == "str":
        text = raw.map(_to_text, na_action="ignore")
        return text.astype("str").where(present, pd.NA), pd.Series(False, index=raw.index)
    if kind == "id":
        text = raw.map(_to_text, na_action="ignore").astype("string").str.strip()
        ok = text.str.fullmatch(ID_PATTERN.pattern).fillna(False).astype(bool)
        ids = text.where(ok).map(to_18, na_action="ignore").astype("str").where(ok & present, pd.NA)
        return ids, present & ~ok
    if kind in ("int", "float"):
        numbers = pd.to_numeric(raw.map(_numeric_text, na_action="ignore"), errors="coerce")
        numbers = numbers.astype("float64")
        bad = present & numbers.isna()
        if kind == "int":
            bad |= present & numbers.notna() & (numbers % 1 != 0)
        return numbers, bad
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            values = series.dt.tz_localize(None) if series.dt.tz is not None else series
            dates = _ns_dates(values.dt.normalize())
            return dates, series.notna() & dates.isna()
        text = raw.map(_to_text, na_action="ignore").astype(object)
        prefix = text.map(
            lambda t: t[:10] if _ISO_DATE_PREFIX.match(t) else "invalid", na_action="ignore"
        )
        dates = _ns_dates(pd.to_datetime(prefix, format="%Y-%m-%d", errors="coerce"))
        return dates, present & dates.isna()
    if kind == "month":
        text = raw.map(_month_text, na_action="ignore")
        ok = text.map(lambda t: bool(_MONTH.match(t)), na_action="ignore").fillna(False)
        ok = ok.astype(bool)
        months = text.where(ok, pd.NA).astype("str").where(ok, pd.NA)
        return months, present & ~ok
    if kind == "bool":
        parsed = raw.map(_bool_value, na_action="ignore")
        bad = present & parsed.isna()
        return parsed.astype("boolean"), bad
    raise AssertionError(kind)  # pragma: no cover - Literal exhausts the cases


_THOUSANDS = r"-?\d{1,3}(,\d{3})+(\.\d+)?"
_BOOL_TEXT = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}

#: pandas' text dtype (``str``): Arrow storage, NaN for missing. Mapped text columns have it.
TEXT_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
# What ``pd.to_numeric`` reads as a number (ASCII digits only, as its parser), and the words
# it reads as a non-finite one (any case, either sign)
_DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NON_FINITE = r"^[+-]?(inf|infinity|nan)$"
_ASCII_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
# datetime64[ns] holds 1677-09-21 … 2262-04-11; dates outside take pandas' path (bad cells)
_NS_DAYS = (-106_751, 106_750)
_MONTH_DAYS = pa.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int32())


#: The calendar dates datetime64[ns] holds whole (Timestamp.min is 1677-09-21 00:12:43)
_NS_FIRST, _NS_LAST = pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-11")


def _ns_dates(dates: pd.Series) -> pd.Series:
    """Parsed dates (any datetime64 unit) as datetime64[ns], a date it cannot hold as NaT: a
    database's sentinel such as 0001-01-01 or 9999-12-31 becomes a bad cell, not a crash."""
    held = dates.isna() | ((dates >= _NS_FIRST) & (dates <= _NS_LAST))
    return dates.where(held).astype("datetime64[ns]")


def _is_arrow_text(dtype: object) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage == "pyarrow"
    if isinstance(dtype, pd.ArrowDtype):
        return pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(
            dtype.pyarrow_dtype
        )
    return False


def _text_kind(series: pd.Series) -> bool:
    """Whether every present value of ``series`` is a Python/Arrow string (or none is present)."""
    if isinstance(series.dtype, pd.StringDtype) or _is_arrow_text(series.dtype):
        return True
    if series.dtype != object:
        return False
    return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")


def _coerce_fast(series: pd.Series, kind: ColumnType) -> tuple[pd.Series, pd.Series] | None:
    """The vectorised coercion of a text or plain numeric column; None for other columns."""
    if _text_kind(series):
        return _coerce_text(series, kind)
    dtype = series.dtype
    if kind == "bool" and dtype == np.dtype(bool):  # a JSON export's true/false, none missing
        values = pd.array(series.to_numpy(), dtype="boolean")
        return pd.Series(values, index=series.index), pd.Series(False, index=series.index)
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if (
        numeric
        and kind in ("int", "float")
        and not isinstance(dtype, pd.api.extensions.ExtensionDtype)
    ):
        numbers = series.astype("float64")
        bad = pd.Series(False, index=series.index)
        if kind == "int":
            bad = numbers.notna() & (numbers % 1 != 0)
        return numbers, bad
    return None


def _arrow_text(series: pd.Series) -> pa.ChunkedArray:
    """The values of a text column as Arrow text (no copy when it is Arrow-backed already)."""
    if _is_arrow_text(series.dtype):
        return pa.chunked_array(series.array.__arrow_array__())
    if isinstance(series.dtype, pd.StringDtype):  # python storage
        series = series.astype(TEXT_DTYPE)
        return pa.chunked_array(series.array.__arrow_array__())
    values = series.to_numpy(dtype=object)  # strings and missing values only (_text_kind)
    return pa.chunked_array([pa.array(values, type=pa.large_string(), from_pandas=True)])


def _mask(values: pa.ChunkedArray | pa.Array, index: pd.Index) -> pd.Series:
    """A boolean Arrow result (null = False) as a bool Series on ``index``."""
    filled = pc.fill_null(values, False)
    return pd.Series(np.asarray(filled, dtype=bool), index=index, copy=False)


def _matches(text: pa.ChunkedArray, pattern: str, *, ignore_case: bool = False) -> pa.ChunkedArray:
    return pc.match_substring_regex(text, pattern, ignore_case=ignore_case)


def _text_series(values: pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """Arrow text as a ``str`` Series on ``index`` (null = NaN)."""
    if not pa.types.is_large_string(values.type):
        values = values.cast(pa.large_string())
    return pd.Series(pd.array(values, dtype=TEXT_DTYPE), index=index, copy=False)


def _coerce_text(series: pd.Series, kind: ColumnType) -> tuple[pd.Series, pd.Series]:
    """:func:`_coerce_values` for a column of strings, with ``pyarrow.compute`` kernels only
    (no Python call per value): trimmed (the whitespace :meth:`str.strip` removes), blanks
    missing, then parsed as ``kind`` with the rules of the value-by-value path."""
    index = series.index
    if kind in ("int", "float"):
        plain = _plain_numbers(_arrow_text(series), index, kind)
        if plain is not None:  # most columns of an export: nothing to trim, nothing blank
            return plain
    text = pc.utf8_trim_whitespace(_arrow_text(series))
    blank = pc.equal(pc.binary_length(text), 0)
    if pc.any(blank).as_py():  # (a CSV export's empty cells are null already: no copy then)
        text = pc.if_else(blank, pa.scalar(None, text.type), text)
    present = _mask(pc.is_valid(text), index)
    none = pd.Series(False, index=index)
    if kind == "str":
        return _text_series(text, index), none
    if kind == "id":
        ok = _mask(_matches(text, f"^(?:{ID_PATTERN.pattern})$"), index)
        ids = to_18_column(_text_series(text, index).where(ok))
        return ids, present & ~ok
    if kind in ("int", "float"):
        return _checked_numbers(_numbers(text, index), present, kind)
    if kind == "date":
        return _dates(text, index, present)
    if kind == "month":
        iso = pc.fill_null(_matches(text, _re2(_ISO_DATE_PREFIX.pattern, text)), False)
        month = pc.if_else(iso, pc.utf8_slice_codeunits(text, 0, 7), text)
        ok = pc.fill_null(_matches(month, _re2(_MONTH.pattern, month)), False)
        months = pc.if_else(ok, month, pa.scalar(None, month.type))
        return _text_series(months, index), present & ~_mask(ok, index)
    if kind == "bool":
        lower = pc.utf8_lower(text)
        true = _mask(pc.is_in(lower, value_set=pa.array(sorted(_TRUE))), index)
        false = _mask(pc.is_in(lower, value_set=pa.array(sorted(_FALSE))), index)
        parsed = pd.arrays.BooleanArray(true.to_numpy(), ~(true | false).to_numpy())
        return pd.Series(parsed, index=index), present & ~(true | false)
    raise AssertionError(kind)  # pragma: no cover - Literal exhausts the cases


def _checked_numbers(
    numbers: pd.Series, present: pd.Series, kind: ColumnType
) -> tuple[pd.Series, pd.Series]:
    """``numbers`` and its bad cells: present but not a number (or, for ``int``, a fraction)."""
    values = numbers.to_numpy()
    bad = present.to_numpy() & np.isnan(values)
    if kind == "int":
        with np.errstate(invalid="ignore"):  # inf % 1 is NaN: not a whole number either
            bad |= present.to_numpy() & ~np.isnan(values) & (np.mod(values, 1) != 0)
    return numbers, pd.Series(bad, index=numbers.index, copy=False)


def _plain_numbers(
    raw: pa.ChunkedArray, index: pd.Index, kind: ColumnType
) -> tuple[pd.Series, pd.Series] | None:
    """:func:`_coerce_text` of a number column whose every value Arrow reads as it stands; None
    when one does not (surrounding whitespace, a blank, a thousands separator…: those take the
    full path). Arrow refuses exactly what trimming, blanking and those rules would change, so
    the result is the full path's, without copying the column to trim it."""
    try:
        numbers = pc.cast(raw, pa.float64())
    except pa.ArrowInvalid:
        return None
    values = np.asarray(pc.fill_null(numbers, np.nan), dtype="float64")
    series = pd.Series(_integer_zeros(values, raw), index=index, copy=False)
    return _checked_numbers(series, _mask(pc.is_valid(raw), index), kind)


def _numbers(text: pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """``pd.to_numeric`` of the text (thousands separators dropped) as float64, NaN where it
    is not a number: decimal notation cast by Arrow (correctly rounded, as pandas' parser),
    ``inf``/``infinity``/``nan`` in any case and with either sign as pandas reads them."""
    try:  # Arrow reads a subset of what pandas reads, the same way: most columns stop here
        numbers = pc.cast(text, pa.float64())
    except pa.ArrowInvalid:
        pass
    else:
        values = np.asarray(pc.fill_null(numbers, np.nan), dtype="float64")
        return pd.Series(_integer_zeros(values, text), index=index, copy=False)
    plain = text
    if pc.any(pc.match_substring(text, ",")).as_py():
        grouped = pc.fill_null(_matches(text, _re2(f"^{_THOUSANDS}$", text)), False)
        plain = pc.if_else(grouped, pc.replace_substring(text, ",", ""), text)
    decimal = pc.fill_null(_matches(plain, _DECIMAL), False)
    try:
        numbers = pc.cast(pc.if_else(decimal, plain, pa.scalar(None, plain.type)), pa.float64())
    except pa.ArrowInvalid:  # a number Arrow's parser refuses (an exponent of 20 digits…)
        parsed = pd.to_numeric(_text_series(plain, index).astype(object), errors="coerce")
        return parsed.astype("float64")
    values = np.asarray(pc.fill_null(numbers, np.nan), dtype="float64").copy()
    words = pc.fill_null(_matches(plain, _NON_FINITE, ignore_case=True), False)
    if pc.any(words).as_py():
        word = np.asarray(words, dtype=bool)
        negative = np.asarray(pc.fill_null(pc.starts_with(plain, "-"), False), dtype=bool)
        infinite = np.asarray(
            pc.fill_null(_matches(plain, "inf", ignore_case=True), False), dtype=bool
        )
        values[word & infinite] = np.inf
        values[word & infinite & negative] = -np.inf
    return pd.Series(_integer_zeros(values, plain), index=index, copy=False)


def _integer_zeros(values: np.ndarray, plain: pa.ChunkedArray) -> np.ndarray:
    """``pd.to_numeric`` reads a column of whole numbers only (none missing) as integers, so
    ``-0`` there is 0 (elsewhere -0.0): the one value whose float64 differs."""
    negative_zero = (values == 0) & np.signbit(values)
    if not negative_zero.any() or plain.null_count:
        return values
    if pc.all(pc.match_substring_regex(plain, "^[+-]?[0-9]+$")).as_py():
        values = values.copy()
        values[negative_zero] = 0.0
    return values


def _dates(
    text: pa.ChunkedArray, index: pd.Index, present: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Calendar dates of ISO text (``YYYY-MM-DD`` and anything after it, as a timestamp's
    time and offset): the first 10 characters when they are a real date, else NaT.

    ASCII dates are checked and converted by Arrow; the rare prefix written with other
    decimal digits (``２０２５-03-15``, which pandas reads as a date) goes to pandas, and so does
    a column holding a date outside datetime64[ns] (where that date becomes a bad cell)."""
    try:  # every value starts with a real YYYY-MM-DD (Arrow's cast takes exactly those)
        days = pc.cast(pc.cast(pc.utf8_slice_codeunits(text, 0, 10), pa.date32()), pa.int32())
    except pa.ArrowInvalid:
        pass
    else:
        low, high = (v.as_py() for v in pc.min_max(days).values())
        if low is None or (_NS_DAYS[0] <= low and high <= _NS_DAYS[1]):
            dates = pd.Series(_datetimes(days), index=index, copy=False)
            return dates, present & dates.isna()
    iso = np.asarray(
        pc.fill_null(_matches(text, _re2(_ISO_DATE_PREFIX.pattern, text)), False), bool
    )
    ascii_iso = pc.fill_null(_matches(text, _ASCII_ISO_DATE), False)
    nothing = pa.scalar(None, text.type)
    prefix = pc.if_else(ascii_iso, pc.utf8_slice_codeunits(text, 0, 10), nothing)
    year = pc.cast(pc.utf8_slice_codeunits(prefix, 0, 4), pa.int32())
    month = pc.cast(pc.utf8_slice_codeunits(prefix, 5, 7), pa.int32())
    day = pc.cast(pc.utf8_slice_codeunits(prefix, 8, 10), pa.int32())
    leap = pc.and_(
        pc.equal(pc.bit_wise_and(year, 3), 0),
        pc.or_(pc.not_equal(pc.remainder(year, 100), 0), pc.equal(pc.remainder(year, 400), 0)),
    )
    in_month = pc.add(
        pc.take(_MONTH_DAYS, pc.min_element_wise(pc.max_element_wise(month, 0), 12)),
        pc.cast(pc.and_(leap, pc.equal(month, 2)), pa.int32()),
    )
    real = pc.and_(
        pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12)),
        pc.and_(pc.greater_equal(day, 1), pc.less_equal(day, in_month)),
    )
    real = pc.fill_null(real, False)
    try:
        days = pc.cast(pc.if_else(real, prefix, pa.scalar(None, prefix.type)), pa.date32())
        days = pc.cast(days, pa.int32())
        low, high = (v.as_py() for v in pc.min_max(days).values())
    except pa.ArrowInvalid:  # a year Arrow's calendar lacks (0000): pandas' path decides
        low, high = _NS_DAYS[0] - 1, None
    if low is not None and (low < _NS_DAYS[0] or high > _NS_DAYS[1]):
        whole = _text_series(text, index).str.slice(0, 10).where(iso, "invalid").where(present)
        dates = _ns_dates(pd.to_datetime(whole, format="%Y-%m-%d", errors="coerce"))
        return dates, present & dates.isna()
    stamps = _datetimes(days)
    odd = iso & ~np.asarray(ascii_iso, dtype=bool)
    if odd.any():  # other decimal digits: pandas reads them (one value at a time, rare)
        few = _text_series(text, index)[odd].str.slice(0, 10)
        parsed = pd.to_datetime(few, format="%Y-%m-%d", errors="coerce")
        stamps[odd] = parsed.astype("datetime64[ns]").to_numpy()
    dates = pd.Series(stamps, index=index, copy=False)
    return dates, present & dates.isna()


def _datetimes(days: pa.ChunkedArray) -> np.ndarray:
    """Days since 1970 (int32, null = missing) as datetime64[ns] (NaT = missing)."""
    stamps = np.asarray(pc.fill_null(days, 0), dtype="int64").astype("datetime64[D]")
    stamps = stamps.astype("datetime64[ns]")
    stamps[~np.asarray(pc.is_valid(days), dtype=bool)] = np.datetime64("NaT")
    return stamps


@functools.cache
def _python_digits() -> str:
    """An RE2 class of the characters that ``\\d`` matches in a Python ``str`` pattern (every
    Unicode decimal digit, by Python's Unicode tables: RE2's ``\\d`` is ASCII only and its
    ``\\p{Nd}`` follows a newer Unicode)."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if chr(code).isdecimal():
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges) + "]"


def _re2(pattern: str, text: pa.ChunkedArray) -> str:
    """A Python regex of this module for ``pyarrow.compute`` (RE2) on ``text``: ``\\d`` as
    Python means it (``[0-9]`` when the text is ASCII, a quicker class for RE2)."""
    if pc.all(pc.string_is_ascii(text)).as_py() is not False:
        return pattern.replace(r"\d", "[0-9]")
    return pattern.replace(r"\d", _python_digits())


def _numeric_text(value: object) -> object:
    if isinstance(value, bool):
        return float("nan")  # a boolean is not a count
    if isinstance(value, str):
        return (
            value.replace(",", "") if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", value) else value
        )
    return value


def _month_text(value: object) -> str:
    if isinstance(value, pd.Timestamp) or hasattr(value, "strftime"):
        return value.strftime("%Y-%m")  # type: ignore[union-attr]
    text = _to_text(value)
    return text[:7] if _ISO_DATE_PREFIX.match(text) else text


def _bool_value(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return pd.NA


def _allowed(values: pd.Series, allowed: list[str]) -> tuple[pd.Series, pd.Series]:
    """``values`` in the spelling of ``allowed`` (matched ignoring case), and the mask of the
    present values that are none of them. Each distinct value is looked up once (a column
    with allowed values holds few)."""
    spelling = {a.strip().casefold(): a for a in allowed}
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    found = [spelling.get(str(v).strip().casefold()) for v in uniques]
    table = pa.array(found, type=pa.large_string())
    taken = table.take(pa.array(codes, mask=codes < 0)) if len(table) else None
    if taken is None:
        taken = pa.nulls(len(values), pa.large_string())
    folded = _text_series(pa.chunked_array([taken]), values.index)
    return folded, values.notna() & folded.isna()


def _describe(kind: ColumnType) -> str:
    return {
        "int": "not a whole number",
        "float": "not a number",
        "date": "not a date (expected YYYY-MM-DD)",
        "month": "not a month (expected YYYY-MM)",
        "bool": "not a boolean (expected true/false)",
        "str": "not text",
        "id": "not a Salesforce record id (15 or 18 letters and digits)",
    }[kind]


class _Shown:
    """``"<field>: <repr of the raw value>"`` for the rows a reason is given for, built on
    demand (a repr of every value would be Python work per value)."""

    def __init__(self, column: pd.Series, prefix: str, suffix: str = "", cache=None) -> None:
        self.column, self.prefix, self.suffix = column, prefix, suffix
        self.cache: dict[str, pd.Series] = {} if cache is None else cache

    def __add__(self, suffix: str) -> _Shown:
        return _Shown(self.column, self.prefix, self.suffix + suffix, self.cache)

    def at(self, index: object) -> str:
        if isinstance(self.column.dtype, pd.StringDtype) or _is_arrow_text(self.column.dtype):
            value = self.column.at[index]  # a str, or the dtype's missing value, as astype gives
        else:
            if "values" not in self.cache:  # Python objects, as the values were read
                self.cache["values"] = self.column.astype(object)
            value = self.cache["values"].at[index]
        return f"{self.prefix}{value!r}{self.suffix}"


def apply_mapping(raw: pd.DataFrame, mapping: ColumnMapping, *, source: str) -> MappedFrame:
    """Rename, coerce and validate ``raw`` with ``mapping``; quarantine rows that fail.

    ``source`` names the source in errors and quarantine rows (e.g. ``"usage"``).
    Raises SourceError when a required column is absent from ``raw``.
    """
    raw = raw.reset_index(drop=True)
    missing = [
        f"{mapping.source_column(f)} (for {f})"
        for f, spec in mapping.columns.items()
        if spec.required and mapping.source_column(f) not in raw.columns
    ]
    if missing:
        raise SourceError(
            f"{source}: required column(s) missing from the source result: {', '.join(missing)}",
            hint=f"the source returned {', '.join(map(str, raw.columns)) or 'no columns'}; "
            "fix the query or the column mapping",
        )
    out: dict[str, pd.Series] = {}
    reasons: dict[object, list[str]] = {}  # only the rows that fail, in the order found

    def add_reason(mask: pd.Series, text: _Shown | str) -> None:
        for i in mask[mask].index:
            reasons.setdefault(i, []).append(text if isinstance(text, str) else text.at(i))

    for field, spec in mapping.columns.items():
        column = mapping.source_column(field)
        if column not in raw.columns:
            if spec.optional:  # absent means unknown, not empty: consumers say "n/a"
                continue
            if len(raw):  # a renamed or misspelt source column: say so rather than stay silent
                log.warning("mapped_column_absent", source=source, column=column, field=field)
            out[field] = _coerce(pd.Series([None] * len(raw), index=raw.index), spec.type)[0]
            continue
        values, bad = _coerce(raw[column], spec.type)
        shown = _Shown(raw[column], f"{field}: ")  # repr of a bad value, made only for it
        if spec.type in ("int", "float"):  # inf, -inf, 1e999, "NaN": bad, never data
            infinite = non_finite(raw[column], values)
            add_reason(infinite, shown + " is not a finite number")
            bad, values = bad & ~infinite, values.mask(infinite)
        else:
            infinite = pd.Series(False, index=raw.index)
        add_reason(bad, shown + f" is {_describe(spec.type)}")
        if spec.required:
            add_reason(values.isna() & ~bad & ~infinite, f"{field}: required value is empty")
        limited = pd.Series(False, index=raw.index)
        if spec.min is not None:
            below = values.notna() & (values < spec.min)
            add_reason(below, shown + f" is below the minimum {spec.min:g}")
            limited |= below
        if spec.max is not None:
            above = values.notna() & (values > spec.max)
            add_reason(above, shown + f" is above the maximum {spec.max:g}")
            limited |= above
        if spec.values is not None:
            values, unknown = _allowed(values, spec.values)
            allowed_text = ", ".join(spec.values)
            add_reason(unknown, shown + f" is not one of {allowed_text}")
        plausible = plausible_range(field) if spec.type in ("int", "float") else None
        if plausible is not None:  # absurd values (sfsync/plausible.py), whatever the mapping says
            add_reason(
                plausible.outside(values) & ~limited,
                shown + f" is outside the plausible range {plausible.text()}",
            )
        out[field] = values
    # the coerced columns as they are (not copied into 2-D blocks: a million rows' worth)
    frame = pd.DataFrame(out, index=raw.index, copy=False)
    if mapping.keep_extra:
        extra = [c for c in raw.columns if c not in set(mapping.source_columns) | set(frame)]
        frame = pd.concat([frame, raw[extra]], axis=1)
    if mapping.key:
        valid = ~frame.index.isin(list(reasons))
        keyed = frame.loc[valid, mapping.key]
        doubled = keyed.duplicated(keep=False) & keyed.notna().all(axis=1)
        if doubled.any():
            groups = keyed.loc[doubled].groupby(mapping.key, dropna=True).groups
            for key_value, rows in groups.items():
                values = key_value if isinstance(key_value, tuple) else (key_value,)
                shown_key = ", ".join(f"{k}={v}" for k, v in zip(mapping.key, values, strict=True))
                line_numbers = ", ".join(str(int(r) + 1) for r in rows)
                for r in rows:
                    reasons[r] = [f"duplicate key {shown_key} (rows {line_numbers})"]
    bad_rows = frame.index.isin(list(reasons))
    quarantined = pd.DataFrame(
        {
            "source": source,
            "row_ref": [_row_ref(i, frame.loc[i], mapping.key) for i in frame.index[bad_rows]],
            "reason": ["; ".join(reasons[i]) for i in frame.index[bad_rows]],
        },
        columns=QUARANTINE_COLUMNS,
    )
    return MappedFrame(
        source=source,
        frame=frame.loc[~bad_rows] if bad_rows.any() else frame,
        quarantined=quarantined if len(quarantined) else empty_quarantine(),
        rows_read=len(raw),
        key=tuple(mapping.key),
    )


def quarantine_unknown(
    mapped: MappedFrame, field: str, known: Iterable[object], *, what: str
) -> MappedFrame:
    """Quarantine rows whose ``field`` is not one of ``known`` (e.g. usage for an unknown tenant).

    Rows where ``field`` is missing are kept (a required-value check already caught them).
    """
    known_set = {k for k in known if not _is_missing(k)}
    column = mapped.frame[field]
    keep = column.isna() | isin(column, known_set)
    keep = keep.astype(bool)
    unknown = column.loc[~keep].astype(object)
    reasons = pd.Series("", index=column.index, dtype=object)
    reasons.loc[~keep] = [f"{field}: {v!r} is not a known {what}" for v in unknown]
    return mapped.with_more_quarantined(keep, reasons)


def check_quarantine_share(mapped: MappedFrame, max_share: float, *, setting: str) -> None:
    """Stop the run (InputDataError) when too many rows of one source were quarantined.

    ``setting`` names the YAML key that sets ``max_share``, so that the message says what to change.
    """
    if mapped.rows_read == 0 or mapped.quarantined_count == 0:
        return
    share = mapped.quarantined_count / mapped.rows_read
    if share <= max_share:
        return
    examples = "; ".join(
        f"{r.row_ref}: {r.reason}" for r in mapped.quarantined.head(3).itertuples(index=False)
    )
    raise InputDataError(
        f"{mapped.source}: {mapped.quarantined_count} of {mapped.rows_read} rows "
        f"({share:.1%}) failed validation, more than the allowed {max_share:.1%}; "
        f"nothing was written. First problems: {examples}",
        hint=f"fix the source data, or raise {setting}",
    )
