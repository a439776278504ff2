"""A CSV export (as Metabase's ``/query/csv`` endpoints send it) as a DataFrame of text columns,
decoded by pyarrow's CSV reader straight from the response bytes.

``pd.read_csv(io.StringIO(response.text), dtype=str)`` decodes the whole body into a Python
string first (and, for a ``text/csv`` answer without a charset, as Latin-1: requests' default
for text), then makes a Python string per cell. :func:`csv_frame` hands the body's bytes to
Arrow without a copy (a UTF-8 byte-order mark is skipped), reads every column as text (no type
inference) and returns Arrow-backed ``str`` columns. The result is the frame
``pd.read_csv(…, dtype=str, keep_default_na=False, na_values=[""])`` made: an empty cell,
quoted or not, is missing; ``NA``, ``null``, ``nan`` stay text; quoted fields keep their
commas, quotes and newlines.

pandas reads some bodies differently from Arrow: repeated column names (pandas renames them
``a.1``), a single column (pandas skips a line of blanks, a null row) and rows of another width;
those few bodies are read by pandas, as before.

Metabase answers some failures with a JSON object instead of CSV: a query that fails before
its first row (HTTP 200 or 202 in versions that set the status before running the query), or
one that fails mid-export (the error object follows the rows written so far). Both are found
here and raised as :class:`ExportError` with Metabase's message.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pandas as pd
import pyarrow as pa

from sfsync.frames import text_csv_table
from sfsync.sources.columns import TEXT_DTYPE

_BOM = b"\xef\xbb\xbf"
#: The header is looked for in this much of the body (a header longer than this is read by pandas)
_HEADER_BYTES = 1024 * 1024
#: Keys of the error objects Metabase writes in place of (or after) CSV rows
_ERROR_KEYS = ("error", "message", "cause", "status", "_status", "via")


class ExportError(ValueError):
    """The body is a Metabase error object, not CSV rows (``message`` says what failed)."""

    def __init__(self, message: str, rows_before: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rows_before = rows_before


def csv_frame(body: bytes) -> pd.DataFrame:
    """The rows of a CSV export, every column Arrow-backed text (``str``), empty cell = NA.

    Raises :class:`ExportError` when the body is (or ends with) a Metabase error object, and
    ``ValueError`` when it is empty or not CSV at all."""
    start = len(_BOM) if body.startswith(_BOM) else 0
    first = body[start : start + _HEADER_BYTES]
    head = first.lstrip()
    if head.startswith(b"{") or head.startswith(b"["):
        _raise_if_json(body[start:])
    _raise_if_error_after_rows(body)
    if not head and len(body) <= start + _HEADER_BYTES:  # (no copy of a long body)
        raise ValueError("the CSV export is empty (not even a header)")
    data = pa.py_buffer(body)  # no copy: Arrow reads the bytes object itself
    if start:
        data = data.slice(start)
    names = _header(first)
    if names is not None and len(names) > 1 and len(set(names)) == len(names):
        # one thread: less CPU and memory in all than parallel blocks
        table = text_csv_table(
            pa.BufferReader(data), names, text_type=pa.large_string(), use_threads=False
        )
        # every column as named and typed (a header Arrow splits otherwise: pandas)
        if (
            table is not None
            and table.column_names == names
            and all(t == pa.large_string() for t in table.schema.types)
        ):
            return _text_frame(table)
    return pd.read_csv(
        io.BytesIO(body),
        dtype="str",
        keep_default_na=False,
        na_values=[""],
        encoding="utf-8-sig",
    )


def _text_frame(table: pa.Table) -> pd.DataFrame:
    """The table's text columns as ``str`` columns, without copying their buffers."""
    columns = {
        name: pd.array(table.column(i), dtype=TEXT_DTYPE)
        for i, name in enumerate(table.column_names)
    }
    return pd.DataFrame(columns, columns=table.column_names, copy=False)


def _header(head: bytes) -> list[str] | None:
    """The column names of the first CSV record (quoted names may hold commas or newlines)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # cut inside a character at the end of the slice
        text = head[: exc.start].decode("utf-8", errors="replace")
    try:
        names = next(csv.reader(io.StringIO(text, newline="")), None)
    except csv.Error:
        return None
    if "\n" not in text and len(head) >= _HEADER_BYTES:
        return None  # the header may go on beyond the slice
    return names


def _raise_if_json(body: bytes) -> None:
    """A body that is one JSON object (or list) is Metabase answering with JSON, not CSV."""
    try:
        payload = json.loads(body)
    except ValueError:
        return  # CSV whose first column name starts with "{"
    if isinstance(payload, dict):
        raise ExportError(error_message(payload))
    raise ExportError("Metabase answered with JSON, not CSV")


def _raise_if_error_after_rows(body: bytes) -> None:
    """Metabase writes the error object of a query that fails mid-export after the rows sent
    so far, on the line after them. A CSV line cannot start with ``{"`` (a field holding a
    quote is quoted), so such a last line is that object."""
    end = len(body)
    while end and body[end - 1 : end].isspace():  # not body.rstrip(): that copies the body
        end -= 1
    cut = body.rfind(b"\n", 0, end) + 1
    if not body.startswith(b'{"', cut) or cut == 0:
        return
    try:
        payload = json.loads(body[cut:end])
    except ValueError:
        return
    if isinstance(payload, dict) and any(key in payload for key in _ERROR_KEYS):
        rows = body.count(b"\n", 0, cut) - 1  # lines before it, less the header
        raise ExportError(error_message(payload), rows_before=rows)


def error_message(payload: dict[str, Any]) -> str:
    """What failed, from a Metabase error object (a failed query's ``error``, an exception's
    ``message`` or ``cause``), else the object itself, shortened."""
    for key in ("error", "message", "cause"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return str(payload)[:300]
