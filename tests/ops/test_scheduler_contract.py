"""What schedulers rely on (docs/OPERATIONS.md): exit codes of ``run`` and the run id on every
JSON log line of a run, and a summary readable at a glance."""

from __future__ import annotations

import json

from sfsync.errors import ExitCode
from tests.ops.conftest import run_cli


def test_run_logs_carry_the_run_id_and_the_summary_leads_with_the_status(ops_project,
                                                                           sandbox_factory):  # fmt: skip
    sb = sandbox_factory(accounts=20)
    result = run_cli(ops_project, sb, "run", "nightly", "--as-of", "2025-03-15")
    assert result.exit_code == ExitCode.OK, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    start = next(i for i, e in enumerate(events) if e["event"] == "run_started")
    end = next(i for i, e in enumerate(events) if e["event"] == "run_finished")
    run_ids = {e.get("run_id") for e in events[start : end + 1]}
    assert len(run_ids) == 1 and None not in run_ids, [e["event"] for e in events[start:end]]
    assert end - start > 5  # the stages logged in between
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"Run {run_ids.pop()} of nightly as of 2025-03-15: succeeded")


def test_run_exit_codes_usage_and_lock(ops_project, sandbox):
    usage = run_cli(ops_project, sandbox, "run", "nightly", "--as-of", "15/03/2025")
    assert usage.exit_code == ExitCode.USAGE
    from sfsync.state.db import open_store
    from sfsync.state.lock import release, try_acquire

    store = open_store(ops_project.state_url)
    lock = try_acquire(store, "nightly", 600, holder="cron-host:42")
    try:
        locked = run_cli(ops_project, sandbox, "run", "nightly", "--as-of", "2025-03-15")
    finally:
        release(store, lock)
        store.dispose()
    assert locked.exit_code == ExitCode.LOCKED
    assert "cron-host:42" in locked.stderr
