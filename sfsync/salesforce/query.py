"""Reading Salesforce: SOQL with pagination, Bulk API 2.0 query jobs, and SOQL helpers.

Reads happen only in pages — SOQL pages of up to 2,000 records (``nextRecordsUrl``) or Bulk
2.0 result pages (``Sforce-Locator``) — never one call per record.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any, Protocol
from urllib.parse import quote

import pandas as pd
import requests
import structlog
from simple_salesforce import format_soql

from sfsync.errors import SourceError, TransientError
from sfsync.frames import text_csv_table
from sfsync.salesforce import bulk2
from sfsync.salesforce.retry import RetryPolicy

log = structlog.get_logger(__name__)

#: Salesforce's limit on the length of a SOQL statement.
SOQL_MAX_CHARS = 100_000
#: Budget for one ``field IN (...)`` condition built by :func:`soql_in`. SOQL goes to the REST
#: API in the URL of a GET, and URLs longer than about 16 KB are refused (HTTP 414) well before
#: the 100,000-character SOQL limit, so chunks are measured URL-encoded.
IN_CLAUSE_MAX_URL_CHARS = 12_000

BULK_TIMEOUT_SECONDS = bulk2.DEFAULT_DEADLINE_SECONDS  # of salesforce.bulk_job_deadline_seconds


class QueryClient(Protocol):
    """What reading needs of a client: one REST call through its retry policy, and the policy
    (whose ``sleep`` paces Bulk 2.0 polling). :class:`sfsync.salesforce.client.SalesforceClient`
    is the implementation; naming the protocol here keeps this module free of the client."""

    policy: RetryPolicy

    def request(
        self, method: str, path: str, *, raise_for_status: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send one REST call (``path`` relative to the versioned data endpoint)."""
        ...


# -- pure helpers -------------------------------------------------------------------------


