"""A bad night writes nothing (SPEC §12), end to end through the real CLI and the sandbox:
a broken Metabase feed, a mass change, unknown tenants, the current month's logins, and a
plan larger than the day's API budget."""

from __future__ import annotations

import json
import sqlite3

from tests.cli_process import add_settings
from tests.e2e.conftest import customers, run_cli, writes

AS_OF = "2025-03-15"


def usage_db(sb):
    return sqlite3.connect(sb.data_dir / "metabase" / "usage.db")


def events(stderr: str, name: str) -> list[dict]:
    found = []
    for line in stderr.splitlines():
        if line.startswith("{") and f'"{name}"' in line:
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def test_a_broken_usage_feed_stops_the_night_before_any_write(project, sandbox_factory):
    sb = sandbox_factory(accounts=80)
    assert run_cli(project, sb, "run", "nightly", "--as-of", AS_OF).exit_code == 0
    with usage_db(sb) as db:  # the upstream ETL failed: no rows for the scoring month
        db.execute("DELETE FROM tenant_monthly_usage WHERE month = '2025-02'")
    sb.admin.reset_counters()
    slack_before = len(sb.admin.slack_messages())

    result = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-16")
    assert result.exit_code == 1, result.output
    assert "the input guard stopped the run before anything was written" in result.output
    assert "scoring_month_missing" in result.output and "2025-02" in result.output
    assert "--accept-input-change" in result.output
    assert writes(sb.admin.counters()) == 0
    texts = [m["text"] for m in sb.admin.slack_messages()[slack_before:]]
    assert len(texts) == 1, texts  # the run-failure notice, no churn alert
    assert "Traceback" not in result.output

    # accepting the input alone meets the mass-change brake: most accounts would turn red
    result = run_cli(
        project, sb, "run", "nightly", "--as-of", "2025-03-16", "--accept-input-change"
    )
    assert result.exit_code == 1, result.output
    assert "the output guard stopped the run" in result.output
    assert "red_turn_share" in result.output and "--accept-mass-change" in result.output
    assert writes(sb.admin.counters()) == 0

    result = run_cli(
        project,
        sb,
        "run",
        "nightly",
        "--as-of",
        "2025-03-16",
        "--accept-input-change",
        "--accept-mass-change",
    )
    assert result.exit_code == 0, result.output
    assert "guard        input guard (accepted by --accept-input-change)" in result.output
    assert writes(sb.admin.counters()) > 0


def test_a_dry_run_shows_what_the_guard_would_stop(project, sandbox_factory):
    sb = sandbox_factory(accounts=40)
    with usage_db(sb) as db:
        db.execute("DELETE FROM tenant_monthly_usage WHERE month = '2025-02'")
    result = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would stop a real run" in result.output


FILE_JOB = """
sources:
  accounts: {kind: salesforce, object: accounts}
  activities: {kind: salesforce, object: activities}
  usage: {kind: file, path: usage.csv}
compute: {kind: score}
write: {signal_tasks: true}
notify: {slack: false}
"""


def _tenants(sb) -> list[str]:
    return sorted({a["Tenant_Id__c"] for a in sb.admin.records("Account") if a.get("Tenant_Id__c")})


