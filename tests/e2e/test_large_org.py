"""An org of more than 2,000 accounts: Metabase usage far past the 2,000-row cap, Bulk API 2.0
reads and writes above the threshold, and still nothing written by the second run."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import customers as scored_by_nightly
from tests.e2e.conftest import run_cli, without_daily_task_limit, writes

AS_OF = "2025-03-15"


def _event(stderr: str, name: str) -> dict:
    for line in stderr.splitlines():
        if line.startswith("{") and f'"event": "{name}"' in line:
            return json.loads(line)
    raise AssertionError(f"no {name} event in the log")


@pytest.mark.slow
def test_nightly_on_2100_accounts_twice(project, sandbox_factory):
    sb = sandbox_factory(accounts=2100)
    project.write_job(
        "nightly-quiet",
        (project.root / "jobs" / "nightly.yaml").read_text().replace("slack: true", "slack: false"),
    )
    without_daily_task_limit(project)  # every Task of the first run: well above the Bulk threshold
    sb.admin.reset_counters()
    first = run_cli(project, sb, "run", "nightly-quiet", "--as-of", AS_OF)
    assert first.exit_code == 0, first.output[-3000:]
    finished = _event(first.stderr, "run_finished")
    assert finished["read"]["accounts"] == 2100
    assert finished["read"]["usage"] > 2000 * 5  # 13 months of usage, far past the 2,000 cap
    # the nightly job leaves accounts churned on or before the as-of date out (exclude_churned)
    customers = {a["Id"] for a in scored_by_nightly(sb.admin.records("Account"), AS_OF)}
    assert 1900 < len(customers) < 2100
    assert finished["scored"] == len(customers)
    assert finished["fields_written"] == len(customers)
    counters = sb.admin.counters()
    assert writes(counters) >= len(customers)
    calls = counters["calls"]
    assert any("jobs/ingest" in endpoint for endpoint in calls), calls  # Bulk 2.0 writes
    scored = {a["Id"] for a in sb.admin.records("Account") if a.get("Health_Score__c") is not None}
    assert scored == customers

    sb.admin.reset_counters()
    second = run_cli(project, sb, "run", "nightly-quiet", "--as-of", AS_OF)
    assert second.exit_code == 0, second.output[-3000:]
    assert writes(sb.admin.counters()) == 0
    assert _event(second.stderr, "run_finished")["unchanged"] == len(customers)
