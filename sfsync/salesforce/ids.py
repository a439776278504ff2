"""Salesforce record ids: 15 case-sensitive characters, or 18 with the case-safe suffix.

Ids from the REST API are 18 characters; ids typed into a spreadsheet or kept by another system
are often the 15-character form, and two of those may differ only in letter case. sfsync keys
Tasks by account id inside a case-insensitive unique external ID (``Sync_Key__c``), so every id
is brought to its 18-character form before a key is built from it (:func:`to_18`, or
:func:`to_18_column` for a whole column of ids read from the org).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ALPHABET_BYTES = np.frombuffer(_ALPHABET.encode(), dtype=np.uint8)
ID_PATTERN = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def case_safe_suffix(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitively unique."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if ch.isupper())
        suffix += _ALPHABET[bits]
    return suffix


def to_18(record_id: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters (the suffix recomputed from the
    15 case-sensitive characters, so an 18-character id with a wrong suffix is corrected)."""
    return record_id[:15] + case_safe_suffix(record_id[:15])


def is_record_id(value: str) -> bool:
    """True for a 15- or 18-character id made of letters and digits."""
    return ID_PATTERN.fullmatch(value) is not None


def to_18_column(ids: pd.Series) -> pd.Series:
    """:func:`to_18` of every value of a text column, as whole-column operations: the same
    Index, Arrow-backed text (``str``), missing values stay missing.

    The ids of Salesforce's answers (15 or more ASCII letters and digits) are converted as one
    byte matrix: the upper-case letters of the first 15 characters give the three suffix
    characters. Any other value (shorter, or with a non-ASCII character, whose upper case
    :meth:`str.isupper` judges) goes through :func:`to_18` one by one.
    """
    text = ids if isinstance(ids.dtype, pd.StringDtype) else ids.astype("str")
    data = pa.chunked_array(text.array.__arrow_array__()).combine_chunks()
    data = data.cast(pa.large_string())
    valid = np.asarray(data.is_valid(), dtype=bool)
    ascii_ = np.asarray(pc.string_is_ascii(data).fill_null(False), dtype=bool)
    long_enough = np.asarray(pc.binary_length(data).fill_null(0), dtype=np.int64) >= 15
    plain = valid & ascii_ & long_enough
    out = data
    if plain.any():
        head = pc.utf8_slice_codeunits(data.filter(pa.array(plain)), 0, 15)
        out = pc.replace_with_mask(out, pa.array(plain), _ascii_to_18(head))
    odd = valid & ~plain
    if odd.any():
        values = [to_18(v) for v in data.filter(pa.array(odd)).to_pylist()]
        out = pc.replace_with_mask(out, pa.array(odd), pa.array(values, pa.large_string()))
    column = pd.array(out, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    return pd.Series(column, index=ids.index, name=ids.name, copy=False)


def _ascii_to_18(head: pa.Array) -> pa.Array:
    """The 18-character ids of ``head``: ASCII text of exactly 15 characters, none missing."""
    start = head.offset
    offsets = np.frombuffer(head.buffers()[1], dtype=np.int64)[start : start + len(head) + 1]
    # the values of a string array lie end to end in its data buffer
    chars = np.frombuffer(head.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    chars = chars.reshape(len(head), 15)
    upper = ((chars >= ord("A")) & (chars <= ord("Z"))).reshape(len(head), 3, 5)
    # each group of 5 characters is a 5-bit number, its first character the lowest bit
    bits = np.packbits(upper, axis=2, bitorder="little")[:, :, 0]
    suffix = _ALPHABET_BYTES[bits]
    whole = np.ascontiguousarray(np.hstack([chars, suffix]))
    bounds = np.arange(0, 18 * (len(head) + 1), 18, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(len(head), pa.py_buffer(bounds), pa.py_buffer(whole))
