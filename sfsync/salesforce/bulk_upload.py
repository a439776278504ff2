"""Bulk API 2.0 upload data, pure: CSV rows, parent ordering, and the split into jobs.

- **CSV** (Salesforce "Valid CSV Record Rows"): the key column first, then every field any
  record sets; an empty cell leaves a field untouched on update/upsert, ``#N/A`` writes null.
- **Ordered by parent**: Salesforce cuts a job into internal batches of 10,000 records that
  run in parallel, and writing a Task locks its parent Account (``WhatId``). Rows are sorted
  by parent, then key (an Account by its own Id), so that one Account's Tasks sit in as few
  batches as possible and parallel batches do not wait on the same lock
  (``UNABLE_TO_LOCK_ROW``).
- **Split under the upload limits**: one job's data may be at most 150 MB once Salesforce has
  base64-encoded it, so at most 100 MB as sent (Bulk API 2.0 Developer Guide, "Upload Job
  Data"), and at most 150,000,000 characters. Each row is measured UTF-8 encoded (Japanese
  text is 3 bytes a character) and rows go into consecutive jobs, each with the header, each
  under both limits. :func:`count_jobs` is what the API budget uses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sfsync.salesforce.dml import Record, WriteRequest

BULK_NULL = "#N/A"
#: Largest upload Salesforce accepts for one ingest job, as sent (150 MB after base64).
MAX_UPLOAD_BYTES = 100_000_000
#: Largest number of characters of one ingest job's data.
MAX_UPLOAD_CHARS = 150_000_000
#: Fields a written record locks the parent through, in order of preference.
PARENT_FIELDS = ("WhatId", "AccountId", "ParentId")


@dataclass(frozen=True)
class UploadLimits:
    """How much CSV one ingest job may carry (tests inject small limits)."""

    max_bytes: int = MAX_UPLOAD_BYTES
    max_chars: int = MAX_UPLOAD_CHARS


@dataclass(frozen=True)
class Upload:
    """The data of one ingest job: its records' keys and the UTF-8 CSV, header included."""

    keys: tuple[str, ...]
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def parent_of(key: str, values: Mapping[str, Any], parents: Mapping[str, str]) -> str:
    """The Id a record locks when written: its known parent, a parent field, else itself."""
    parent = parents.get(key)
    if parent:
        return str(parent)
    for name in PARENT_FIELDS:
        if values.get(name):
            return str(values[name])
    return key


def order_by_parent(request: WriteRequest) -> list[Record]:
    """The request's records sorted by parent, then key (Tasks by ``WhatId``, Accounts by Id)."""
    return sorted(request.records, key=lambda r: (parent_of(r[0], r[1], request.parents), r[0]))


def columns_of(records: Sequence[Record]) -> list[str]:
    """Every field any record sets, in first-seen order."""
    return list(dict.fromkeys(name for _, values in records for name in values))


def cell(values: Mapping[str, Any], name: str) -> str:
    """One CSV cell: empty leaves the field untouched, ``#N/A`` writes null."""
    if name not in values:
        return ""
    value = values[name]
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Lines:
    """Renders CSV lines one at a time (one csv.writer, one buffer)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def line(self, cells: Sequence[str]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(cells)
        return self._buffer.getvalue()


@dataclass(frozen=True)
class UploadSize:
    """The measure of one job's upload: records, UTF-8 bytes and characters (header included)."""

    records: int
    bytes: int
    chars: int


def _chunks(
    request: WriteRequest, limits: UploadLimits, *, keep_lines: bool = True
) -> Iterator[tuple[list[str], list[str], UploadSize]]:
    """(keys, lines, size) of each job, header line first, rows ordered by parent; with
    ``keep_lines`` False the lines are only measured (``lines`` is empty)."""
    records = order_by_parent(request)
    columns = columns_of(records)
    render = _Lines()
    header = render.line([request.key_field, *columns])
    header_bytes, header_chars = len(header.encode("utf-8")), len(header)
    keys: list[str] = []
    lines: list[str] = [header] if keep_lines else []
    size, chars = header_bytes, header_chars
    for key, values in records:
        line = render.line([key, *(cell(values, name) for name in columns)])
        line_bytes, line_chars = len(line.encode("utf-8")), len(line)
        full = size + line_bytes > limits.max_bytes or chars + line_chars > limits.max_chars
        if keys and full:
            yield keys, lines, UploadSize(len(keys), size, chars)
            keys, lines = [], [header] if keep_lines else []
            size, chars = header_bytes, header_chars
        keys.append(key)
        if keep_lines:
            lines.append(line)
        size += line_bytes
        chars += line_chars
    if keys:
        yield keys, lines, UploadSize(len(keys), size, chars)


def split_uploads(request: WriteRequest, limits: UploadLimits | None = None) -> Iterator[Upload]:
    """The request's records as one or more job uploads, each under ``limits`` (a single row
    larger than the limits goes alone: Salesforce then reports it)."""
    for keys, lines, _size in _chunks(request, limits or UploadLimits()):
        yield Upload(tuple(keys), "".join(lines).encode("utf-8"))


def measure_uploads(request: WriteRequest, limits: UploadLimits | None = None) -> list[UploadSize]:
    """The size of each upload :func:`split_uploads` makes of ``request``, without building
    them (for the API budget and for tests at the real limits)."""
    return [size for _, _, size in _chunks(request, limits or UploadLimits(), keep_lines=False)]


def count_jobs(request: WriteRequest, limits: UploadLimits | None = None) -> int:
    """How many ingest jobs :func:`split_uploads` makes of ``request`` (0 for no records)."""
    return len(measure_uploads(request, limits))
