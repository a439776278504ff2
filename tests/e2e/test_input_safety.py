"""Bad input stops a run before anything is written; hostile strings stay values."""

from __future__ import annotations

from tests.e2e.conftest import run_cli, writes

AS_OF = "2025-03-15"
HOSTILE = "x' OR Name != '"

FILE_JOB = """
sources:
  accounts: {kind: salesforce, object: accounts}
  activities: {kind: salesforce, object: activities}
  usage:
    kind: file
    path: usage.csv
    max_quarantine_share: 0.05
compute: {kind: score}
write: {signal_tasks: true}
notify: {slack: false}
"""


def _usage_csv(project, sb, bad_rows: int) -> int:
    """A usage file for the org's tenants (2025-02) with ``bad_rows`` broken rows."""
    tenants = sorted(
        {a["Tenant_Id__c"] for a in sb.admin.records("Account") if a.get("Tenant_Id__c")}
    )
    lines = ["tenant_id,month,deliveries,login_days,last_login_date"]
    for i, tenant in enumerate(tenants):
        if i < bad_rows:
            lines.append(f"{tenant},2025-02,-3,4,2025-02-31")  # negative count, impossible date
        else:
            lines.append(f"{tenant},2025-02,{i % 4},{i % 9},2025-02-1{i % 9}")
    (project.root / "usage.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(tenants)


def test_too_many_bad_rows_stop_the_run_before_any_write(project, sandbox_factory):
    sb = sandbox_factory(accounts=60)
    project.write_job("from-file", FILE_JOB)
    total = _usage_csv(project, sb, bad_rows=10)
    sb.admin.reset_counters()
    result = run_cli(project, sb, "run", "from-file", "--as-of", AS_OF)
    assert result.exit_code == 1
    assert f"usage: 10 of {total} rows" in result.output
    assert "nothing was written" in result.output
    assert "deliveries: '-3' is below the minimum 0" in result.output
    assert writes(sb.admin.counters()) == 0


def test_a_few_bad_rows_are_quarantined_and_the_run_goes_on(project, sandbox_factory):
    sb = sandbox_factory(accounts=60)
    project.write_job("from-file", FILE_JOB.replace("0.05", "0.5"))
    _usage_csv(project, sb, bad_rows=2)
    result = run_cli(project, sb, "run", "from-file", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "quarantined  2 usage" in result.output
    assert all(a.get("Health_Score__c") is not None for a in sb.admin.records("Account"))


SCOPED_JOB = """
sources:
  accounts:
    kind: salesforce
    object: accounts
    scope: [{field: Name, op: "=", value: "x' OR Name != '"}]
  activities: {kind: salesforce, object: activities}
compute: {kind: score}
write: {signal_tasks: false}
notify: {slack: false}
"""


def test_hostile_names_in_the_scope_filter_stay_values(project, sandbox_factory):
    sb = sandbox_factory(accounts=40)
    sf = sb.simple_salesforce()
    owner = sb.admin.records("Account")[0]["OwnerId"]
    created = sf.Account.create({"Name": HOSTILE, "OwnerId": owner})
    project.write_job("one-account", SCOPED_JOB)
    result = run_cli(project, sb, "run", "one-account", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "read         1 accounts" in result.output
    scored = [a for a in sb.admin.records("Account") if a.get("Health_Score__c") is not None]
    assert [a["Id"] for a in scored] == [created["id"]]


def test_a_run_does_not_start_below_the_api_reserve(project, sandbox_factory):
    sb = sandbox_factory(accounts=30)
    sb.admin.set_faults(daily_api_remaining=500)
    try:
        result = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    finally:
        sb.admin.clear_faults()
    assert result.exit_code == 1
    assert "daily Salesforce API requests remain" in result.stderr
    assert writes(sb.admin.counters()) == 0
