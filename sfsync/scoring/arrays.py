"""Array helpers that keep the hot path in C: Arrow hashing for string keys, small-dictionary
string columns, and linear-time grouping of small integer keys."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def text_array(values: pd.Series, *, empty_as_null: bool = True) -> pa.Array:
    """A column as an Arrow ``large_string`` array, by default with empty strings as nulls.

    Zero-copy for pandas' Arrow-backed ``str``/``string`` dtypes. Keys are compared exactly
    (the CSV readers strip cells; sources deliver ids as stored).
    """
    if not (pd.api.types.is_string_dtype(values.dtype) and values.dtype != object):
        values = values.astype("string")
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    if not empty_as_null:
        return arr
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.large_string()), arr)


def factorize_text(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Codes (int64, -1 for missing) and the distinct strings (an Arrow array, in order of
    first appearance; call ``to_pylist()`` when it is known to be small)."""
    encoded = pc.dictionary_encode(text_array(values))
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary


def index_in(values: pd.Series | pa.Array, keys: pa.Array | Sequence[str]) -> np.ndarray:
    """Position of each value in ``keys`` (int32; -1 when absent or missing).

    Large inputs are split into slices hashed on parallel threads (Arrow releases the GIL):
    hashing 13 million usage keys is the largest single cost of scoring."""
    if len(keys) == 0 or len(values) == 0:
        return np.full(len(values), -1, dtype=np.int32)
    if isinstance(keys, pa.Array):
        value_set = keys.cast(pa.large_string())
    else:
        value_set = pa.array(list(keys), type=pa.large_string())
    # an empty value cannot match: keys never hold empty strings (see factorize_text)
    arr = values if isinstance(values, pa.Array) else text_array(values, empty_as_null=False)
    workers = min(_WORKERS, max(1, len(arr) // _SLICE_MIN))
    if workers == 1:
        return _index_in_slice(arr, value_set)
    bounds = np.linspace(0, len(arr), workers + 1).astype(int)
    slices = [arr.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda part: _index_in_slice(part, value_set), slices))
    return np.concatenate(parts)


_WORKERS = max(1, min(4, os.cpu_count() or 1))
_SLICE_MIN = 1_000_000


def _index_in_slice(arr: pa.Array, value_set: pa.Array) -> np.ndarray:
    found = pc.index_in(arr, value_set=value_set)  # int32: half the memory of int64 codes
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def strings_from_codes(texts: pa.Array | Sequence[str | None], codes: np.ndarray) -> pd.Series:
    """A ``string`` Series whose row i is ``texts[codes[i]]`` (None -> missing); built by an
    Arrow ``take`` instead of a million Python string objects."""
    if isinstance(texts, pa.Array):
        dictionary = texts.cast(pa.large_string())
    else:
        dictionary = pa.array(list(texts), type=pa.large_string())
    taken = dictionary.take(pa.array(np.asarray(codes, dtype=np.int64)))
    return pd.Series(pd.array(taken, dtype="string"))


def strings_from_choices(conditions: list[np.ndarray], choices: list[str]) -> pd.Series:
    """Like ``np.select(conditions, choices, default=None)`` but returning a ``string`` Series."""
    index = np.select(conditions, np.arange(len(choices)), default=len(choices))
    return strings_from_codes([*choices, None], index)


def unique_inverse(keys: np.ndarray, bound: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For non-negative integer keys: index of the first row of each distinct key, and each
    row's group number. Linear time (bincount) when the keys are below ``bound`` <= 2**22."""
    keys = np.asarray(keys, dtype=np.int64)
    if bound is not None and bound <= 2**22:
        seen = np.zeros(bound, dtype=bool)
        seen[keys] = True
        present = np.flatnonzero(seen)
        lookup = np.full(bound, -1, dtype=np.int64)
        lookup[present] = np.arange(len(present))
        inverse = lookup[keys]
        first = np.full(len(present), len(keys), dtype=np.int64)
        np.minimum.at(first, inverse, np.arange(len(keys)))
        return first, inverse
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.ravel()
