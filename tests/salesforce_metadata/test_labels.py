"""People read Japanese labels in Salesforce and in the practice org, never the codes.

The field metadata in deploy/salesforce carries Japanese labels, help texts and picklist value
labels over the stable API names (codes); ``objectTranslations/*-en_US`` carries the English set.
The practice org's describe is built from the same files, so it reports the same labels.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sfsync.catalogue import BANDS, CHURN_PICKLIST_CODES, DIRECTIONS, PHASES, UPSELL_CODES

SOURCE = Path(__file__).resolve().parents[2] / "deploy/salesforce/force-app/main/default"
NS = "{http://soap.sforce.com/2006/04/metadata}"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
FIELD_FILES = sorted(SOURCE.glob("objects/*/fields/*.field-meta.xml"))
CODE_PICKLISTS = {
    "Health_Band__c",
    "Lifecycle_Phase__c",
    "Churn_Signals__c",
    "Upsell_Signals__c",
    "Churn_Reason__c",
    "Health_Direction__c",
    "Previous_Band__c",
    "Touch_Model__c",
    "Tech_Touch_Triggers__c",
}


def _field(path: Path) -> tuple[str, str, str | None, dict[str, str]]:
    root = ET.parse(path).getroot()
    values = {
        v.findtext(NS + "fullName"): v.findtext(NS + "label")
        for v in root.iter(NS + "value")
    }  # fmt: skip
    return (root.findtext(NS + "fullName"), root.findtext(NS + "label"),
            root.findtext(NS + "inlineHelpText"), values)  # fmt: skip


@pytest.mark.parametrize("path", FIELD_FILES, ids=lambda p: f"{p.parent.parent.name}.{p.stem}")
def test_every_field_has_a_japanese_label_and_help_text(path: Path) -> None:
    name, label, help_text, values = _field(path)
    assert JAPANESE.search(label), f"{name}: label {label!r} is not Japanese"
    assert help_text and JAPANESE.search(help_text), f"{name}: help text is not Japanese"
    assert len(label) <= 40 and len(help_text) <= 510
    if name in CODE_PICKLISTS:
        for code, value_label in values.items():
            assert value_label != code and JAPANESE.search(value_label), (name, code)


@pytest.mark.parametrize("path", FIELD_FILES, ids=lambda p: f"{p.parent.parent.name}.{p.stem}")
def test_every_field_has_an_english_translation(path: Path) -> None:
    name, _, _, values = _field(path)
    owner = path.parent.parent.name
    translation = SOURCE / f"objectTranslations/{owner}-en_US/{name}.fieldTranslation-meta.xml"
    root = ET.parse(translation).getroot()
    assert root.findtext(NS + "name") == name
    assert root.findtext(NS + "label") and root.findtext(NS + "help")
    assert not JAPANESE.search(root.findtext(NS + "label") + root.findtext(NS + "help"))
    translated = {
        p.findtext(NS + "masterLabel"): p.findtext(NS + "translation")
        for p in root.findall(NS + "picklistValues")
    }  # fmt: skip
    assert set(translated) == set(values), f"{name}: picklist values without a translation"
    assert all(translated.values())


def test_the_practice_orgs_describe_reports_the_japanese_labels(sandbox_sf) -> None:
    account = {f["name"]: f for f in sandbox_sf.Account.describe()["fields"]}
    band = account["Health_Band__c"]
    assert band["label"] == "ヘルススコア判定"
    assert [(v["value"], v["label"]) for v in band["picklistValues"]] == [
        ("green", "健全"), ("yellow", "要注意"), ("orange", "警戒"), ("red", "危険")
    ]  # fmt: skip
    assert [v["value"] for v in band["picklistValues"]] == list(BANDS)
    phase = account["Lifecycle_Phase__c"]["picklistValues"]
    assert [v["value"] for v in phase] == list(PHASES)
    assert [v["label"] for v in phase] == ["導入期", "活用期", "拡大期", "成熟期", "更新期"]
    signals = {v["value"]: v["label"] for v in account["Churn_Signals__c"]["picklistValues"]}
    assert tuple(signals) == CHURN_PICKLIST_CODES
    assert signals["no_login_60d"] == "60日以上ログインなし"
    upsell = account["Upsell_Signals__c"]
    assert upsell["type"] == "multipicklist" and upsell["label"] == "アップセル機会シグナル"
    values = {v["value"]: v["label"] for v in upsell["picklistValues"]}
    assert tuple(values) == UPSELL_CODES
    assert values["near_plan_limit"] == "プラン上限の80%以上を利用"
    assert account["Health_Score__c"]["label"] == "ヘルススコア"
    assert JAPANESE.search(account["Health_Score__c"]["inlineHelpText"])
    task = {f["name"]: f for f in sandbox_sf.Task.describe()["fields"]}
    assert JAPANESE.search(task["Sync_Key__c"]["label"])
    direction = account["Health_Direction__c"]
    assert direction["type"] == "picklist" and direction["label"] == "ヘルススコアの向き"
    assert [(v["value"], v["label"]) for v in direction["picklistValues"]] == [
        ("up", "上昇"), ("flat", "横ばい"), ("down", "下降")
    ]  # fmt: skip
    assert tuple(v["value"] for v in direction["picklistValues"]) == DIRECTIONS
    history = sandbox_sf.Health_Score_History__c.describe()
    assert history["label"] == "ヘルススコア履歴"
    previous = {f["name"]: f for f in history["fields"]}["Previous_Band__c"]
    assert [v["value"] for v in previous["picklistValues"]] == list(BANDS)


def test_the_describe_labels_are_the_metadata_labels(sandbox_sf) -> None:
    described = {
        "Account": {f["name"]: f for f in sandbox_sf.Account.describe()["fields"]},
        "Health_Score_History__c": {
            f["name"]: f for f in sandbox_sf.Health_Score_History__c.describe()["fields"]
        },
        "Activity": {f["name"]: f for f in sandbox_sf.Task.describe()["fields"]},
        "Contact": {f["name"]: f for f in sandbox_sf.Contact.describe()["fields"]},
        "Opportunity": {f["name"]: f for f in sandbox_sf.Opportunity.describe()["fields"]},
    }
    for path in FIELD_FILES:
        name, label, help_text, values = _field(path)
        field = described[path.parent.parent.name][name]
        assert field["label"] == label and field["inlineHelpText"] == help_text
        assert {v["value"]: v["label"] for v in field["picklistValues"]} == values


def test_the_account_layout_shows_the_health_section_and_the_history() -> None:
    layout = ET.parse(SOURCE / "layouts/Account-sfsync Account Layout.layout-meta.xml").getroot()
    sections = {s.findtext(NS + "label"): s for s in layout.findall(NS + "layoutSections")}
    health = {f.text for f in sections["ヘルススコア"].iter(NS + "field")}
    assert {"Health_Score__c", "Health_Band__c", "Health_Trend__c", "Churn_Signals__c"} <= health
    assert "Upsell_Signals__c" in health and "Health_Direction__c" in health
    assert [f.text for f in sections["スコアの内訳"].iter(NS + "field")] == [
        "Health_Explanation__c"
    ]
    related = [r.findtext(NS + "relatedList") for r in layout.findall(NS + "relatedLists")]
    assert "Health_Score_History__c.Account__c" in related
    laid_out = {f.text for f in layout.iter(NS + "field")}
    account_fields = {p.stem.split(".")[0] for p in SOURCE.glob("objects/Account/fields/*.xml")}
    assert account_fields <= laid_out


def _permissions(name: str) -> dict[str, bool]:
    root = ET.parse(SOURCE / f"permissionsets/{name}.permissionset-meta.xml").getroot()
    return {
        p.findtext(NS + "field"): p.findtext(NS + "editable") == "true"
        for p in root.findall(NS + "fieldPermissions")
    }  # fmt: skip


def test_csm_and_manager_permission_sets_read_every_field_and_never_edit_sfsync_output() -> None:
    integration = _permissions("sfsync_Integration")
    written = {f for f, editable in integration.items() if editable}
    for name in ("sfsync_CSM", "sfsync_Manager"):
        perms = _permissions(name)
        assert set(perms) == set(integration), name
        assert not written & {f for f, editable in perms.items() if editable}, name
    assert {f for f, e in _permissions("sfsync_CSM").items() if e} == {
        "Account.Churn_Date__c", "Account.Churn_Reason__c", "Account.Competitor_Evaluation__c",
        "Contact.CS_Contact_Role__c", *SEED000_INPUT_FIELDS,
        "Account.Main_Contact__c",  # the CSM records the customer's new main contact
    }  # fmt: skip


# the seed-000 adoption checklists and market inputs, maintained by CSMs and managers
SEED000_INPUT_FIELDS = {
    *(f"Account.Adoption_Postings_Step{i}__c" for i in range(1, 6)),
    *(f"Account.Adoption_Management_Step{i}__c" for i in range(1, 6)),
    *(f"Account.Adoption_Paid_Ads_Step{i}__c" for i in range(1, 5)),
    "Account.Employment_Type__c", "Account.Recruiting_Area_Count__c",
    "Account.Annual_Media_Spend__c",
}  # fmt: skip


def test_the_seed000_inputs_and_outputs_are_in_the_practice_org(sandbox_sf) -> None:
    fields = {f["name"]: f for f in sandbox_sf.Account.describe()["fields"]}
    for name in SEED000_INPUT_FIELDS:
        assert fields[name.split(".")[1]]["updateable"], name
    assert fields["Adoption_Postings_Step1__c"]["type"] == "boolean"
    assert [v["value"] for v in fields["Employment_Type__c"]["picklistValues"]] == [
        "part-time", "contract", "full-time", "outsourcing"
    ]  # fmt: skip
    assert fields["Employment_Type__c"]["picklistValues"][0]["label"] == "パート/アルバイト"
    assert fields["Adoption_Band__c"]["type"] == "picklist"
    assert fields["Adoption_Score__c"]["label"] == "定着・マーケットスコア"
    layout = ET.parse(SOURCE / "layouts/Account-sfsync Account Layout.layout-meta.xml").getroot()
    sections = {s.findtext(NS + "label"): s for s in layout.findall(NS + "layoutSections")}
    inputs = {f.text for f in sections["定着ステップ・マーケット情報"].iter(NS + "field")}
    assert inputs == {name.split(".")[1] for name in SEED000_INPUT_FIELDS}


def test_list_views_have_japanese_names_and_filter_on_codes() -> None:
    views = {
        p.name.split(".")[0]: ET.parse(p).getroot()
        for p in SOURCE.glob("objects/*/listViews/*.xml")
    }
    assert set(views) == {
        "sfsync_My_Red_Orange_Accounts",
        "sfsync_SA_Accounts",
        "sfsync_SA_Without_QBR_This_Quarter",
        "sfsync_Signal_Tasks_Due_48h",
    }
    for view in views.values():
        assert JAPANESE.search(view.findtext(NS + "label"))
    mine = views["sfsync_My_Red_Orange_Accounts"]
    assert mine.findtext(NS + "filterScope") == "Mine"
    assert mine.find(NS + "filters").findtext(NS + "value") == "red,orange"
    signal = {
        f.findtext(NS + "field"): f.findtext(NS + "value")
        for f in views["sfsync_Signal_Tasks_Due_48h"].findall(NS + "filters")
    }
    assert signal["Sync_Key__c"] == "signal:" and signal["DUE_DATE"] == "NEXT_N_DAYS:2"
