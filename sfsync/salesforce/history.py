"""Score history records (``Health_Score_History__c``): the field mapping and record building.

Shared by ``sfsync backfill`` (one record per account and past date, key
``<account_id>:<YYYY-MM-DD>``) and the nightly job's periodic snapshot (one record per account
and week or month, key ``<account_id>:<YYYY-Www>`` / ``<account_id>:<YYYY-MM>``,
:mod:`sfsync.automation.history_schedule`). Records are upserted on the external ID
``History_Key__c``, so writing the same key twice updates one record and never duplicates it.
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
from sfsync.plan import FieldChange, PlanProblem, RecordChange
from sfsync.salesforce.mapping import (
    ObjectMapping,
    load_mapping,
    resolve_against_org,
    validate_mapping_against_org,
)
from sfsync.salesforce.normalise import ValueProblem, normalise

HISTORY_MAPPING = "score_history_fields"
ACCOUNT_LOOKUP_FIELD = "Account__c"
HISTORY_COLUMNS = (
    "history_key",
    "account_id",
    "score_date",
    "health_score",
    "health_band",
    "previous_band",
    "health_trend",
    "health_direction",
    "segment",
    "lifecycle_phase",
    "churn_signals",
    "signals",
)


def history_key(account_id: str, period: date | str) -> str:
    """The external key of one history record: ``<account_id>:<period>`` (a date
    ``YYYY-MM-DD``, an ISO week ``YYYY-Www`` or a month ``YYYY-MM``)."""
    text = period.isoformat() if isinstance(period, date) else str(period)
    return f"{account_id}:{text}"


def load_history_mapping(
    mappings_dir: str | Path, scores_columns=(), name: str = HISTORY_MAPPING
) -> ObjectMapping:
    """The history field mapping, validated offline (known columns: scores + history ones)."""
    path = Path(mappings_dir) / f"{name}.yaml"
    columns = {*HISTORY_COLUMNS, *scores_columns}
    if not scores_columns:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        columns |= {c for c in (data.get("fields") or {}) if str(c).endswith("_points")}
    return load_mapping(path, columns=sorted(columns))


def history_frame(
    scores: pd.DataFrame,
    as_of: date,
    *,
    period: str | None = None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The scoring result with ``history_key``, ``score_date`` and ``previous_band`` (pure).

    ``period``: the key suffix (default: the as-of date). ``previous``: the scores of the
    previous snapshot (``account_id``, ``health_band``), whose band becomes ``previous_band``
    (the band change is ``previous_band`` → ``health_band``; empty without one)."""
    frame = scores.copy()
    suffix = period if period is not None else as_of.isoformat()
    frame["history_key"] = [history_key(str(a), suffix) for a in frame["account_id"]]
    frame["score_date"] = pd.Timestamp(as_of)
    if previous is not None and len(previous) and "health_band" in previous.columns:
        bands = previous.drop_duplicates("account_id", keep="last").set_index("account_id")
        frame["previous_band"] = frame["account_id"].astype(str).map(bands["health_band"])
    else:
        frame["previous_band"] = None
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
    records, problems = _records(frame, mapping, timezone)
    return records, [f"{key} {column}: {message}" for key, column, message in problems]


def _records(
    frame: pd.DataFrame, mapping: ObjectMapping, timezone: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str, str]]]:
    tz = ZoneInfo(timezone)
    records: list[tuple[str, dict[str, Any]]] = []
    problems: list[tuple[str, str, str]] = []
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
            problems.append((key, column, str(exc)))
            continue
        records.append((key, values))
    return records, problems


def history_changes(
    frame: pd.DataFrame, mapping: ObjectMapping, timezone: str
) -> tuple[tuple[RecordChange, ...], tuple[PlanProblem, ...]]:
    """The history records of ``frame`` as plan entries (every field new: an upsert by key),
    and the records left out with their problem."""
    records, problems = _records(frame, mapping, timezone)
    changes = tuple(
        RecordChange(key, tuple(FieldChange(name, None, value) for name, value in values.items()))
        for key, values in records
    )
    return changes, tuple(PlanProblem(key, column, message) for key, column, message in problems)
