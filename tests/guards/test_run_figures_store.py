"""The guards' baseline in the state store: only finished, real runs count (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import date

from sfsync.state import runs
from sfsync.state.run_figures import last_good_figures, recent_figures, record_figures


def _run(store, as_of: date, status: str, *, dry_run: bool = False, rows: int = 100) -> int:
    run_id = runs.start_run(store, "nightly", as_of, dry_run=dry_run)
    record_figures(store, run_id, "nightly", as_of, "input:usage", {"role": "usage", "rows": rows})
    record_figures(store, run_id, "nightly", as_of, "output", {"rewrite_share": rows / 1000})
    runs.finish_run(store, run_id, status, counts={}, api_calls=0)
    return run_id


def test_the_baseline_is_the_last_finished_real_run(store):
    good = _run(store, date(2025, 3, 14), "succeeded", rows=100)
    _run(store, date(2025, 3, 15), "failed", rows=5)  # stopped by a guard: no baseline
    _run(store, date(2025, 3, 15), "succeeded", dry_run=True, rows=7)
    last = last_good_figures(store, "nightly", "input:usage")
    assert last is not None and last.run_id == good and last.figures["rows"] == 100
    assert "as of 2025-03-14" in last.label
    assert last_good_figures(store, "nightly", "input:usage", before_run=good) is None
    assert last_good_figures(store, "other-job", "input:usage") is None


def test_partial_runs_count_and_a_rerecord_replaces(store):
    run_id = _run(store, date(2025, 3, 14), "partial", rows=100)
    record_figures(store, run_id, "nightly", date(2025, 3, 14), "input:usage", {"rows": 90})
    assert last_good_figures(store, "nightly", "input:usage").figures == {"rows": 90}


def test_recent_runs_are_those_as_of_the_window(store):
    _run(store, date(2025, 1, 1), "succeeded", rows=1)
    inside = [_run(store, date(2025, 3, d), "succeeded", rows=d) for d in (1, 10)]
    _run(store, date(2025, 4, 1), "succeeded", rows=9)  # after the as-of date
    recent = recent_figures(store, "nightly", "output", date(2025, 3, 15), days=35)
    assert [r.run_id for r in recent] == inside