def soql_in(
    field: str, values: Iterable[Any], *, max_url_chars: int = IN_CLAUSE_MAX_URL_CHARS
) -> list[str]:
    """``field IN (...)`` conditions covering ``values`` (deduplicated, order kept), chunked.

    Each value is quoted with :func:`simple_salesforce.format_soql`; each condition stays
    below ``max_url_chars`` once URL-encoded, so that a query built from it fits in a GET URL
    (and far below the 100,000-character SOQL limit). No values → no conditions.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", field):
        raise ValueError(f"not a SOQL field name: {field!r}")
    seen: dict[Any, None] = dict.fromkeys(v for v in values if v is not None and not _is_na(v))
    conditions: list[str] = []
    chunk: list[str] = []
    prefix = f"{field} IN ("
    size = len(quote(prefix)) + len(quote(")"))
    comma = len(quote(","))
    for value in seen:
        literal, cost = _literal_and_cost(value)
        cost += comma
        if chunk and size + cost > max_url_chars:
            conditions.append(prefix + ",".join(chunk) + ")")
            chunk, size = [], len(quote(prefix)) + len(quote(")"))
        chunk.append(literal)
        size += cost
    if chunk:
        conditions.append(prefix + ",".join(chunk) + ")")
    return conditions


#: Text that ``format_soql`` quotes without escaping and ``quote`` keeps, ``:`` aside
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.~:-]*")
_QUOTED_APOSTROPHES = len(quote("''"))


def _literal_and_cost(value: Any) -> tuple[str, int]:
    """``format_soql("{}", value)`` and the length of that literal URL-encoded; sync keys and
    Ids (letters, digits, ``_.~-`` and ``:``) without calling either per value."""
    if type(value) is str and _PLAIN_TEXT.fullmatch(value):
        # ':' is the one character of that set that quote() encodes (as %3A)
        return f"'{value}'", len(value) + 2 * value.count(":") + _QUOTED_APOSTROPHES
    literal = format_soql("{}", value)
    return literal, len(quote(literal))


def _is_na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def select_fields(soql: str) -> list[str]:
    """The top-level field list of a SELECT (subqueries and TYPEOF skipped), best effort."""
    match = re.match(r"\s*SELECT\s+(?P<fields>.*?)\s+FROM\s", soql, re.IGNORECASE | re.DOTALL)
    if not match:
        return []
    fields, depth, current = [], 0, []
    for char in match.group("fields") + ",":
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    return [f for f in fields if f and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", f)]


def flatten_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Strip ``attributes``; parent relationships become dotted keys (``Owner.Email``).

    A child-relationship subquery result becomes a list of flattened child records.
    """
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "records" in value and "totalSize" in value:
            flat[name] = [flatten_record(child) for child in value["records"]]
        elif isinstance(value, dict) and "attributes" in value:
            flat.update(flatten_record(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def complete_row(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Add ``None`` for dotted fields whose parent record was null (``Owner`` = null)."""
    for name in fields:
        if "." in name and name not in row:
            parent = name.split(".", 1)[0]
            if parent in row and row[parent] is None:
                row[name] = None
    for name in fields:
        if "." in name:
            parent = name.split(".", 1)[0]
            if row.get(parent, "") is None:
                del row[parent]
    return row


def as_salesforce_text(value: Any) -> Any:
    """A JSON value rendered as the Bulk API's CSV would render it (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # 72.0 stays "72.0", as the Bulk API CSV writes numbers
    if isinstance(value, (list, dict)):
        return value
    return str(value)


def records_frame(records: list[dict[str, Any]], fields: list[str]) -> pd.DataFrame:
    """A DataFrame of text columns (Salesforce's wire representation), missing = NA."""
    columns = list(fields)
    for row in records:
        for key in row:
            if key not in columns:
                columns.append(key)
    data = {
        col: pd.array([as_salesforce_text(r.get(col)) for r in records], dtype="str")
        if not any(isinstance(r.get(col), (list, dict)) for r in records)
        else [r.get(col) for r in records]
        for col in columns
    }
    return pd.DataFrame(data, columns=columns)


def csv_frame(text: str) -> pd.DataFrame:
    """Parse one Bulk 2.0 CSV result page: every column text, empty cell = NA.

    pyarrow's CSV reader builds the Arrow text columns directly (pandas' C reader makes a
    Python string per cell first). pandas reads the pages pyarrow would read differently:
    a row of another width, a repeated column name, and a single column (where pandas skips a
    line of blanks as empty).
    """
    if not text.strip():
        return pd.DataFrame()
    header = next(csv.reader(io.StringIO(text)), [])
    if len(header) > 1 and len(set(header)) == len(header):
        table = text_csv_table(io.BytesIO(text.encode()), header)
        if table is not None:
            return table.to_pandas()
    return pd.read_csv(
        io.StringIO(text), dtype="str", keep_default_na=False, na_values=[""], encoding="utf-8"
    )


def bulk_compatible(soql: str) -> bool:
    """Bulk 2.0 query cannot run child subqueries or aggregates; those stay on REST."""
    fields_part = re.split(r"\sFROM\s", soql, maxsplit=1, flags=re.IGNORECASE)[0]
    if "(" in fields_part and re.search(r"\(\s*SELECT\s", fields_part, re.IGNORECASE):
        return False
    if re.search(r"\b(COUNT|SUM|AVG|MIN|MAX|COUNT_DISTINCT)\s*\(", fields_part, re.IGNORECASE):
        return False
    return not re.search(r"\bGROUP\s+BY\b", soql, re.IGNORECASE)


# -- REST SOQL ----------------------------------------------------------------------------


def iter_query_pages(
    client: QueryClient, soql: str, *, include_deleted: bool = False
) -> Iterator[dict[str, Any]]:
    """Yield the raw JSON pages of a SOQL query, following ``nextRecordsUrl``."""
    endpoint = "queryAll" if include_deleted else "query"
    page = client.request("GET", f"{endpoint}/", params={"q": soql}).json()
    yield page
    while not page.get("done", True) and page.get("nextRecordsUrl"):
        page = client.request("GET", page["nextRecordsUrl"]).json()
        yield page


def query(client: QueryClient, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """All records of a SOQL query, flattened (see :func:`flatten_record`)."""
    fields = select_fields(soql)
    rows: list[dict[str, Any]] = []
    for page in iter_query_pages(client, soql, include_deleted=include_deleted):
        rows.extend(complete_row(flatten_record(r), fields) for r in page.get("records", []))
    return rows


def count_soql(soql: str) -> str | None:
    """``SELECT COUNT() FROM …`` with the filter of ``soql`` (its ORDER BY dropped: COUNT()
    takes none); None when ``soql`` has a LIMIT or OFFSET (the count would not be the rows)."""
    if re.search(r"\b(LIMIT|OFFSET)\b", soql, re.IGNORECASE):
        return None
    match = re.match(r"\s*SELECT\s+.*?\s+FROM\s+(?P<rest>.*)$", soql, re.IGNORECASE | re.DOTALL)
    if not match:
        return None
    rest = re.sub(r"\s+ORDER\s+BY\s+.*$", "", match.group("rest"), flags=re.IGNORECASE | re.DOTALL)
    return f"SELECT COUNT() FROM {rest.strip()}"


def count_rows(client: QueryClient, soql: str, *, include_deleted: bool = False) -> int | None:
    """How many rows ``soql`` returns, from one ``SELECT COUNT()`` call (no records are sent);
    None when ``soql`` cannot be counted that way."""
    counting = count_soql(soql)
    if counting is None:
        return None
    endpoint = "queryAll" if include_deleted else "query"
    page = client.request("GET", f"{endpoint}/", params={"q": counting}).json()
    return int(page.get("totalSize", 0))


def query_frame(
    client: QueryClient,
    soql: str,
    *,
    bulk_threshold: int,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """A DataFrame of a SOQL query; above ``bulk_threshold`` records via a Bulk 2.0 query.

    REST or Bulk is chosen before any record is read: a Bulk-compatible query (no subqueries
    or aggregates, no LIMIT) is counted first with one ``SELECT COUNT()`` call, and read by a
    Bulk 2.0 job when the count is above the threshold, by REST pages of up to 2,000 records
    otherwise (a query Bulk cannot run is always read by REST pages). No page is fetched and
    discarded. Every column is text as the Bulk CSV writes it (numbers ``72.0``, booleans
    ``true``), missing values are NA, parent fields are dotted (``Owner.Email``).
    """
    fields = select_fields(soql)
    if bulk_compatible(soql):
        total = count_rows(client, soql, include_deleted=include_deleted)
        if total is not None and total > bulk_threshold:
            log.info("salesforce_bulk_query_chosen", records=total, threshold=bulk_threshold)
            frame = bulk_query_frame(client, soql, include_deleted=include_deleted)
            return frame.reindex(columns=_ordered(fields, frame.columns)) if fields else frame
    rows: list[dict[str, Any]] = []
    for page in iter_query_pages(client, soql, include_deleted=include_deleted):
        rows.extend(complete_row(flatten_record(r), fields) for r in page.get("records", []))
    return records_frame(rows, fields)


def _ordered(fields: list[str], present: Iterable[str]) -> list[str]:
    """Select-list order, matching the Bulk CSV header case-insensitively."""
    by_lower = {c.lower(): c for c in present}
    ordered = [by_lower.get(f.lower(), f) for f in fields]
    return ordered + [c for c in present if c not in ordered]


# -- Bulk API 2.0 query ---------------------------------------------------------------------


def bulk_query_frame(
    client: QueryClient,
    soql: str,
    *,
    include_deleted: bool = False,
    max_records: int | None = None,
    timeout_seconds: float | None = None,
) -> pd.DataFrame:
    """Run a Bulk API 2.0 query job and read its CSV results page by page.

    The job goes through the shared helper (:mod:`sfsync.salesforce.bulk2`): polled with
    backoff, and aborted when still running after ``timeout_seconds`` (default: the client's
    ``bulk_job_deadline_seconds``), in which case the read fails with a TransientError; a job
    that Salesforce fails or aborts fails the read with a SourceError.
    """
    if timeout_seconds is None:
        timeout_seconds = bulk2.deadline_seconds(client, BULK_TIMEOUT_SECONDS)
    job_id = bulk2.create_query_job(client, soql, include_deleted=include_deleted)
    _wait_for_query_job(client, job_id, timeout_seconds)
    frames: list[pd.DataFrame] = []
    pages = 0
    for text in bulk2.query_result_pages(client, job_id, max_records=max_records):
        frames.append(csv_frame(text))
        pages += 1
    frames = [f for f in frames if len(f.columns)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    log.info("salesforce_bulk_query_read", job_id=job_id, records=len(frame), pages=pages)
    return frame


def _wait_for_query_job(client: QueryClient, job_id: str, timeout_seconds: float) -> None:
    info = bulk2.wait_for_job(
        client, "query", job_id, timeout=timeout_seconds, sleep=client.policy.sleep
    )
    state = info.get("state")
    if state == "JobComplete":
        return
    if info.get("timed_out"):
        raise TransientError(
            f"Salesforce Bulk API 2.0 query job {job_id} did not finish within "
            f"{timeout_seconds:g} s ({bulk2.DEADLINE_SETTING}); it was aborted "
            "and nothing was read",
            hint=f"Salesforce is busy: re-run later, or raise {bulk2.DEADLINE_SETTING} "
            "in sfsync.yaml",
        )
    raise SourceError(
        f"Salesforce Bulk API 2.0 query job {job_id} {str(state).lower()}: "
        f"{info.get('errorMessage') or 'no error message'}",
        hint="check the SOQL (fields, object, filters) and the user's permissions",
    )
