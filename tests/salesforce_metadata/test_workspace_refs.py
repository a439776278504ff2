"""The workspace metadata (record page, list views, report types, reports, dashboard) refers only
to fields, report types and reports that deploy/salesforce defines, and shows Japanese labels.

The SDR conversion test (test_sdr_convert.py) proves each file is valid metadata; this one
catches a dangling reference, which converts fine offline and fails only at deploy time.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "deploy/salesforce/force-app/main/default"
NS = "{http://soap.sforce.com/2006/04/metadata}"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
STANDARD = {
    "Account": {"Name", "Owner", "OwnerId", "Id"},
    "Task": {"Subject", "Owner", "Status", "Priority", "ActivityDate", "Type", "What",
             "CreatedDate", "LastModifiedDate"},
    "Health_Score_History__c": {"Name"},
}  # fmt: skip


def _custom_fields(sobject: str) -> set[str]:
    folder = "Activity" if sobject == "Task" else sobject
    return {p.name.split(".")[0] for p in SOURCE.glob(f"objects/{folder}/fields/*.field-meta.xml")}


def _known(sobject: str) -> set[str]:
    return _custom_fields(sobject) | STANDARD[sobject]


def _root(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def test_the_record_page_shows_the_health_section_and_the_history_list() -> None:
    root = _root(SOURCE / "flexipages/sfsync_Account_Record_Page.flexipage-meta.xml")
    assert root.findtext(NS + "sobjectType") == "Account"
    assert JAPANESE.search(root.findtext(NS + "masterLabel"))
    fields = [f.removeprefix("Record.") for f in (e.text for e in root.iter(NS + "fieldItem"))]
    assert set(fields) <= _known("Account"), set(fields) - _known("Account")
    assert "Health_Explanation__c" in fields and "Health_Score__c" in fields
    props = {
        p.findtext(NS + "name"): p.findtext(NS + "value")
        for p in root.iter(NS + "componentInstanceProperties")
    }  # fmt: skip
    labels = [
        p.findtext(NS + "value")
        for p in root.iter(NS + "componentInstanceProperties")
        if p.findtext(NS + "name") == "label"
    ]
    assert "ヘルススコア" in labels
    assert props["relatedListApiName"] == "Health_Score_History__r"
    lookup = _root(SOURCE / "objects/Health_Score_History__c/fields/Account__c.field-meta.xml")
    assert lookup.findtext(NS + "relationshipName") + "__r" == props["relatedListApiName"]
    # every facet a component points at is defined once
    regions = [r.findtext(NS + "name") for r in root.findall(NS + "flexiPageRegions")]
    assert len(regions) == len(set(regions))
    pointed = {v for k, v in props.items() if k in ("body", "columns", "tabs")}
    assert pointed <= set(regions)


def test_the_qbr_list_view_filters_on_a_field_sfsync_writes() -> None:
    root = _root(
        SOURCE / "objects/Account/listViews/sfsync_SA_Without_QBR_This_Quarter.listView-meta.xml"
    )
    filtered = {f.findtext(NS + "field") for f in root.findall(NS + "filters")}
    assert filtered == {"CS_Segment__c", "Last_QBR_Date__c"}
    assert JAPANESE.search(root.findtext(NS + "label"))
    mapping = (Path(__file__).resolve().parents[2] / "mappings/account_fields.yaml").read_text()
    assert "Last_QBR_Date__c" in mapping


def _report_types() -> dict[str, ET.Element]:
    return {
        p.name.split(".")[0]: _root(p) for p in SOURCE.glob("reportTypes/*.reportType-meta.xml")
    }


def test_report_types_list_only_defined_fields() -> None:
    types = _report_types()
    assert set(types) == {"sfsync_Accounts_With_Score_History", "sfsync_Tasks_With_Sync_Key"}
    for name, root in types.items():
        assert JAPANESE.search(root.findtext(NS + "label")), name
        base = root.findtext(NS + "baseObject")
        for column in root.iter(NS + "columns"):
            table, field = column.findtext(NS + "table"), column.findtext(NS + "field")
            sobject = base if table == base else "Health_Score_History__c"
            assert table in (base, "Account.Health_Score_History__r"), (name, table)
            assert field in _known(sobject), (name, table, field)


def _report_columns(root: ET.Element) -> set[str]:
    refs = {c.findtext(NS + "field") for c in root.iter(NS + "columns")}
    refs |= {g.findtext(NS + "field") for g in root.iter(NS + "groupingsDown")}
    refs |= {c.findtext(NS + "column") for c in root.iter(NS + "criteriaItems")}
    refs |= {t.findtext(NS + "dateColumn") for t in root.iter(NS + "timeFrameFilter")}
    return refs


def test_reports_use_the_report_types_and_their_columns() -> None:
    types = _report_types()
    reports = sorted(SOURCE.glob("reports/sfsync_Reports/*.report-meta.xml"))
    assert len(reports) == 4
    for path in reports:
        root = _root(path)
        assert JAPANESE.search(root.findtext(NS + "name")), path.name
        rtype = root.findtext(NS + "reportType").removesuffix("__c")
        assert rtype in types, (path.name, rtype)
        offered = {
            f"{c.findtext(NS + 'table')}${c.findtext(NS + 'field')}"
            for c in types[rtype].iter(NS + "columns")
        }  # fmt: skip
        assert _report_columns(root) <= offered, (path.name, _report_columns(root) - offered)


def test_the_dashboard_shows_the_reports() -> None:
    root = _root(
        SOURCE / "dashboards/sfsync_Dashboards/sfsync_Manager_Dashboard.dashboard-meta.xml"
    )
    assert JAPANESE.search(root.findtext(NS + "title"))
    shown = {e.text for e in root.iter(NS + "report")}
    defined = {
        f"sfsync_Reports/{p.name.split('.')[0]}"
        for p in SOURCE.glob("reports/sfsync_Reports/*.report-meta.xml")
    }  # fmt: skip
    assert shown == defined
    for component in root.iter(NS + "dashboardComponent"):
        assert JAPANESE.search(component.findtext(NS + "header"))


def test_the_demo_names_the_workspace_by_its_metadata_labels() -> None:
    from sfsync.commands.demo import WORKSPACE_LABELS, in_salesforce
    from sfsync.report import RunSummary

    labels = {
        (element.text or "").strip()
        for path in SOURCE.rglob("*.xml")
        for element in _root(path).iter()
        if element.tag in {NS + t for t in ("label", "pluralLabel", "masterLabel", "title")}
    }
    assert set(WORKSPACE_LABELS.values()) <= labels, set(WORKSPACE_LABELS.values()) - labels
    summary = RunSummary("nightly", date(2025, 3, 15), bands={"red": 3, "orange": 4},
                         signal_tasks_created=5, tasks_deferred=2, history_written=7,
                         history_period="2025-W11")  # fmt: skip
    text = "\n".join(in_salesforce(summary))
    assert "7 accounts in the orange or red band" in text and "5 new churn-risk" in text
    assert "2 more Tasks wait" in text and "7 weekly score snapshots (2025-W11)" in text
    assert "upsell" not in text  # no upsell Tasks: no line about them
    assert "Campaigns" not in text  # nobody joined a Campaign: no line about it
    summary.campaign_members_added = 12
    assert "12 contacts joined the tech-touch Campaigns" in "\n".join(in_salesforce(summary))
