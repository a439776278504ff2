"""The touch fields in deploy/salesforce match the catalogue, and the practice org's describe
(built from those files) reports them with their Japanese labels."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from sfsync.catalogue import ENGAGEMENT_CODES, TOUCH_MODELS

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ROOT / "deploy/salesforce/force-app/main/default/objects/Account/fields"
NS = "{http://soap.sforce.com/2006/04/metadata}"


def _values(name: str) -> list[str]:
    root = ET.parse(FIELDS / f"{name}.field-meta.xml").getroot()
    return [v.findtext(NS + "fullName") for v in root.iter(NS + "value")]


def test_touch_model_picklist_lists_the_catalogue_models():
    assert _values("Touch_Model__c") == list(TOUCH_MODELS)


def test_trigger_picklist_lists_the_engagement_codes_alphabetically():
    assert _values("Tech_Touch_Triggers__c") == sorted(ENGAGEMENT_CODES)


def test_the_practice_org_describes_the_touch_fields(sandbox_sf) -> None:
    account = {f["name"]: f for f in sandbox_sf.Account.describe()["fields"]}
    touch = account["Touch_Model__c"]
    assert touch["type"] == "picklist" and touch["label"] == "タッチモデル"
    assert [(v["value"], v["label"]) for v in touch["picklistValues"]] == [
        ("high", "ハイタッチ"), ("mid", "ミドルタッチ"), ("low", "ロータッチ"), ("tech", "テックタッチ")
    ]  # fmt: skip
    triggers = account["Tech_Touch_Triggers__c"]
    assert triggers["type"] == "multipicklist"
    assert [v["value"] for v in triggers["picklistValues"]] == sorted(ENGAGEMENT_CODES)
    assert account["CS_Priority__c"]["type"] == "double"
    assert account["CS_Priority__c"]["label"] == "CS対応優先順位"
