"""The sample record-triggered Flow in deploy/salesforce (issue 13, Deliver 3) reacts to a
field sfsync writes and references only fields, elements and picklist values that exist: the
Account and Task fields as the practice org describes them (built from the same metadata)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sfsync.salesforce.mapping import load_mapping

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "deploy/salesforce/force-app/main/default/flows"
NS = "{http://soap.sforce.com/2006/04/metadata}"
FLOW = FLOWS / "sfsync_Tutorial_Completed_Task.flow-meta.xml"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
MERGE_FIELD = re.compile(r"\{!([^}]+)\}")


def _flow() -> ET.Element:
    return ET.parse(FLOW).getroot()


def _text(node: ET.Element, tag: str) -> str:
    return node.findtext(NS + tag) or ""


def _value(node: ET.Element) -> tuple[str, str]:
    """(kind, text) of a Flow value: stringValue, booleanValue, elementReference, …"""
    value = node.find(NS + "value")
    assert value is not None and len(value) == 1, ET.tostring(node)
    child = value[0]
    return child.tag.removeprefix(NS), child.text or ""


def _record_refs(root: ET.Element) -> set[str]:
    """Fields of ``$Record`` named anywhere in the Flow (element values and merge fields)."""
    refs = {e.text for e in root.iter(NS + "elementReference") if e.text}
    for node in root.iter():
        refs.update(MERGE_FIELD.findall(node.text or ""))
    return {r.removeprefix("$Record.") for r in refs if r.startswith("$Record.")}


def test_the_only_flow_is_the_sample_and_it_is_an_account_after_save_update_trigger():
    assert sorted(p.name for p in FLOWS.iterdir()) == [FLOW.name]
    root = _flow()
    assert root.tag == NS + "Flow"
    assert _text(root, "processType") == "AutoLaunchedFlow"
    assert _text(root, "status") == "Draft"  # a sample: deployed inactive, activated by an admin
    start = root.find(NS + "start")
    assert _text(start, "object") == "Account"
    assert _text(start, "triggerType") == "RecordAfterSave"
    assert _text(start, "recordTriggerType") == "Update"
    assert JAPANESE.search(_text(root, "label")) and len(_text(root, "label")) <= 80


def test_it_reacts_to_a_change_of_a_field_the_nightly_job_writes():
    start = _flow().find(NS + "start")
    filters = start.findall(NS + "filters")
    changed = [_text(f, "field") for f in filters if _text(f, "operator") == "IsChanged"]
    written = {spec.field for spec in load_mapping(ROOT / "mappings/account_fields.yaml")
               .fields.values()}  # fmt: skip
    assert changed == ["Tutorial_Completed_At__c"] and set(changed) <= written
    numbers = {int(n) for n in re.findall(r"\d+", _text(start, "filterLogic"))}
    assert numbers == set(range(1, len(filters) + 1))  # the logic names every filter, no other


def flow_problems(root: ET.Element, account: dict, task: dict) -> list[str]:
    """Every reference of the Flow that the org's describe (``account``/``task``: field name
    -> describe) or the Flow itself does not have."""
    problems = []
    start = root.find(NS + "start")
    for condition in start.findall(NS + "filters"):
        field = account.get(_text(condition, "field"))
        if field is None:
            problems.append(f"start filter: no Account field {_text(condition, 'field')}")
            continue
        kind, value = _value(condition)
        values = {v["value"] for v in field["picklistValues"]}
        if kind == "stringValue" and field["type"] == "picklist" and value not in values:
            problems.append(f"start filter: {value!r} is no value of {field['name']}")
    for name in sorted(_record_refs(root) - set(account)):
        problems.append(f"$Record.{name}: no such Account field")
    elements = {
        _text(e, "name")
        for tag in ("formulas", "textTemplates", "recordCreates")
        for e in root.findall(NS + tag)
    }
    create = root.find(NS + "recordCreates")
    if _text(start.find(NS + "connector"), "targetReference") not in elements:
        problems.append("start: connects to no element")
    for assignment in create.findall(NS + "inputAssignments"):
        field = task.get(_text(assignment, "field"))
        if field is None or not field["createable"]:
            problems.append(f"Task field {_text(assignment, 'field')}: missing or not createable")
            continue
        kind, value = _value(assignment)
        if (
            kind == "elementReference"
            and not value.startswith("$Record.")
            and value not in elements
        ):
            problems.append(f"{field['name']}: no element {value}")
        values = {v["value"] for v in field["picklistValues"]}
        if kind == "stringValue" and field["type"] == "picklist" and value not in values:
            problems.append(f"{field['name']}: {value!r} is no picklist value")
    return problems


@pytest.fixture
def describes(sandbox_sf) -> tuple[dict, dict]:
    return (
        {f["name"]: f for f in sandbox_sf.Account.describe()["fields"]},
        {f["name"]: f for f in sandbox_sf.Task.describe()["fields"]},
    )


def test_every_field_reference_and_value_exists(describes):
    root = _flow()
    assert flow_problems(root, *describes) == []
    create = root.find(NS + "recordCreates")
    assert _text(create, "object") == "Task"
    assert {_text(a, "field") for a in create.findall(NS + "inputAssignments")} >= {
        "WhatId", "OwnerId", "Subject", "ActivityDate"
    }  # fmt: skip
    for template in root.findall(NS + "textTemplates"):
        assert JAPANESE.search(_text(template, "text"))  # words for the CSM, no codes


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "<field>Tutorial_Completed_At__c</field>",
            "<field>Tutorial_Done__c</field>",
            "start filter: no Account field Tutorial_Done__c",
        ),
        (
            "<stringValue>mid</stringValue>",
            "<stringValue>middle</stringValue>",
            "start filter: 'middle' is no value of Touch_Model__c",
        ),
        (
            "{!$Record.Tutorial_Completed_At__c}",
            "{!$Record.Tutorial_Date__c}",
            "$Record.Tutorial_Date__c: no such Account field",
        ),
        (
            "<field>WhatId</field>",
            "<field>What__c</field>",
            "Task field What__c: missing or not createable",
        ),
        (
            "<stringValue>Not Started</stringValue>",
            "<stringValue>Open</stringValue>",
            "Status: 'Open' is no picklist value",
        ),
        (
            "<elementReference>DueDate</elementReference>",
            "<elementReference>Due</elementReference>",
            "ActivityDate: no element Due",
        ),
    ],
)
def test_a_broken_reference_is_caught(describes, old, new, problem):
    text = FLOW.read_text(encoding="utf-8")
    assert old in text
    assert problem in flow_problems(ET.fromstring(text.replace(old, new, 1)), *describes)