def test_all_empty_measures_stop_the_run(project, sandbox_factory):
    sb = sandbox_factory(accounts=40)
    project.write_job("from-file", FILE_JOB)
    lines = ["tenant_id,month,deliveries,login_days,last_login_date"]
    for i, tenant in enumerate(_tenants(sb)):
        lines.append(f"{tenant},2025-01,{i % 4},{i % 9},2025-01-1{i % 9}")
        lines.append(f"{tenant},2025-02,,,2025-02-1{i % 9}")  # the counts came back empty
    (project.root / "usage.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sb.admin.reset_counters()
    result = run_cli(project, sb, "run", "from-file", "--as-of", AS_OF)
    assert result.exit_code == 1, result.output
    assert "deliveries is empty in every row of 2025-02" in result.output
    assert "login_days is empty in every row of 2025-02" in result.output
    assert writes(sb.admin.counters()) == 0


def test_unknown_tenants_are_reported_not_counted_as_bad_rows(project, sandbox_factory):
    sb = sandbox_factory(accounts=40)
    project.write_job("from-file", FILE_JOB)
    tenants = _tenants(sb)
    lines = ["tenant_id,month,deliveries,login_days,last_login_date"]
    lines += [f"{t},2025-02,3,8,2025-02-20" for t in tenants]
    # four times as many rows of trials and internal tenants that no account has
    lines += [f"trial-{i:04d},2025-0{1 + i % 2},1,1,2025-01-05" for i in range(4 * len(tenants))]
    (project.root / "usage.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli(project, sb, "run", "from-file", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "quarantined  0 rows" in result.output
    assert f"{4 * len(tenants):,} usage rows of {4 * len(tenants):,} tenants no account has" in (
        result.output
    )
    [event] = events(result.stderr, "unknown_tenants")
    assert event["tenants"] == 4 * len(tenants) and len(event["largest"]) == 10


def _no_login_signal(sb, account_id: str) -> bool:
    account = next(a for a in sb.admin.records("Account") if a["Id"] == account_id)
    return "no_login_60d" in (account.get("Churn_Signals__c") or "")


def _idle_since_november(sb) -> tuple[str, str]:
    """A customer whose tenant has no row since 2024-11 and last logged in then."""
    account = next(
        a
        for a in customers(sb.admin.records("Account"), AS_OF)
        if a.get("Tenant_Id__c") and (a.get("Contract_Start_Date__c") or "") < "2024-06-01"
    )
    tenant = account["Tenant_Id__c"]
    with usage_db(sb) as db:
        db.execute(
            "DELETE FROM tenant_monthly_usage WHERE tenant_id = ? AND month >= '2024-12'",
            (tenant,),
        )
        db.execute(
            "UPDATE tenant_monthly_usage SET last_login_on = month || '-10' WHERE tenant_id = ?",
            (tenant,),
        )
    return account["Id"], tenant


def test_a_login_in_the_current_month_counts_through_metabase(project, sandbox_factory, tmp_path):
    # control: idle since November and no row this month → no_login_60d
    sb = sandbox_factory(accounts=40, data_dir=tmp_path / "control")
    account_id, _ = _idle_since_november(sb)
    assert run_cli(project, sb, "run", "nightly", "--as-of", AS_OF).exit_code == 0
    assert _no_login_signal(sb, account_id)

    # the same customer logged in three days before the as-of date (the partial month)
    sb = sandbox_factory(accounts=40, data_dir=tmp_path / "current")
    account_id, tenant = _idle_since_november(sb)
    with usage_db(sb) as db:
        db.execute(
            "INSERT INTO tenant_monthly_usage (tenant_id, month, webinars_delivered, "
            "active_login_days, last_login_on, tickets_opened) "
            "VALUES (?, '2025-03', 0, 1, '2025-03-12', 0)",
            (tenant,),
        )
    other = project.root.parent / "other"
    from tests.cli_process import make_project
    from tests.e2e.conftest import Project

    make_project(other)
    assert run_cli(Project(other), sb, "run", "nightly", "--as-of", AS_OF).exit_code == 0
    assert not _no_login_signal(sb, account_id)
    keys = {t.get("Sync_Key__c") for t in sb.admin.records("Task")}
    assert f"signal:no_login_60d:{account_id}:2025-02" not in keys


def test_a_plan_beyond_the_api_budget_writes_nothing(project, sandbox_factory):
    sb = sandbox_factory(accounts=40)
    add_settings(project.config, {"salesforce": {"api_reserve": 0}})
    dry = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF, "--dry-run")
    assert dry.exit_code == 0, dry.output
    [finished] = events(dry.stderr, "run_finished")
    reads = finished["api_calls"]["salesforce"]
    # enough for every read and one write request, not for the Account and the Task writes
    sb.admin.set_faults(daily_api_remaining=reads + 1)
    sb.admin.reset_counters()
    result = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert result.exit_code == 1, result.output
    assert "Salesforce API requests" in result.output and "nothing was written" in result.output
    assert writes(sb.admin.counters()) == 0
