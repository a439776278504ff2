"""A JSON export (a list of row objects, as Metabase's ``/query/json`` endpoints send it) as a
DataFrame, without holding a Python dict per row for the whole export.

``pd.DataFrame.from_records(json.loads(body))`` keeps every row as a dict until the frame is
built: more than a kilobyte a row, 1.2 GB for the 927,482 usage rows (a 355 MB export) of
100,000 accounts; this decode needs 0.3 GB (``bench/bench_cpu.py``). :func:`records_frame` decodes the body in slabs of rows, turns each slab into
a frame at once (``from_records``, typed columns) and joins the slabs, so that only one slab's
dicts exist at a time. The result is the frame ``from_records`` makes of the whole list:

- a column whose slabs all got the same dtype keeps it (the whole list would give it too);
- whole numbers in some slabs and decimals or nulls in others give ``float64``, text and
  nulls give text, booleans and anything else give ``object`` — as for the whole list (a
  slab of nulls only counts as "nulls", whatever ``from_records`` made of it alone);
- any other mix is decoded again whole, the usual way.

Slabs are cut where a row starts. In JSON text the two characters ``{"`` can only open an
object (inside a string a quote is always escaped), and the rows of an export are flat
objects, so each ``{"`` after the first starts a row; a cut inside a row (a nested object)
leaves text that does not decode. A body that is not such a list (an error object, nested
objects, text that is not JSON) is decoded whole too.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pandas as pd

#: Bytes of JSON text decoded at a time
SLAB_BYTES = 8 * 1024 * 1024
_ROW_START = b'{"'
#: Digits as ``0``, so that a run of 19 digits is one ``find`` (a regex is 7 times slower)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
_INT64_END = 2.0**63


class _Whole(ValueError):
    """Decode the body whole: not flat rows, or slabs whose columns do not join exactly."""


def records_frame(body: bytes, *, slab_bytes: int = SLAB_BYTES) -> pd.DataFrame | Any:
    """``pd.DataFrame.from_records(json.loads(body))`` when the body is a list of row objects,
    decoded slab by slab; any other JSON value is returned decoded for the caller to judge.
    Raises ``ValueError`` (``json.JSONDecodeError``) for text that is not JSON."""
    try:
        return _join([pd.DataFrame.from_records(rows) for rows in _slabs(body, slab_bytes)])
    except _Whole:
        payload = _loads(body)
        return pd.DataFrame.from_records(payload) if isinstance(payload, list) else payload


def _slabs(body: bytes, slab_bytes: int):
    """The rows of the list in ``body``, one decoded slab (a list of dicts) at a time."""
    start = len(body) - len(body.lstrip())
    end = body.rfind(b"]")
    if body[start : start + 1] != b"[" or end < 0 or body[end + 1 :].strip():
        raise _Whole("not a list")
    if not body[start + 1 : end].strip():
        yield []
        return
    position = body.find(_ROW_START, start)
    if position < 0 or body[start + 1 : position].strip():
        raise _Whole("not a list of objects")
    while position < end:
        cut = body.find(_ROW_START, position + slab_bytes)
        stop = end if cut < 0 or cut > end else cut
        text = body[position:stop].rstrip()
        if stop < end:  # cut before a row: drop the comma after the previous one
            if not text.endswith(b","):
                raise _Whole("not a row boundary")
            text = text[:-1]
        try:
            rows = _loads(b"[" + text + b"]")
        except json.JSONDecodeError:  # a cut inside a row (nested objects), or not JSON
            raise _Whole("not flat rows") from None
        if not all(type(row) is dict for row in rows):
            raise _Whole("not a list of objects")
        yield rows
        position = stop


def _loads(text: bytes) -> Any:
    """``json.loads(text)``, by orjson (about 2.5 times faster) where it gives the same: orjson
    turns integers beyond 64 bits into floats or refuses them, and refuses the ``NaN`` and
    ``Infinity`` words that ``json`` accepts; text with a run of 19 digits or more (every such
    integer has one) or that orjson refuses is decoded by ``json``."""
    if text.translate(_DIGITS_AS_ZERO).find(_LONG_DIGITS) < 0:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _join(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The slab frames as one, each column in the dtype the whole list would give it."""
    if len(frames) == 1:
        return frames[0]
    columns = frames[0].columns
    if any(not f.columns.equals(columns) for f in frames[1:]):
        if any(set(f.columns) != set(columns) for f in frames[1:]):
            raise _Whole("slabs with different columns")
        frames = [f[columns] for f in frames]
    joined = {}
    for name in columns:
        joined[name] = _join_column([f[name] for f in frames])
    return pd.DataFrame(joined, columns=columns).reset_index(drop=True)


def _join_column(parts: list[pd.Series]) -> pd.Series:
    kinds = [_kind(p) for p in parts]
    if any(k == "float64" and bool((p.abs() >= _INT64_END).any()) for p, k in zip(parts, kinds, strict=True)):  # fmt: skip
        # an integer beyond int64 beside a negative one makes the whole list's column object,
        # whichever slabs they fall in (a float this large may have been such an integer)
        raise _Whole("a number beyond 64-bit integers")
    present = {k for k in kinds if k != "nulls"}
    if len({str(p.dtype) for p in parts}) == 1 and (present or kinds.count("nulls") == len(kinds)):
        return pd.concat(parts, ignore_index=True)
    if present <= {"int64", "float64"} and present:
        filled = [p.astype("float64") if k != "nulls" else _nan(len(p)) for p, k in zip(parts, kinds, strict=True)]  # fmt: skip
        return pd.concat(filled, ignore_index=True)
    if present == {"str"}:
        dtype = next(p.dtype for p, k in zip(parts, kinds, strict=True) if k == "str")
        filled = [p if k == "str" else pd.Series([None] * len(p), dtype=dtype) for p, k in zip(parts, kinds, strict=True)]  # fmt: skip
        return pd.concat(filled, ignore_index=True)
    if present <= {"bool", "object"}:
        return pd.concat([p.astype(object) for p in parts], ignore_index=True)
    raise _Whole("slabs with columns of different kinds")


def _kind(part: pd.Series) -> str:
    """A slab column's dtype, or "nulls" for a column of nulls only."""
    if part.dtype == object and part.isna().all():
        return "nulls"
    if isinstance(part.dtype, pd.StringDtype):
        return "str"
    return str(part.dtype)


def _nan(length: int) -> pd.Series:
    return pd.Series(np.full(length, np.nan))
