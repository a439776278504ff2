"""Score history in Salesforce: one ``Health_Score_History__c`` record per account and date.

The field mapping is ``mappings/score_history_fields.yaml`` (match column ``history_key`` on
the external ID ``History_Key__c`` = ``<account_id>:<YYYY-MM-DD>``). Records are upserted on
that key through the sync engine's writer (sObject Collections, Bulk API 2.0 above the bulk
threshold), so writing the same date twice updates the same records and never duplicates one.
The Account lookup (``Account__c``) is set from the account id on every record.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import yaml

from sfsync.errors import ConfigProblem
from sfsync.salesforce.mapping import (
    ObjectMapping,
    load_mapping,
    resolve_against_org,
    validate_mapping_against_org,
)
from sfsync.salesforce.normalise import ValueProblem, normalise
from sfsync.salesforce.writer import WriteRequest, WriteStatus, write

HISTORY_MAPPING = "score_history_fields"
ACCOUNT_LOOKUP_FIELD = "Account__c"
HISTORY_COLUMNS = (
    "history_key",
    "account_id",
    "score_date",
    "health_score",
    "health_band",
    "health_trend",
    "segment",
    "lifecycle_phase",
    "churn_signals",
    "signals",
)


def history_key(account_id: str, as_of: date) -> str:
    """The external key of one history record: ``<account_id>:<YYYY-MM-DD>``."""
    return f"{account_id}:{as_of.isoformat()}"


def load_history_mapping(mappings_dir: str | Path, scores_columns=()) -> ObjectMapping:
    """The history field mapping, validated offline (known columns: scores + history ones)."""
    path = Path(mappings_dir) / f"{HISTORY_MAPPING}.yaml"
    columns = {*HISTORY_COLUMNS, *scores_columns}
    if not scores_columns:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        columns |= {c for c in (data.get("fields") or {}) if str(c).endswith("_points")}
    return load_mapping(path, columns=sorted(columns))


def history_frame(scores: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The scoring result with ``history_key`` and ``score_date`` for the history mapping."""
    frame = scores.copy()
    frame["history_key"] = [history_key(str(a), as_of) for a in frame["account_id"]]
    frame["score_date"] = pd.Timestamp(as_of)
    return frame


def history_org_problems(mapping: ObjectMapping, describe: dict[str, Any]) -> list[ConfigProblem]:
    """The mapping against the history object's describe, plus the Account lookup field."""
    problems = validate_mapping_against_org(mapping, describe)
    file = mapping.source or HISTORY_MAPPING
    fields = {f["name"].lower(): f for f in describe.get("fields", [])}
    lookup = fields.get(ACCOUNT_LOOKUP_FIELD.lower())
    name = f"{mapping.sobject}.{ACCOUNT_LOOKUP_FIELD}"
    if lookup is None:
        problems.append(ConfigProblem(file, "sobject", f"{name} does not exist in the org"))
    elif lookup.get("type") != "reference" or "Account" not in (lookup.get("referenceTo") or []):
        problems.append(ConfigProblem(file, "sobject", f"{name} is not a lookup to Account"))
    key = fields.get(mapping.match.field.lower())
    if key is not None and not key.get("unique", False):
        problems.append(
            ConfigProblem(
                file,
                "match.field",
                f"{mapping.sobject}.{key['name']} is not unique; mark it Unique so that a "
                "re-run cannot create a second record for the same account and date",
            )
        )
    return problems


def resolve_history_mapping(mapping: ObjectMapping, describe: dict[str, Any]) -> ObjectMapping:
    """The mapping with the org's picklist spelling and types (see ``resolve_against_org``)."""
    return resolve_against_org(mapping, describe)


def history_records(
    frame: pd.DataFrame, mapping: ObjectMapping, timezone: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(key, field values) per record for an upsert, and the problems of records left out."""
    tz = ZoneInfo(timezone)
    records: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for row in frame.to_dict(orient="records"):
        key = str(row[mapping.match.column])
        values: dict[str, Any] = {ACCOUNT_LOOKUP_FIELD: str(row["account_id"])}
        try:
            for column, spec in mapping.fields.items():
                value = normalise(row.get(column), spec, tz, desired=True)
                if value is None and spec.null_policy == "leave":
                    continue
                values[spec.field] = value
        except ValueProblem as exc:
            problems.append(f"{key} {column}: {exc}")
            continue
        records.append((key, values))
    return records, problems


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
