"""The nightly job's history snapshot in the Plan: upserted by key through the same writer
(collections or Bulk by size, parent-ordered), counted by the API budget, shown by a dry run,
kept by the plan file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from sfsync.plan import ObjectUpsert, Plan
from sfsync.salesforce.budget import estimate_write_calls
from sfsync.salesforce.history import (
    ACCOUNT_LOOKUP_FIELD,
    history_changes,
    history_frame,
    load_history_mapping,
)
from sfsync.salesforce.writer import plan_requests

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
AS_OF = date(2025, 3, 10)


def _scores(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [f"001{i:015d}" for i in range(n)],
            "health_score": [50 + i % 40 for i in range(n)],
            "health_band": ["orange" if i % 2 else "green" for i in range(n)],
            "segment": "A",
            "lifecycle_phase": "adoption",
            "usage_points": 10.0,
        }
    )


def _plan(n: int) -> Plan:
    mapping = load_history_mapping(MAPPINGS)
    previous = _scores(n).assign(health_band="red")
    frame = history_frame(_scores(n), AS_OF, period="2025-W11", previous=previous)
    records, problems = history_changes(frame, mapping, "Asia/Tokyo")
    assert problems == ()
    upsert = ObjectUpsert(mapping.sobject, mapping.match.field, records, ACCOUNT_LOOKUP_FIELD)
    return Plan("Account", "Id", upserts=(upsert,), meta={"as_of": AS_OF.isoformat()})


def test_history_records_are_upserts_by_key_with_the_band_change():
    plan = _plan(3)
    (request,) = plan_requests(plan)
    assert (request.sobject, request.operation, request.key_field) == (
        "Health_Score_History__c", "upsert", "History_Key__c"
    )  # fmt: skip
    key, values = request.records[0]
    assert key == "001000000000000000:2025-W11"
    assert values["Account__c"] == "001000000000000000"
    assert values["Score_Date__c"] == "2025-03-10"
    assert (values["Previous_Band__c"], values["Health_Band__c"]) == ("red", "green")
    assert request.parents[key] == "001000000000000000"  # Bulk uploads ordered by Account
    assert not plan.is_empty and plan.totals()["upserts"] == {"Health_Score_History__c": 3}


def test_the_plan_file_and_the_dry_run_text_keep_the_history():
    plan = _plan(2)
    assert Plan.from_json(plan.to_json()) == plan
    text = plan.summary()
    assert "Health_Score_History__c: upsert 2 records (matched on History_Key__c)" in text
    assert "nothing to write" not in text


def test_the_budget_counts_the_history_writes():
    small, large = _plan(450), _plan(2500)
    assert estimate_write_calls(small, bulk_threshold=2000) == 4  # 3 collections calls + 10 %
    assert estimate_write_calls(large, bulk_threshold=2000) > estimate_write_calls(
        Plan("Account", "Id"), bulk_threshold=2000
    )
