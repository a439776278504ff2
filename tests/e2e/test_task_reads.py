"""Reads sized by the run, not by history (issue 14 item 2): over several monthly runs the
existing-Task read returns about the Tasks the run asks for, while the org's keyed Tasks
pile up month after month."""

from __future__ import annotations

import json

from tests.e2e.conftest import run_cli

MONTHS = ("2024-12-15", "2025-01-15", "2025-02-15", "2025-03-15")


def _event(stderr: str, name: str) -> dict:
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            return event
    raise AssertionError(f"no {name} event in the log")


def test_existing_task_rows_read_stay_flat_across_monthly_runs(project, sandbox_factory):
    sb = sandbox_factory(accounts=200)  # > 200 Task keys a run: no IN list
    reads = []
    for as_of in MONTHS:
        result = run_cli(project, sb, "run", "nightly", "--as-of", as_of, "--accept-mass-change")
        assert result.exit_code == 0, result.output
        reads.append(_event(result.stderr, "existing_tasks_read"))
    keyed = [t for t in sb.admin.records("Task") if t.get("Sync_Key__c")]
    rows = [e["rows_read"] for e in reads]
    print("existing-Task rows read per month", rows, "keys", [e["keys"] for e in reads])
    assert max(e["keys"] for e in reads) > 200  # too many keys for one IN list
    for event in reads:  # every row read is one of the run's own Tasks
        assert event["rows_read"] == event["tasks"] <= event["keys"], event
    assert len(keyed) > 2 * rows[-1], (len(keyed), rows)  # history grew; the read did not
