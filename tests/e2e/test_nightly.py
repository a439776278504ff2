"""The nightly job end to end on the sandbox: real HTTPS Salesforce REST, the Metabase API and
the Slack Web API, through the unmodified CLI and the SPEC §9 environment variables."""

from __future__ import annotations

import re
from collections import Counter

from tests.e2e.conftest import customers, run_cli, writes

AS_OF = "2025-03-15"


def _owner_digests(sb) -> list[dict]:
    return [m for m in sb.admin.slack_messages() if "担当顧客の新着" in (m.get("text") or "")]


def _signals_in(digests: list[dict]) -> int:
    return sum(int(re.search(r"新規シグナル (\d+) 件", m["text"]).group(1)) for m in digests)


def _digests(sb) -> list[dict]:
    return [m for m in sb.admin.slack_messages() if "実行サマリー" in (m.get("text") or "")]


def _scored(accounts: list[dict]) -> int:
    return sum(1 for a in accounts if a.get("Health_Score__c") is not None)


def test_nightly_writes_fields_tasks_and_alerts_then_a_rerun_changes_nothing(
    project, sandbox_factory
):
    sb = sandbox_factory(accounts=150)
    sb.admin.reset_counters()
    first = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert first.exit_code == 0, first.output
    assert "nightly as of 2025-03-15: succeeded" in first.output

    accounts = sb.admin.records("Account")
    active = customers(accounts, AS_OF)
    assert len(accounts) == 150 and 130 < len(active) < 150  # the book has churned accounts
    assert _scored(accounts) == _scored(active) == len(active)
    bands = Counter(a["Health_Band__c"] for a in active)
    assert set(bands) <= {"green", "yellow", "orange", "red"}
    # the explanation CSMs read is in the configured language (ja), band and score included
    # (one measure per line, the band as the Health_Band__c picklist labels it, then its action)
    band_ja = {"green": "健全", "yellow": "要注意", "orange": "警戒", "red": "危険"}
    for a in active:
        head = f"スコア {int(a['Health_Score__c'])}（{band_ja[a['Health_Band__c']]}）\n次のアクション: "
        assert a["Health_Explanation__c"].startswith(head), a["Health_Explanation__c"]
    assert any("利用状況" in a["Health_Explanation__c"] for a in active)
    tasks = [
        t for t in sb.admin.records("Task") if (t.get("Sync_Key__c") or "").startswith("signal:")
    ]
    assert tasks, "the sample org has churn signals, so signal Tasks must exist"
    assert all(t["Sync_Key__c"].endswith(":2025-02") for t in tasks)
    assert len({t["Sync_Key__c"] for t in tasks}) == len(tasks)  # no duplicates
    alerts = _owner_digests(sb)
    assert alerts, "new signals must be alerted in Slack, in one digest per owner"
    assert f"alerted      {_signals_in(alerts)} new signals" in first.output
    assert "churn risks" in first.output and ", 0 new (0 churn risks" not in first.output
    assert len(_digests(sb)) == 1
    first_counters = sb.admin.counters()
    assert writes(first_counters) >= len(active)

    sb.admin.reset_counters()
    second = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert second.exit_code == 0, second.output
    assert writes(sb.admin.counters()) == 0
    assert "0 account updates, 0 tasks created, 0 tasks updated" in second.output
    assert len(_owner_digests(sb)) == len(alerts)  # no signal is alerted twice
    assert len(_digests(sb)) == 2  # one run digest per run, saying "0 new"
    assert "新規シグナル 0 件" in _digests(sb)[-1]["text"]
    again = [
        t for t in sb.admin.records("Task") if (t.get("Sync_Key__c") or "").startswith("signal:")
    ]
    assert len(again) == len(tasks)


def test_dry_run_prints_the_plan_and_writes_nothing(project, sandbox_factory, tmp_path):
    sb = sandbox_factory(accounts=60)
    sb.admin.reset_counters()
    plan_file = tmp_path / "plan.json"
    result = run_cli(
        project, sb, "run", "nightly", "--as-of", AS_OF, "--dry-run", "--plan-out", str(plan_file)
    )
    assert result.exit_code == 0, result.output
    assert "dry run: nothing written" in result.output
    assert writes(sb.admin.counters()) == 0
    assert plan_file.exists() and '"records"' in plan_file.read_text()
    assert not sb.admin.slack_messages()
    assert _scored(sb.admin.records("Account")) == 0


def test_weekly_usage_import_copies_last_month_onto_accounts(project, sandbox_factory):
    sb = sandbox_factory(accounts=80)
    result = run_cli(project, sb, "run", "weekly-usage-import", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    accounts = sb.admin.records("Account")
    linked = [a for a in accounts if a.get("Tenant_Id__c")]
    assert linked and all(a.get("Usage_Month__c") == "2025-02" for a in linked)
    assert all(a.get("Usage_Deliveries__c") is not None for a in linked)
    assert not any(a.get("Usage_Month__c") for a in accounts if not a.get("Tenant_Id__c"))
    sb.admin.reset_counters()
    again = run_cli(project, sb, "run", "weekly-usage-import", "--as-of", AS_OF)
    assert again.exit_code == 0, again.output
    assert writes(sb.admin.counters()) == 0


def test_transient_faults_are_retried_and_nothing_is_lost(project, sandbox_factory):
    sb = sandbox_factory(accounts=120)
    sb.admin.set_faults(seed=3, http_503=0.15, lock_row=0.05)
    try:
        first = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    finally:
        sb.admin.clear_faults()
    assert first.exit_code in (0, 3), first.output[-3000:]  # 3: some records left for next run
    assert sb.admin.counters()["faults"], "the sandbox injected faults"
    second = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert second.exit_code == 0, second.output[-3000:]
    accounts = sb.admin.records("Account")
    assert (
        _scored(accounts) == _scored(customers(accounts, AS_OF)) == len(customers(accounts, AS_OF))
    )
    keys = [t["Sync_Key__c"] for t in sb.admin.records("Task") if t.get("Sync_Key__c")]
    assert len(keys) == len(set(keys))  # a retried request never created a second Task
    sb.admin.reset_counters()
    third = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert third.exit_code == 0 and writes(sb.admin.counters()) == 0
