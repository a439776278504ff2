"""Writes follow visible change: a field mapped ``write: with_changes`` (the scoring time, the
explanation) is written only together with a change of a field mapped ``write: always``."""

from datetime import date

import pandas as pd
import pytest

from sfsync.errors import ConfigError
from sfsync.plan import PendingWrite
from sfsync.salesforce.diff import build_plan
from sfsync.salesforce.mapping import ObjectMapping, load_mapping
from tests.sync.test_plan import A1, A2, DEFAULT, current_matching, desired, mapping


def next_day(**over):
    """The next night: same visible values, a later scoring time and new explanation text."""
    base = {
        "scored_at": [date(2025, 3, 16)] * 2,
        "explanation": ["最終接触から 31 日", "最終接触から 12 日"],
    }
    base.update(over)
    return desired(**base)


def test_the_default_mapping_writes_scoring_time_and_explanation_with_changes_only():
    fields = load_mapping(DEFAULT).fields
    assert fields["scored_at"].write == "with_changes"
    assert fields["explanation"].write == "with_changes"
    visible = [c for c, spec in fields.items() if spec.write == "always"]
    assert set(visible) >= {"health_score", "health_band", "health_trend", "churn_signals"}


def test_a_new_scoring_time_and_explanation_alone_write_nothing():
    plan = build_plan(next_day(), current_matching(), None, None, mapping())
    assert plan.records == ()
    assert plan.is_empty


def test_they_are_written_together_with_a_visible_change():
    want = next_day(health_score=pd.array([72, 30], dtype="Int64"))
    plan = build_plan(want, current_matching(), None, None, mapping())
    assert [r.key for r in plan.records] == [A2]
    assert [c.field for c in plan.records[0].changes] == [
        "Health_Score__c",
        "Health_Scored_At__c",
        "Health_Explanation__c",
    ]


def test_a_trend_change_is_visible():
    want = next_day(health_trend=[4.0, -20.0])
    plan = build_plan(want, current_matching(), None, None, mapping())
    assert [(r.key, sorted(r.values())) for r in plan.records] == [
        (A1, ["Health_Explanation__c", "Health_Scored_At__c", "Health_Trend__c"])
    ]


def test_a_pending_failure_of_a_with_changes_field_is_still_retried():
    pending = [PendingWrite("Account", A1, ("Health_Explanation__c",))]
    plan = build_plan(next_day(), current_matching(), None, None, mapping(), pending=pending)
    assert [(r.key, r.retry, sorted(r.values())) for r in plan.records] == [
        (A1, True, ["Health_Explanation__c", "Health_Scored_At__c"])
    ]  # the record is written anyway: the scoring time goes along


def test_write_is_validated(tmp_path):
    path = tmp_path / "fields.yaml"
    path.write_text(
        "fields:\n  health_score: {field: Health_Score__c, type: double, write: sometimes}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as bad:
        load_mapping(path)
    assert "fields.health_score.write" in str(bad.value)
    path.write_text(
        "fields:\n  scored_at: {field: Health_Scored_At__c, type: datetime, write: with_changes}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as never:
        load_mapping(path)
    assert "nothing would ever be written" in str(never.value)
    assert isinstance(ObjectMapping.model_validate({"fields": {}}), ObjectMapping)
