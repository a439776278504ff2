"""Mapping files: offline validation with exact messages, and validation against a describe."""

from pathlib import Path

import pytest

from sfsync.errors import ConfigError
from sfsync.salesforce.mapping import (
    load_mapping,
    resolve_against_org,
    validate_mapping_against_org,
)
from tests.sync.helpers import account_describe

FIXTURES = Path(__file__).parent / "fixtures" / "mappings"
DEFAULT = Path(__file__).parents[2] / "mappings" / "account_fields.yaml"


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "unknown_column.yaml",
            "fields.helth_score: unknown result column 'helth_score'; known: account_id, "
            "churn_signals, cs_priority, data_quality, explanation, health_band, "
            "health_direction, health_score, health_trend, last_qbr_date, lifecycle_phase, "
            "missing_measures, onboarding_step, renewal_reminder_date, scored_at, segment, "
            "signals, tech_touch_triggers, touch_model, tutorial_completed_at, upsell_signals, "
            "<category>_points",
        ),
        (
            "unknown_type.yaml",
            "fields.health_score.type: Input should be 'double', 'currency', 'percent', 'int', "
            "'date', 'datetime', 'picklist', 'multipicklist', 'string', 'textarea' or 'boolean'",
        ),
        (
            "duplicate_field.yaml",
            "fields.usage_points.field: field health_score__c is already mapped by "
            "fields.health_score",
        ),
        (
            "unknown_key.yaml",
            "fields.health_score.null_polcy: unknown key (check the spelling; see the documented keys)",
        ),
        (
            "bad_null_policy.yaml",
            "fields.health_score.null_policy: Input should be 'clear' or 'leave'",
        ),
        ("scale_on_text.yaml", "fields.health_band.scale: scale applies to numbers, not picklist"),
    ],
)
def test_broken_mapping_is_reported_with_file_and_field(name, message):
    path = FIXTURES / name
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert str(info.value) == f"{path}: {message}"


def test_an_explicit_column_list_is_used_for_unknown_columns():
    with pytest.raises(ConfigError, match="unknown result column 'usage_points'"):
        load_mapping(DEFAULT, columns={"account_id", "health_score"})


def test_default_mapping_is_valid_offline_and_against_the_default_org_schema():
    mapping = load_mapping(DEFAULT)
    assert mapping.fields["churn_signals"].type == "multipicklist"
    assert mapping.match.field == "Id"
    assert validate_mapping_against_org(mapping, account_describe()) == []


def _messages(describe):
    mapping = load_mapping(DEFAULT)
    return [str(p) for p in validate_mapping_against_org(mapping, describe)]


def test_org_validation_names_missing_readonly_and_incompatible_fields():
    describe = account_describe(
        drop={"Health_Trend__c"},
        override={
            "Health_Score__c": {"updateable": False},
            "Health_Scored_At__c": {"type": "boolean"},
        },
    )
    assert _messages(describe) == [
        f"{DEFAULT}: fields.health_score.field: Account.Health_Score__c is not updateable "
        "(check field-level security)",
        f"{DEFAULT}: fields.health_trend.field: Account.Health_Trend__c does not exist in the org",
        f"{DEFAULT}: fields.scored_at.type: Account.Health_Scored_At__c is a boolean field; "
        "a datetime value cannot be written to it",
    ]


def test_org_validation_checks_picklist_values_and_lengths():
    describe = account_describe(
        override={
            "Health_Band__c": {
                "picklistValues": [
                    {"value": v, "active": True} for v in ("Green", "Yellow", "Orange")
                ]
            },
            "Churn_Signals__c": {"type": "string", "length": 20},
        }
    )
    mapping = load_mapping(DEFAULT).model_copy()
    messages = [str(p) for p in validate_mapping_against_org(mapping, describe)]
    assert messages == [
        f"{DEFAULT}: fields.health_band.field: Account.Health_Band__c does not allow the "
        "value(s) red; add them to the picklist",
        f"{DEFAULT}: fields.churn_signals.field: Account.Churn_Signals__c holds 20 characters; "
        "values up to 166 can occur",  # every churn code joined, engagement and contact_changed
    ]


def test_resolve_copies_canonical_picklist_values_and_lengths():
    mapping = resolve_against_org(load_mapping(DEFAULT), account_describe())
    assert mapping.fields["health_band"].org_values == ("Green", "Yellow", "Orange", "Red")
    assert mapping.fields["explanation"].length == 32768
    assert mapping.fields["health_score"].org_type == "double"


def test_validate_reports_every_problem_of_the_sync_configuration(tmp_path):
    import shutil
    from types import SimpleNamespace

    from sfsync.salesforce.planner import validate

    mappings = tmp_path / "mappings"
    shutil.copytree(DEFAULT.parent, mappings)
    (mappings / "account_fields.yaml").write_text(
        (FIXTURES / "duplicate_field.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (mappings / "tasks.yaml").write_text("priority: High\nsignals: [red_band, bogus]\n")
    project = SimpleNamespace(
        mappings_dir=mappings, settings=SimpleNamespace(language="en", timezone="Asia/Tokyo")
    )
    assert [str(p) for p in validate(project)] == [
        f"{mappings / 'account_fields.yaml'}: fields.usage_points.field: field health_score__c "
        "is already mapped by fields.health_score",
        f"{mappings / 'tasks.yaml'}: signals.1: unknown churn signal 'bogus'; known: competitor, "
        "contact_changed, deliveries_drop, email_engagement_falling, no_login_60d, "
        "onboarding_videos_unwatched, red_band, score_drop, tickets_rising, tutorial_not_completed",
    ]
