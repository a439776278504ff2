"""The Tasks sfsync created (those with a ``Sync_Key__c``), as the monthly KPIs count them:
onboarding steps completed, upsell proposals made, and touch times for the 48-hour rule.

A Task counts as completed when it is closed by a person: a Task sfsync closed itself (its
description carries :data:`sfsync.plan.AUTO_CLOSED_MARKER`) is not completed. The completion
time is Salesforce's ``CompletedDateTime`` (UTC) in the configured time zone, as naive local
time.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import structlog
from simple_salesforce import format_soql

from sfsync.config import DEFAULT_BULK_THRESHOLD
from sfsync.plan import TASK_KEY_FIELD, is_auto_closed

log = structlog.get_logger(__name__)

FIELDS = ["Id", "WhatId", TASK_KEY_FIELD, "Status", "IsClosed", "ActivityDate",
          "CompletedDateTime", "Description"]  # fmt: skip
TASK_COLUMNS = ["task_id", "account_id", "sync_key", "activity_date", "completed", "completed_at"]


def sfsync_tasks_soql(since: date) -> str:
    """sfsync's Tasks (a sync key) dated on or after ``since``."""
    return format_soql(
        f"SELECT {', '.join(FIELDS)} FROM Task "
        f"WHERE {TASK_KEY_FIELD} != null AND ActivityDate >= {{}}",
        since,
    )


def canonical_sfsync_tasks(raw: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Raw Task rows (Salesforce field names, text values) as the KPI Tasks frame."""
    for name in FIELDS:
        if name not in raw.columns:
            raw[name] = pd.Series(dtype=object)
    closed = raw["IsClosed"].astype(str).str.lower().eq("true")
    auto = raw["Description"].map(is_auto_closed).astype(bool)
    at = pd.to_datetime(raw["CompletedDateTime"], utc=True, errors="coerce", format="ISO8601")
    at = at.dt.tz_convert(timezone).dt.tz_localize(None)
    dates = pd.to_datetime(
        raw["ActivityDate"].astype(object).map(lambda v: str(v)[:10] if v else None),
        format="%Y-%m-%d",
        errors="coerce",
    )
    completed = closed & ~auto
    return pd.DataFrame(
        {
            "task_id": raw["Id"].astype("str"),
            "account_id": raw["WhatId"].astype(object),
            "sync_key": raw[TASK_KEY_FIELD].astype(object),
            "activity_date": dates.astype("datetime64[ns]"),
            "completed": completed.astype("boolean"),
            "completed_at": at.where(completed).astype("datetime64[ns]"),
        },
        columns=TASK_COLUMNS,
    ).reset_index(drop=True)


def read_sfsync_tasks(
    client, *, since: date, timezone: str, bulk_threshold: int = DEFAULT_BULK_THRESHOLD
) -> pd.DataFrame:
    """sfsync's Tasks dated on or after ``since`` (columns :data:`TASK_COLUMNS`)."""
    raw = client.query_frame(sfsync_tasks_soql(since), bulk_threshold=bulk_threshold)
    tasks = canonical_sfsync_tasks(raw, timezone)
    log.info("sfsync_tasks_extracted", rows=len(tasks), since=since.isoformat())
    return tasks
