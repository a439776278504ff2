"""Records Salesforce keeps rejecting: the run finishes with exit code 3 (documented for
schedulers), the records are kept in the state store, and the next run writes them."""

from __future__ import annotations

from sfsync.errors import ExitCode
from tests.e2e.conftest import customers, run_cli

AS_OF = "2025-03-15"


def test_rejected_records_exit_3_and_are_written_by_the_next_run(project, sandbox_factory):
    sb = sandbox_factory(accounts=20)
    sb.admin.set_faults(seed=1, lock_row=1.0)  # every record write answers UNABLE_TO_LOCK_ROW
    first = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert first.exit_code == ExitCode.ROW_FAILURES, first.output
    assert "partial" in first.output
    assert not any(a.get("Health_Score__c") is not None for a in sb.admin.records("Account"))

    sb.admin.clear_faults()
    second = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert second.exit_code == ExitCode.OK, second.output
    assert "succeeded" in second.output
    accounts = customers(sb.admin.records("Account"), AS_OF)  # churned ones are not scored
    assert accounts and all(a.get("Health_Score__c") is not None for a in accounts)
    tasks = [t for t in sb.admin.records("Task") if t.get("Sync_Key__c")]
    assert tasks and len({t["Sync_Key__c"] for t in tasks}) == len(tasks)

    third = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert third.exit_code == ExitCode.OK, third.output
    assert "0 account updates, 0 tasks created, 0 tasks updated" in third.output
