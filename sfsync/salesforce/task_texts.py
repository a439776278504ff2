"""Task texts for whole columns: the subjects and descriptions of many Tasks rendered from one
template at once (pure).

:meth:`sfsync.templates.TemplateSet.render` fills one Task's placeholders with
``str.format_map``. A template whose placeholders are plain names (``{account_name}``, no
format spec, conversion, attribute or index) is literal text and values in turn, so the texts
of N Tasks are the literal pieces joined with N-long value columns, one
``pyarrow.compute.binary_join_element_wise`` per field, instead of N ``format_map`` calls.
Every value is text already (:func:`text_values`), which ``str.format`` would insert as is. Any
other template is rendered row by row with ``TemplateSet.render``, as before.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import infer_dtype, is_integer_dtype

from sfsync.frames import python_values
from sfsync.templates import TemplateSet

#: A column of Task values: one text per row, or one text for every row.
TextColumn = Sequence[str] | np.ndarray | str


def _text(value: Any) -> str:
    return str(value)


def text_values(values: Any, other: Callable[[Any], str] = _text) -> np.ndarray:
    """``values`` as an object array of text: missing values (None, NaN, NA, NaT) as ``""``,
    text as it is, anything else as ``other(value)`` (by default ``str``: then
    ``sfsync.salesforce.tasks.text_or_empty`` of every value). Text and integer columns take
    no Python call per value; a column holding other kinds of values is turned one value at a
    time."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    if is_integer_dtype(series.dtype) or isinstance(series.dtype, pd.StringDtype):
        series = series.astype("string")  # str() of each integer; NA stays NA
    array = series.to_numpy(dtype=object, na_value=None)
    missing = pd.isna(array)
    present = array[~missing]
    if infer_dtype(present, skipna=False) not in ("string", "empty"):
        texts = ["" if m else other(v) for v, m in zip(array, missing, strict=True)]
        return np.array(texts, dtype=object)
    return np.where(missing, "", array).astype(object)


def date_values(values: pd.Series) -> np.ndarray:
    """A datetime column as ``YYYY-MM-DD`` texts (``""`` for NaT), as
    ``strftime("%Y-%m-%d")`` spells them (numpy's ISO dates for time-zone-naive ones)."""
    dates = pd.to_datetime(values)
    if dates.dt.tz is not None:
        return text_values(dates.dt.strftime("%Y-%m-%d"))
    days = dates.to_numpy().astype("datetime64[D]")
    texts = np.datetime_as_string(days, unit="D").astype(object)
    texts[np.isnat(days)] = ""
    return texts


def str_values(values: pd.Series, *, records: bool = False) -> np.ndarray:
    """``str(value)`` of every value as iterating ``values`` gives it (``records``: as
    ``sfsync.frames.iter_records`` gives it, ``pd.NA`` as None), so a missing value is
    ``nan``, ``None`` or ``<NA>``. Only the missing values take a Python call each."""
    texts = values.astype("string").to_numpy(dtype=object, na_value=None)
    missing = values.isna().to_numpy(dtype=bool)
    if missing.any():
        gaps = values[missing]
        texts[missing] = [str(v) for v in (python_values(gaps) if records else gaps)]
    return texts


def per_distinct(values: pd.Series, each: Callable[[Any], str], missing: str = "") -> np.ndarray:
    """``each(value)`` for every value of a text or integer column, called once per distinct
    value (``missing`` for a missing one); a column of other values takes one call per
    non-missing value."""
    kinds = infer_dtype(values, skipna=True)
    if kinds in ("string", "integer", "empty"):
        codes, distinct = pd.factorize(values)
        spelled = [each(v) for v in python_values(pd.Series(distinct))] + [missing]
        return np.array(spelled, dtype=object)[codes]  # code -1 (missing): the last
    array = python_values(values)
    gaps = values.isna().to_numpy(dtype=bool)
    return np.array(
        [missing if gap else each(v) for v, gap in zip(array, gaps, strict=True)], dtype=object
    )


def fit_texts(texts: np.ndarray, length: int) -> np.ndarray:
    """Each text cut to ``length`` characters, its last one ``…`` when it was longer."""
    if not len(texts):
        return texts
    over = np.asarray(pc.utf8_length(pa.array(texts, pa.large_string())).to_numpy()) > length
    if over.any():
        texts = texts.copy()
        texts[over] = [t[: length - 1] + "…" for t in texts[over]]
    return texts


def _pieces(text: str) -> list[tuple[str, str | None]] | None:
    """``text`` as (literal, placeholder name or None) pairs; None when a placeholder is not a
    plain name (a format spec, a conversion, an attribute, an index or a position)."""
    pieces = []
    for literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None and (spec or conversion or not name.isidentifier()):
            return None
        pieces.append((literal, name))
    return pieces


def _column(value: TextColumn, rows: int) -> pa.Array | pa.Scalar:
    if isinstance(value, str):
        return pa.scalar(value, pa.large_string())
    array = pa.array(np.asarray(value, dtype=object), pa.large_string())
    if len(array) != rows:
        raise ValueError(f"a value column has {len(array)} rows, not {rows}")
    return array


def _join(pieces: list[tuple[str, str | None]], values: Mapping[str, TextColumn], rows: int):
    parts: list[pa.Array | pa.Scalar] = [pa.array([""] * rows, pa.large_string())]
    for literal, name in pieces:
        if literal:
            parts.append(pa.scalar(literal, pa.large_string()))
        if name is not None:
            parts.append(_column(values[name], rows))
    joined = pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def render_columns(
    templates: TemplateSet,
    section: str,
    key: str,
    values: Mapping[str, TextColumn],
    rows: int,
) -> dict[str, np.ndarray]:
    """Every field of template ``section.key`` rendered for ``rows`` rows: row i gets what
    ``templates.render(section, key, {name: column[i] …})`` gives (object arrays of text).

    ``values``: per placeholder a column of ``rows`` texts or one text for all rows. A
    placeholder missing from ``values`` is the same ConfigError as ``render``'s."""
    if rows == 0:
        return {name: np.array([], dtype=object) for name in templates.fields(section, key)}
    templates.render(section, key, dict.fromkeys(values, ""))  # its checks and errors
    out: dict[str, np.ndarray] = {}
    for name, text in templates.fields(section, key).items():
        pieces = _pieces(text)
        if pieces is not None:
            out[name] = _join(pieces, values, rows)
            continue
        columns = {k: (v if isinstance(v, str) else list(v)) for k, v in values.items()}
        out[name] = np.array(
            [
                templates.render(
                    section,
                    key,
                    {k: (v if isinstance(v, str) else v[i]) for k, v in columns.items()},
                )[name]
                for i in range(rows)
            ],
            dtype=object,
        )
    return out
