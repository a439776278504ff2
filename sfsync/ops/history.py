"""Score history in Salesforce for ``sfsync backfill``: one ``Health_Score_History__c`` record
per account and date.

The record building lives in :mod:`sfsync.salesforce.history` (shared with the nightly job's
periodic snapshot); this module adds the backfill's direct write. Records are upserted on
``History_Key__c`` = ``<account_id>:<YYYY-MM-DD>`` through the sync engine's writer (sObject
Collections, Bulk API 2.0 above the bulk threshold), so writing the same date twice updates the
same records and never duplicates one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sfsync.salesforce.history import (
    ACCOUNT_LOOKUP_FIELD,
    HISTORY_COLUMNS,
    HISTORY_MAPPING,
    history_frame,
    history_key,
    history_org_problems,
    history_records,
    load_history_mapping,
    resolve_history_mapping,
)
from sfsync.salesforce.mapping import ObjectMapping
from sfsync.salesforce.writer import WriteRequest, WriteStatus, write

__all__ = [
    "ACCOUNT_LOOKUP_FIELD",
    "HISTORY_COLUMNS",
    "HISTORY_MAPPING",
    "history_frame",
    "history_key",
    "history_org_problems",
    "history_records",
    "load_history_mapping",
    "resolve_history_mapping",
    "write_history",
]


def write_history(
    client: Any,
    mapping: ObjectMapping,
    frame: pd.DataFrame,
    *,
    timezone: str,
    bulk_threshold: int,
) -> tuple[int, list[str]]:
    """Upsert the history records of ``frame``; return (records written, failure messages)."""
    records, problems = history_records(frame, mapping, timezone)
    request = WriteRequest(mapping.sobject, "upsert", mapping.match.field, tuple(records))
    results = write(client, request, bulk_threshold=bulk_threshold)
    failures = list(problems)
    for r in results:
        if r.status is not WriteStatus.SUCCESS:
            failures.append(f"{r.key}: {r.error_code} {r.message or ''}".strip())
    written = sum(1 for r in results if r.status is WriteStatus.SUCCESS)
    return written, failures
