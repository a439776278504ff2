"""Reads sized by the run (issue 14 item 2), counted by the practice org: the Accounts are
read once per run (the plan compares with the extract's read), and the REST-or-Bulk choice is
made from a ``SELECT COUNT()`` call, so no REST page is fetched and thrown away."""

from __future__ import annotations

from collections import Counter

from tests.cli_process import add_settings
from tests.e2e.conftest import run_cli, without_daily_task_limit


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


def _events(stderr: str, name: str) -> list[dict]:
    import json

    out = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            out.append(event)
    return out


def test_the_open_signal_read_leaves_out_the_period_read_for_the_keys(project, sandbox_factory):
    sb = sandbox_factory(accounts=600)  # > 200 signal keys a month: read by period
    without_daily_task_limit(project)  # every signal Task on the first night
    first = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-15")
    assert first.exit_code == 0, first.output
    open_before = [
        str(t["Sync_Key__c"]) for t in sb.admin.records("Task")
        if str(t.get("Sync_Key__c") or "").startswith("signal:") and not t.get("IsClosed")
    ]  # fmt: skip
    periods = Counter(key.rsplit(":", 1)[1] for key in open_before)
    month, in_month = periods.most_common(1)[0]
    assert in_month > 200
    second = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-16")
    assert second.exit_code == 0, second.output
    (existing,) = _events(second.stderr, "existing_tasks_read")
    (open_signal,) = _events(second.stderr, "open_signal_tasks_read")
    assert existing["rows_read"] >= in_month  # the month's signal Tasks, read once by period
    # the open-signal query leaves that month out (it used to return every open signal Task)
    assert open_signal["tasks"] <= len(open_before) - in_month, (open_signal, periods)
