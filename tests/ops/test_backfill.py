"""``sfsync backfill`` against the sandbox: 12 monthly dates, interrupted and resumed, dry run,
exit codes, and the run id on every JSON log line."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import date

import pytest

from sfsync.ops.backfill import BackfillOptions, BackfillResult, DateOutcome, backfill_dates
from tests.ops.conftest import run_cli

ACCOUNTS = 40
FROM, TO = "2024-04-01", "2025-03-01"
HISTORY = "Health_Score_History__c"


class Interrupted(Exception):
    pass


def _context(project, sb, as_of=date(2025, 3, 1)):
    from sfsync.config import load_project
    from sfsync.run_context import build_run_context

    env = {**os.environ, **sb.env()}
    return build_run_context(load_project(project.config, env=env), "nightly", as_of, env=env)


def _history(sb) -> list[dict]:
    return sb.admin.records(HISTORY)


def _scored_per_date(sb, dates: list[date]) -> list[int]:
    """Accounts scored as of each date: the nightly job leaves out accounts churned by then
    (jobs/nightly.yaml exclude_churned), counted from the org's Churn_Date__c."""
    churn = [a.get("Churn_Date__c") for a in sb.admin.records("Account")]
    return [sum(1 for c in churn if not c or c[:10] > d.isoformat()) for d in dates]


def test_monthly_dates_clamp_the_day_and_weekly_dates_step_seven_days():
    assert backfill_dates(date(2024, 1, 31), date(2024, 4, 30), "month") == [
        date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)
    ]  # fmt: skip
    assert len(backfill_dates(date(2024, 4, 1), date(2025, 3, 1), "month")) == 12
    assert backfill_dates(date(2025, 1, 1), date(2025, 1, 20), "week") == [
        date(2025, 1, 1), date(2025, 1, 8), date(2025, 1, 15)
    ]  # fmt: skip


def test_interrupted_backfill_resumes_with_the_remaining_dates_only(ops_project, sandbox_factory):
    from sfsync.ops.backfill import run_backfill
    from sfsync.state.backfill import progress_rows, range_key
    from sfsync.state.db import open_store
    from sfsync.state.snapshots import history

    sb = sandbox_factory(accounts=ACCOUNTS, as_of=date(2025, 3, 15))
    tasks_before = len(sb.admin.records("Task"))
    options = BackfillOptions(date.fromisoformat(FROM), date.fromisoformat(TO), "month")
    seen: list[DateOutcome] = []

    def crash_after_five(outcome: DateOutcome) -> None:
        seen.append(outcome)
        if len(seen) == 5:
            raise Interrupted("simulated crash after 5 dates")

    ctx = _context(ops_project, sb)
    with pytest.raises(Interrupted):
        run_backfill(ctx, options, on_date=crash_after_five)
    ctx.close()
    first_five = [d.as_of for d in seen]
    all_dates = backfill_dates(options.date_from, options.date_to)
    assert first_five == all_dates[:5]
    per_date = _scored_per_date(sb, all_dates)
    assert sum(per_date) < 12 * ACCOUNTS  # the sample book has churned accounts
    assert len(_history(sb)) == sum(per_date[:5])

    sb.admin.reset_counters()
    resumed = run_cli(ops_project, sb, "backfill", "nightly", "--from", FROM, "--to", TO)
    assert resumed.exit_code == 0, resumed.stderr[-3000:]
    assert "7 done now, 5 done earlier (skipped), 0 failed" in resumed.stdout
    assert f"{sum(per_date[5:]):,} {HISTORY} records upserted" in resumed.stdout

    # only the 7 remaining dates were written, and no record twice
    records = _history(sb)
    keys = Counter(r["History_Key__c"] for r in records)
    assert len(records) == sum(per_date) and max(keys.values()) == 1
    assert {k.split(":")[1] for k in keys} == {d.isoformat() for d in backfill_dates(
        options.date_from, options.date_to)}  # fmt: skip
    written_dates = Counter(
        r["Score_Date__c"] for r in records if r["History_Key__c"].split(":")[1] > "2024-08-01"
    )
    assert len(written_dates) == 7
    assert sb.admin.counters()["records_written"] == sum(per_date[5:])  # history records only
    one = next(r for r in records if r["History_Key__c"].endswith(":2025-03-01"))
    assert one["Account__c"] == one["History_Key__c"].split(":")[0]
    assert one["Health_Band__c"] in ("green", "yellow", "orange", "red")

    # no Tasks, no Slack alerts, no Account fields for past dates (not asked for)
    assert len(sb.admin.records("Task")) == tasks_before
    assert sb.admin.slack_messages() == []
    assert all(a.get("Health_Score__c") is None for a in sb.admin.records("Account"))

    store = open_store(ops_project.state_url)
    try:
        rows = progress_rows(store, "nightly", range_key(options.date_from, options.date_to,
                                                         "month"))  # fmt: skip
        assert [r["status"] for r in rows] == ["done"] * 12
        snapshots = history(store, options.date_from, options.date_to, with_measure_points=True)
        assert len(snapshots) == sum(per_date)  # every account on every date, read back
        points = snapshots["measure_points"].iloc[0]
        assert set(json.loads(points)) >= {"deliveries", "login_days", "last_touch"}
    finally:
        store.dispose()

    # every log line of the resumed backfill from the run's start carries one run id
    events = [json.loads(line) for line in resumed.stderr.splitlines() if line.startswith("{")]
    first = next(i for i, e in enumerate(events) if "run_id" in e)
    last = next(i for i, e in enumerate(events) if e["event"] == "backfill_finished")
    run_ids = {e.get("run_id") for e in events[first : last + 1]}
    assert len(run_ids) == 1 and None not in run_ids, [
        e for e in events[first : last + 1] if not e.get("run_id")
    ]
    assert any(e["event"] == "backfill_date_finished" and e["as_of"] == TO for e in events)

    again = run_cli(ops_project, sb, "backfill", "nightly", "--from", FROM, "--to", TO)
    assert again.exit_code == 0 and "0 done now, 12 done earlier" in again.stdout
    assert len(_history(sb)) == sum(per_date)


