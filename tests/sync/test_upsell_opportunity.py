"""Upsell Opportunities (issue 12 item 3): one record per desired upsell Task, keyed like the
Task, Name from the templates, CloseDate after the as-of date, only keys Salesforce lacks."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from sfsync.catalogue import UPSELL_CODES
from sfsync.errors import ConfigError
from sfsync.jobs import OpportunitySpec, load_job
from sfsync.salesforce.opportunity import (
    build_upsell_opportunities,
    existing_keys_query,
    new_opportunities,
    opportunity_org_problems,
    opportunity_template_problems,
)
from sfsync.salesforce.upsell import build_upsell_tasks
from sfsync.templates import load_templates

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2025, 3, 15)
ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["001A", "001B"],
        "name": ["株式会社アルファ", "ベータ商事"],
        "owner_id": ["005U1", None],
        "arr": [1_200_000.0, None],
    }
)
USERS = pd.DataFrame({"user_id": ["005U1"], "is_active": [True], "email": ["u@example.com"]})
SIGNALS = pd.DataFrame(
    [
        ("001A", "near_plan_limit", "upsell", "low"),
        ("001A", "no_login_60d", "churn", "high"),
        ("001B", "deliveries_rising", "upsell", "low"),
    ],
    columns=["account_id", "code", "kind", "severity"],
)


def _records(language: str = "ja", **spec):
    templates = load_templates(ROOT / "mappings/templates", language)
    tasks = build_upsell_tasks(SIGNALS, ACCOUNTS, USERS, as_of=AS_OF, templates=templates)
    return build_upsell_opportunities(
        tasks, ACCOUNTS, as_of=AS_OF, spec=OpportunitySpec(enabled=True, **spec),
        templates=templates,
    )  # fmt: skip


def test_one_opportunity_per_upsell_signal_with_the_task_key_and_required_fields():
    records = {r.key: r.values() for r in _records(stage="Qualification", close_days=45)}
    assert sorted(records) == [
        "upsell:deliveries_rising:001B:2025-02",
        "upsell:near_plan_limit:001A:2025-02",
    ]
    alpha = records["upsell:near_plan_limit:001A:2025-02"]
    assert alpha == {
        "Name": "アップセル提案: 株式会社アルファ – プラン上限に近い",
        "AccountId": "001A",
        "StageName": "Qualification",
        "CloseDate": "2025-04-29",
        "OwnerId": "005U1",
    }
    beta = records["upsell:deliveries_rising:001B:2025-02"]
    assert "OwnerId" not in beta  # no owner: Salesforce assigns the integration user
    assert beta["Name"].startswith("アップセル提案: ベータ商事")


def test_amount_is_a_share_of_arr_when_configured_and_the_names_have_no_codes():
    records = {r.key: r.values() for r in _records("en", amount_arr_share=0.25)}
    assert records["upsell:near_plan_limit:001A:2025-02"]["Amount"] == 300_000
    assert "Amount" not in records["upsell:deliveries_rising:001B:2025-02"]  # ARR unknown
    for values in records.values():
        assert values["Name"].startswith("Upsell proposal: ")
        assert not any(code in values["Name"] for code in UPSELL_CODES)


def test_long_names_are_cut_to_the_opportunity_name_length():
    long = ACCOUNTS.assign(name=["ア" * 200, "b"])
    templates = load_templates(ROOT / "mappings/templates", "ja")
    tasks = build_upsell_tasks(SIGNALS, long, USERS, as_of=AS_OF, templates=templates)
    records = build_upsell_opportunities(
        tasks, long, as_of=AS_OF, spec=OpportunitySpec(enabled=True), templates=templates
    )
    assert max(len(r.values()["Name"]) for r in records) == 120


def test_only_keys_salesforce_lacks_are_written_and_the_lookup_query_is_quoted():
    records = _records()
    kept = new_opportunities(records, {"upsell:near_plan_limit:001A:2025-02"})
    assert [r.key for r in kept] == ["upsell:deliveries_rising:001B:2025-02"]
    [soql] = existing_keys_query([r.key for r in records] + ["x'y"])
    assert soql.startswith("SELECT Sync_Key__c FROM Opportunity WHERE Sync_Key__c IN (")
    assert "'x\\'y'" in soql
    assert existing_keys_query([]) == []


def test_spec_defaults_off_and_rejects_bad_values():
    spec = OpportunitySpec()
    assert (spec.enabled, spec.stage, spec.close_days, spec.amount_arr_share) == (
        False, "Prospecting", 30, None,
    )  # fmt: skip
    for bad in ({"close_days": 0}, {"stage": ""}, {"stage": " Prospecting"},
                {"amount_arr_share": 0}, {"owner": "x"}):  # fmt: skip
        with pytest.raises(ValidationError):
            OpportunitySpec(**bad)


def test_the_job_needs_signal_tasks_for_opportunities(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    job = yaml.safe_load((ROOT / "jobs/nightly.yaml").read_text(encoding="utf-8"))
    job["write"].update(signal_tasks=False, opportunity={"enabled": True})
    (jobs / "nightly.yaml").write_text(yaml.safe_dump(job, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError, match="write.opportunity needs write.signal_tasks"):
        load_job(jobs, "nightly")
    job["write"].update(signal_tasks=True, opportunity={"enabled": True, "close_days": -1})
    (jobs / "nightly.yaml").write_text(yaml.safe_dump(job, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError, match="close_days"):
        load_job(jobs, "nightly")


def test_org_problems_name_a_missing_key_field_and_an_unknown_stage():
    stage = {
        "name": "StageName",
        "picklistValues": [{"value": "Prospecting", "active": True}],
    }
    key = {"name": "Sync_Key__c", "externalId": True}
    assert opportunity_org_problems(OpportunitySpec(), {"fields": [stage, key]}) == []
    [missing] = opportunity_org_problems(OpportunitySpec(), {"fields": [stage]})
    assert "Opportunity.Sync_Key__c" in missing
    [unknown] = opportunity_org_problems(OpportunitySpec(stage="Won?"), {"fields": [stage, key]})
    assert "'Won?'" in unknown and "Prospecting" in unknown


def test_templates_without_an_opportunity_name_are_reported(tmp_path):
    shutil.copytree(ROOT / "mappings/templates", tmp_path / "templates")
    path = tmp_path / "templates/en/tasks_upsell.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["tasks"]["upsell.near_plan_limit"]["opportunity_name"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    assert opportunity_template_problems(load_templates(tmp_path / "templates", "ja")) == []
    [problem] = opportunity_template_problems(load_templates(tmp_path / "templates", "en"))
    assert problem.path == "tasks.upsell.near_plan_limit.opportunity_name"


def test_validate_reports_a_missing_name_template_only_when_enabled(tmp_path):
    from sfsync.config import Project, Settings
    from sfsync.project import validate_jobs

    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    upsell = tmp_path / "mappings/templates/en/tasks_upsell.yaml"
    text = upsell.read_text(encoding="utf-8")
    line = '    opportunity_name: "Upsell proposal: {account_name} – expansion"\n'
    assert line in text
    upsell.write_text(text.replace(line, ""), "utf-8")
    project = Project(tmp_path, Settings(), tmp_path / "jobs", tmp_path / "mappings", None)

    def problems() -> str:
        return "\n".join(map(str, validate_jobs(project)[0]))

    assert "opportunity_name" not in problems()  # off by default: not needed
    nightly = tmp_path / "jobs/nightly.yaml"
    job = yaml.safe_load(nightly.read_text(encoding="utf-8"))
    job["write"]["opportunity"] = {"enabled": True}
    nightly.write_text(yaml.safe_dump(job, allow_unicode=True), "utf-8")
    assert "tasks.upsell.expansion_proposal.opportunity_name: required field is missing" in (
        problems()
    )
