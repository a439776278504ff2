"""Churn data end to end on the sandbox: Churn_Date__c and Churn_Reason__c (deploy/salesforce)
read by the accounts mapping as the optional columns churned_on / churn_reason, feeding the
churn-rate KPI, the recovery-playbook Tasks and calibration; churned accounts are left out of
the nightly scoring; an org without the fields still runs (the KPI says n/a)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date

import pandas as pd
from sfsync_sandbox.sample_data import generate

from tests.cli_process import REPO
from tests.e2e.conftest import customers, run_cli

AS_OF = "2025-03-15"
ACCOUNTS = 80


def _churn_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("チャーン率"))


def _expected_churn(accounts: list[dict], month_end: str, years: int = 2):
    """Churn rate written out from the org's records (mappings/playbook.yaml kpi:
    churn_definition: contract_years, the strategy's: accounts that churned by the month end
    within 2 years of their contract start / accounts contracted by the month end)."""
    end = pd.Timestamp(month_end)
    lost = base = 0
    for a in accounts:
        began = pd.Timestamp(a["Contract_Start_Date__c"]) if a["Contract_Start_Date__c"] else None
        churned = pd.Timestamp(a["Churn_Date__c"]) if a.get("Churn_Date__c") else None
        if began is not None and began <= end:
            base += 1
            lost += (
                churned is not None
                and churned <= end
                and churned < began + pd.DateOffset(years=years)
            )
    return lost, base


def _recovery_tasks(sb) -> list[dict]:
    return [
        t for t in sb.admin.records("Task") if (t.get("Sync_Key__c") or "").startswith("recovery_")
    ]


def test_churn_rate_comes_from_the_org_churn_dates(project, sandbox_factory):
    sb = sandbox_factory(accounts=ACCOUNTS)
    accounts = sb.admin.records("Account")
    assert any(a.get("Churn_Date__c") for a in accounts), "the sample book has churned accounts"
    # a CSM records one more churn in the report month: the KPI must follow the org
    loyal = next(
        a
        for a in accounts
        if not a.get("Churn_Date__c")
        and a["Contract_Start_Date__c"]
        and "2023-06-01" < a["Contract_Start_Date__c"] < "2024-01-01"  # < 2 years before
    )
    sb.admin.edit_as(
        loyal["OwnerId"], "Account", loyal["Id"],
        {"Churn_Date__c": "2025-03-10", "Churn_Reason__c": "cost"},
    )  # fmt: skip
    nightly = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-31")
    assert nightly.exit_code == 0, nightly.output[-3000:]

    result = run_cli(project, sb, "run", "monthly-kpi", "--as-of", "2025-04-01")
    assert result.exit_code == 0, result.output[-3000:]
    lost, base = _expected_churn(sb.admin.records("Account"), "2025-03-31")
    assert lost >= 2 and base > 40
    line = _churn_line(result.output)
    assert f"{lost / base:.1%}" in line and f"{lost} / {base}" in line, line
    assert "算出不可" not in line


def test_an_org_without_the_churn_fields_still_runs_and_the_kpi_says_na(project, sandbox_factory):
    sb = sandbox_factory(accounts=40)
    path = project.root / "mappings" / "columns" / "salesforce_accounts.yaml"
    text = path.read_text(encoding="utf-8")
    # as if the org had other names: the optional fields are absent from the describe
    text = text.replace("Churn_Date__c", "Lost_On__c").replace("Churn_Reason__c", "Lost_Why__c")
    path.write_text(text, encoding="utf-8")
    sb.admin.reset_counters()
    nightly = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert nightly.exit_code == 0, nightly.output[-3000:]
    assert '"optional_fields_absent"' in nightly.stderr
    assert "Lost_On__c" in nightly.stderr
    # no churn date known: every account is scored
    scored = [a for a in sb.admin.records("Account") if a.get("Health_Score__c") is not None]
    assert len(scored) == 40
    kpi = run_cli(project, sb, "run", "monthly-kpi", "--as-of", "2025-04-01")
    assert kpi.exit_code == 0, kpi.output[-3000:]
    line = _churn_line(kpi.output)
    assert "算出不可" in line and "顧客データに churned_on 列がありません" in line, line


def test_recovery_tasks_for_accounts_with_a_churn_reason_exactly_once(project, sandbox_factory):
    sb = sandbox_factory(accounts=ACCOUNTS)
    first = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert first.exit_code == 0, first.output[-3000:]
    accounts = sb.admin.records("Account")
    active = {a["Id"]: a for a in customers(accounts, AS_OF)}
    with_reason = {i: a["Churn_Reason__c"] for i, a in active.items() if a.get("Churn_Reason__c")}
    assert with_reason, "the sample book has customers that stated a churn reason"
    keys = {t["Sync_Key__c"] for t in _recovery_tasks(sb)}
    for account_id, reason in with_reason.items():
        assert f"recovery_{reason}:{account_id}:2025-03" in keys
    # churned accounts are out of scope: no recovery Task, no score
    gone = {a["Id"] for a in accounts if a["Id"] not in active}
    assert gone and not {t["WhatId"] for t in _recovery_tasks(sb)} & gone
    assert all(a.get("Health_Score__c") is None for a in accounts if a["Id"] in gone)

    # a CSM records a reason on another customer: one Task the next run, none the run after
    target = next(
        a for a in active.values()
        if not a.get("Churn_Reason__c") and not a.get("Competitor_Evaluation__c")
    )  # fmt: skip
    sb.admin.edit_as(target["OwnerId"], "Account", target["Id"], {"Churn_Reason__c": "cost"})
    second = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert second.exit_code == 0, second.output[-3000:]
    mine = [t for t in _recovery_tasks(sb) if t["WhatId"] == target["Id"]]
    assert [t["Sync_Key__c"] for t in mine] == [f"recovery_cost:{target['Id']}:2025-03"]
    assert mine[0]["OwnerId"] == target["OwnerId"] and mine[0]["Priority"] == "High"
    assert "コスト" in mine[0]["Subject"]
    count = len(_recovery_tasks(sb))
    third = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert third.exit_code == 0, third.output[-3000:]
    assert len(_recovery_tasks(sb)) == count
    duplicates = Counter(t["Sync_Key__c"] for t in _recovery_tasks(sb))
    assert max(duplicates.values()) == 1


def test_calibration_reads_outcomes_from_the_org(project, sandbox_factory):
    sb = sandbox_factory(accounts=ACCOUNTS)
    backfill = run_cli(
        project, sb, "backfill", "nightly", "--from", "2024-06-01", "--to", "2025-03-01"
    )
    assert backfill.exit_code == 0, backfill.output[-3000:]
    accounts = sb.admin.records("Account")
    # an account has snapshots while it was a customer: churned after the first backfill date
    observed = [a for a in accounts if (a.get("Churn_Date__c") or "9999") > "2024-06-01"]
    churned = sum(1 for a in observed if a.get("Churn_Date__c"))
    assert churned >= 3
    result = run_cli(
        project, sb, "calibrate", "--from", "2024-06-01", "--to", "2025-03-01", "--no-proposal"
    )
    assert result.exit_code == 0, result.output[-3000:]
    summary = re.search(r"顧客 ([\d,]+) 社（解約 ([\d,]+) 社、継続 ([\d,]+) 社）", result.output)
    assert summary, result.output[-2000:]
    total, lost, kept = (int(g.replace(",", "")) for g in summary.groups())
    # every churned account has snapshots from before its churn date (the backfill scored it
    # while it was still a customer), so each one is an observation
    assert lost == churned and total == lost + kept == len(observed)
    auc = float(re.search(r"スコア全体の AUC：([0-9.]+)", result.output).group(1))
    assert auc > 0.6  # usage fades before the churn: the score separates churned accounts


def test_calibrate_sandbox_flag_reads_the_backfilled_sandbox(project):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    base = [sys.executable, "-m", "sfsync", "--config", str(project.config)]

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*base, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )

    window = ("--from", "2024-12-01", "--to", "2025-03-01")
    backfill = call("backfill", "nightly", *window, "--sandbox")
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    result = call("calibrate", *window, "--sandbox", "--no-proposal")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = re.search(r"顧客 (\d+) 社（解約 (\d+) 社", result.stdout)
    assert summary, result.stdout
    # the sandbox book (started as of --to by the backfill): customers on 2024-12-01 or later
    churn = generate(accounts=150, seed=7, as_of=date(2025, 3, 1)).accounts["Churn_Date__c"]
    observed = churn.isna() | (churn > "2024-12-01")
    assert int(summary.group(1)) == int(observed.sum())
    assert int(summary.group(2)) == int((observed & churn.notna()).sum()) >= 1
    # the inputs the scorecard does not use were read from the sandbox's sources and evaluated
    assert "スコアカードにない入力：" in result.stdout and "メール開封率（当月）" in result.stdout
    assert (project.root / ".sfsync" / "sandbox" / "state.db").exists()
