"""The signal catalogue (sfsync/catalogue.py) is the one list of codes: the rules, the mapping
validation, Task building, the playbook, Slack and the Salesforce picklist metadata agree with it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from sfsync import catalogue
from sfsync.automation.playbook import KpiTargets
from sfsync.catalogue import (
    BANDS,
    CHURN_CODES,
    CHURN_PICKLIST_CODES,
    PHASES,
    SEGMENTS,
    SIGNALS,
    UPSELL_CODES,
)
from sfsync.notify.messages import MessageBuilder
from sfsync.salesforce.mapping import PRODUCIBLE_VALUES
from sfsync.salesforce.tasks import TaskSettings, signals_from_codes
from sfsync.scoring.rules import SignalRules
from sfsync.templates import load_templates

ROOT = Path(__file__).resolve().parents[2]
OBJECTS = ROOT / "deploy/salesforce/force-app/main/default/objects"
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
LANGUAGES = ("en", "ja")


def picklist_values(path: Path) -> list[str]:
    """The API names of a picklist field's values, in metadata order."""
    root = ET.parse(path).getroot()
    values = root.findall("m:valueSet/m:valueSetDefinition/m:value/m:fullName", NS)
    assert values, f"{path} defines no picklist values"
    return [v.text for v in values]


def test_codes_are_unique_and_kinds_known():
    codes = [s.code for s in SIGNALS]
    assert len(codes) == len(set(codes))
    assert {s.kind for s in SIGNALS} <= {"churn", "upsell"}
    assert {s.severity for s in SIGNALS} <= set(catalogue.SEVERITIES)
    assert list(CHURN_CODES) == sorted(CHURN_CODES)
    assert list(UPSELL_CODES) == sorted(UPSELL_CODES)
    assert "expansion_proposal" in UPSELL_CODES


def test_churn_signals_picklist_lists_exactly_the_catalogue_churn_codes():
    path = OBJECTS / "Account/fields/Churn_Signals__c.field-meta.xml"
    assert sorted(picklist_values(path)) == list(CHURN_PICKLIST_CODES)


def test_upsell_signals_picklist_lists_exactly_the_catalogue_upsell_codes():
    path = OBJECTS / "Account/fields/Upsell_Signals__c.field-meta.xml"
    assert picklist_values(path) == list(UPSELL_CODES)  # alphabetical, like the stored form


@pytest.mark.parametrize("sobject", ["Account", "Health_Score_History__c"])
@pytest.mark.parametrize(
    ("field", "values"),
    [("Health_Band__c", BANDS), ("Lifecycle_Phase__c", PHASES), ("CS_Segment__c", SEGMENTS)],
)
def test_band_phase_segment_picklists_match_the_catalogue(sobject, field, values):
    assert tuple(picklist_values(OBJECTS / f"{sobject}/fields/{field}.field-meta.xml")) == values


def test_every_rule_is_a_catalogue_code_with_its_default_severity():
    rules = SignalRules()
    assert set(SignalRules.model_fields) == {s.code for s in SIGNALS if s.rule}
    for spec in SIGNALS:
        if spec.rule:
            assert getattr(rules, spec.code).severity == spec.severity, spec.code


def test_mapping_validation_expects_every_producible_code():
    assert PRODUCIBLE_VALUES["churn_signals"] == CHURN_CODES
    assert PRODUCIBLE_VALUES["upsell_signals"] == UPSELL_CODES
    assert PRODUCIBLE_VALUES["signals"] == tuple(sorted(CHURN_CODES + UPSELL_CODES))
    assert PRODUCIBLE_VALUES["health_band"] == BANDS
    assert PRODUCIBLE_VALUES["lifecycle_phase"] == PHASES
    assert PRODUCIBLE_VALUES["segment"] == SEGMENTS


def test_tasks_and_playbook_default_to_the_catalogue():
    assert TaskSettings().signals == CHURN_CODES
    assert sorted(KpiTargets().upsell_codes) == list(UPSELL_CODES)


def test_signals_from_codes_takes_kind_and_severity_from_the_catalogue():
    scores = pd.DataFrame(
        {"account_id": ["001A"], "signals": [";".join(s.code for s in SIGNALS) + ";made_up"]}
    )
    frame = signals_from_codes(scores)
    got = {r.code: (r.kind, r.severity) for r in frame.itertuples()}
    for spec in SIGNALS:
        assert got[spec.code] == (spec.kind, spec.severity)
    assert got["made_up"] == ("upsell", "low")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_churn_signal_has_its_labels_and_task_texts(language):
    templates = load_templates(ROOT / "mappings/templates", language)
    builder = MessageBuilder(templates)
    for spec in SIGNALS:
        if spec.kind != "churn":
            continue
        assert templates.has(catalogue.SLACK_SECTION, spec.slack_label_key), spec.code
        assert builder.signal_label(spec.code) != spec.code
        if spec.rule:
            assert templates.has(catalogue.TASK_SECTION, spec.task_template_key), spec.code