def test_dry_run_scores_every_date_and_writes_nothing(ops_project, sandbox_factory):
    sb = sandbox_factory(accounts=ACCOUNTS, as_of=date(2025, 3, 15))
    sb.admin.reset_counters()
    result = run_cli(ops_project, sb, "backfill", "nightly", "--from", FROM, "--to", TO,
                     "--dry-run")  # fmt: skip
    assert result.exit_code == 0, result.stderr[-3000:]
    assert "dry run: nothing written" in result.stdout
    expected = sum(_scored_per_date(sb, backfill_dates(date(2024, 4, 1), date(2025, 3, 1))))
    assert f"would write  {expected:,} {HISTORY} records" in result.stdout
    assert _history(sb) == []
    assert sb.admin.counters()["records_written"] == 0
    import sqlite3

    with sqlite3.connect(ops_project.root / "state.db") as db:
        assert db.execute("select count(*) from score_snapshots").fetchone() == (0,)
        assert db.execute("select count(*) from backfill_progress").fetchone() == (0,)
        assert db.execute("select count(*) from runs").fetchone() == (0,)


def test_exit_codes_usage_and_lock(ops_project, sandbox):
    bad_date = run_cli(ops_project, sandbox, "backfill", "nightly", "--from", "2024-13-01",
                       "--to", TO)  # fmt: skip
    assert bad_date.exit_code == 2 and "is not a date" in bad_date.stderr
    reversed_range = run_cli(ops_project, sandbox, "backfill", "nightly", "--from", TO,
                             "--to", FROM)  # fmt: skip
    assert reversed_range.exit_code == 2 and "before --from" in reversed_range.stderr

    from sfsync.state.db import open_store
    from sfsync.state.lock import release, try_acquire

    store = open_store(ops_project.state_url)
    lock = try_acquire(store, "nightly", 600, holder="other-host:1")
    try:
        locked = run_cli(ops_project, sandbox, "backfill", "nightly", "--from", TO, "--to", TO)
        assert locked.exit_code == 4, locked.stderr[-2000:]
        assert "other-host:1" in locked.stderr
    finally:
        release(store, lock)
        store.dispose()


def test_row_failures_make_exit_code_three_and_the_date_runs_again():
    result = BackfillResult("nightly", "r", dry_run=False)
    result.dates = [DateOutcome(date(2025, 1, 1), "done"),
                    DateOutcome(date(2025, 2, 1), "failed", failures=["k: FIELD_X bad"])]  # fmt: skip
    assert result.exit_code == 3
    assert "2025-02-01: k: FIELD_X bad (runs again on resume)" in result.to_text()
    result.dates[1].status = "done"
    assert result.exit_code == 0
