"""The output guard counts a ``Health_Trend__c`` change as a visible rewrite (the trend compares
with the score 28 days older, so it moves only when the score did); the scoring time and the
explanation (``write: with_changes``) stay quiet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sfsync.guards.stage import plan_figures
from sfsync.plan import FieldChange, Plan, RecordChange
from sfsync.salesforce.mapping import load_mapping

MAPPING = load_mapping(Path(__file__).resolve().parents[2] / "mappings" / "account_fields.yaml")


def _plan(*changes: tuple[str, ...]) -> Plan:
    records = tuple(
        RecordChange(f"a{i}", tuple(FieldChange(f, None, 1) for f in fields))
        for i, fields in enumerate(changes)
    )
    return Plan(sobject="Account", match_field="Id", records=records, records_in_scope=4)


def test_a_trend_change_is_a_rewrite_and_the_scoring_time_alone_is_not():
    scores = pd.DataFrame({"account_id": ["a0", "a1", "a2", "a3"], "health_band": ["green"] * 4})
    signals = pd.DataFrame(columns=["account_id", "code", "kind"])
    plan = _plan(
        ("Health_Trend__c", "Health_Scored_At__c", "Health_Explanation__c"),
        ("Health_Scored_At__c", "Health_Explanation__c"),
    )
    figures = plan_figures(scores, None, signals, plan, MAPPING)
    assert figures["rewrites"] == 1
    assert figures["rewrite_share"] == 0.25
