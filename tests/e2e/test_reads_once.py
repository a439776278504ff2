"""Reads sized by the run (issue 14 item 2), counted by the practice org: the Accounts are
read once per run (the plan compares with the extract's read), and the REST-or-Bulk choice is
made from a ``SELECT COUNT()`` call, so no REST page is fetched and thrown away."""

from __future__ import annotations

from tests.cli_process import add_settings
from tests.e2e.conftest import run_cli


def test_a_nightly_run_reads_every_account_once(project, sandbox_factory):
    sb = sandbox_factory(accounts=150)
    accounts = len(sb.admin.records("Account"))
    sb.admin.reset_counters()
    result = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-15")
    assert result.exit_code == 0, result.output
    counters = sb.admin.counters()
    assert counters["records_read"]["Account"] == accounts  # once, not twice
    assert "current_values_shared" in result.stderr


def test_a_large_read_goes_to_bulk_after_a_count_without_a_discarded_page(project, sandbox_factory):
    sb = sandbox_factory(accounts=150)
    accounts = len(sb.admin.records("Account"))
    add_settings(project.config, {"salesforce": {"bulk_threshold": 100}})
    sb.admin.reset_counters()
    result = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-15", "--dry-run")
    assert result.exit_code == 0, result.output
    counters = sb.admin.counters()
    assert counters["records_read"]["Account"] == accounts  # the Bulk job's rows only
    assert counters["calls"].get("POST jobs/query", 0) >= 1, counters["calls"]
