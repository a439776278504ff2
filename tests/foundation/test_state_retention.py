"""State-store retention: the thinning rule (pure) and ``prune_state`` on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from sfsync.config import RetentionSettings
from sfsync.plan import PendingWrite
from sfsync.state import (
    active_signals,
    finish_run,
    quarantine_counts,
    record_quarantine,
    save_snapshots,
    snapshot_dates,
    start_run,
    sync_signals,
)
from sfsync.state.failures import (
    FailedWrite,
    pending_writes,
    record_failures,
    resolve_failures,
    write_failures,
)
from sfsync.state.history_periods import mark_period_written, period_written_on
from sfsync.state.prune import prune_state
from sfsync.state.run_figures import record_figures, run_figures
from sfsync.state.runs import runs
from sfsync.state.snapshots import (
    score_snapshot_dates,
    score_snapshots,
    scores_on_or_before,
)
from sfsync.state.thinning import ThinningRule, dates_to_delete, dates_to_keep, protected_days

TODAY = date(2025, 6, 30)  # a Monday


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# --- the rule (pure) -------------------------------------------------------------------------


def test_daily_then_weekly_then_monthly():
    dates = _days(date(2024, 1, 1), TODAY)
    rule = ThinningRule(daily_days=30, weekly_days=120)
    kept = dates_to_keep(dates, TODAY, rule)
    daily = {d for d in dates if (TODAY - d).days < 30}
    assert daily <= kept
    weekly = sorted(d for d in kept if 30 <= (TODAY - d).days < 120)
    # one per ISO week, the last day of the week (Sunday) when the whole week is there
    assert all(d.weekday() == 6 for d in weekly)
    assert len({d.isocalendar()[:2] for d in weekly}) == len(weekly)
    monthly = sorted(d for d in kept if (TODAY - d).days >= 120)
    assert len({(d.year, d.month) for d in monthly}) == len(monthly)
    assert monthly[0].month == 1 and monthly[0].year == 2024
    assert len(kept) < len(dates) / 5


def test_monthly_days_deletes_the_oldest():
    dates = _days(date(2023, 1, 1), TODAY)
    kept = dates_to_keep(dates, TODAY, ThinningRule(30, 120, monthly_days=365))
    assert min(kept) >= TODAY - timedelta(days=365)


def test_protected_window_wins_over_a_short_daily_window():
    dates = _days(date(2025, 1, 1), TODAY)
    rule = ThinningRule(daily_days=3, weekly_days=10, protect_days=protected_days([28], [35]))
    kept = dates_to_keep(dates, TODAY, rule)
    assert {d for d in dates if (TODAY - d).days <= 35} <= kept
    assert rule.effective_daily_days == 36


def test_protected_days_cover_the_trend_and_the_guard():
    assert protected_days([28], [35]) == 36
    assert protected_days([28, 60], [35]) == 67
    assert protected_days([], []) == 7


@settings(max_examples=60, deadline=None)
@given(
    present=st.sets(st.integers(0, 900), min_size=1, max_size=300),
    daily=st.integers(1, 60),
    extra_weekly=st.integers(0, 300),
    later=st.integers(0, 40),
)
def test_pruning_is_idempotent_and_keeps_the_trend_baseline(present, daily, extra_weekly, later):
    start = TODAY - timedelta(days=900)
    dates = {start + timedelta(days=i) for i in present}
    protect = protected_days([28], [35])
    rule = ThinningRule(daily, daily + extra_weekly, protect_days=protect)
    kept = dates_to_keep(dates, TODAY, rule)
    assert kept <= dates and dates_to_keep(kept, TODAY, rule) == kept  # idempotent
    # the trend baseline of a run in the next week is what it would be without pruning
    for ahead in range(0, 7):
        day = TODAY + timedelta(days=ahead) - timedelta(days=28)
        before = [d for d in dates if d <= day]
        after = [d for d in kept if d <= day]
        if before and (TODAY - max(before)).days < protect:
            assert max(after) == max(before)
    # pruning again later only removes more (never brings back), and stays idempotent
    later_day = TODAY + timedelta(days=later)
    again = dates_to_keep(kept, later_day, rule)
    assert again <= kept and dates_to_keep(again, later_day, rule) == again


def test_dates_to_delete_is_the_complement():
    dates = _days(date(2025, 1, 1), TODAY)
    rule = ThinningRule(10, 40)
    doomed = dates_to_delete(dates, TODAY, rule)
    assert doomed == sorted(set(dates) - dates_to_keep(dates, TODAY, rule))


def test_retention_settings_are_validated():
    with pytest.raises(ValueError, match="weekly_days"):
        RetentionSettings(daily_days=50, weekly_days=10)
    with pytest.raises(ValueError, match="monthly_days"):
        RetentionSettings(daily_days=10, weekly_days=100, monthly_days=50)
    assert RetentionSettings().auto_prune is True


# --- the store (SQLite and PostgreSQL) ----------------------------------------------------------


def _scores(n: int, score: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [f"001{i:015d}" for i in range(n)],
            "health_score": pd.array([score] * n, dtype="Int64"),
            "health_band": "green",
            "segment": "A",
        }
    )


def _night(store, as_of: date, status: str = "succeeded") -> int:
    run_id = start_run(store, "nightly", as_of)
    save_snapshots(store, run_id, "default", as_of, _scores(3, as_of.day))
    record_figures(store, run_id, "nightly", as_of, "output", {"scored": 3})
    finish_run(store, run_id, status)
    return run_id


def _snapshots(store, days: list[date]) -> None:
    """Three accounts' snapshots on each of ``days``, each date's score unlike any other's, so
    that every date stores a row per account (written in two statements: fast)."""
    rows = [
        {"scorecard": "default", "account_id": f"001{i:015d}", "as_of": d,
         "health_score": d.toordinal() % 100_000, "health_band": "green",
         "category_points": "{}", "gone": False}
        for d in days
        for i in range(3)
    ]  # fmt: skip
    with store.begin() as conn:
        conn.execute(score_snapshots.insert(), rows)
        conn.execute(
            score_snapshot_dates.insert(),
            [{"scorecard": "default", "as_of": d, "accounts": 3} for d in days],
        )


def _count(store, table) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_prune_thins_snapshots_and_prunes_ledgers(store):
    first = date(2024, 10, 1)
    nights = _days(first, TODAY)
    _snapshots(store, nights)
    run_days = nights[::10]  # the ledgers of every tenth night are enough to judge them
    run_ids = [_night(store, d) for d in run_days]
    old_run = run_ids[0]
    record_quarantine(store, old_run, "usage", pd.DataFrame({"tenant_id": ["t1"], "reason": ["x"]}))
    record_failures(
        store, old_run, [FailedWrite("Account", "001A", ("Health_Score__c",), "E", "m")]
    )
    record_failures(
        store, old_run, [FailedWrite("Account", "001B", ("Health_Score__c",), "E", "m")]
    )
    resolve_failures(store, old_run, [("Account", "001A")])
    with store.begin() as conn:  # resolved long ago
        conn.execute(update(write_failures).values(resolved_at=datetime(2024, 10, 2)).where(
            write_failures.c.record_key == "001A"))  # fmt: skip
    mark_period_written(store, "nightly", "2024-W40", first, old_run, 3)
    signal = pd.DataFrame({"account_id": ["001A"], "code": ["red_band"], "kind": ["churn"],
                           "severity": ["high"]})  # fmt: skip
    sync_signals(store, first, signal)  # active, then cleared long ago
    sync_signals(store, first + timedelta(days=1), signal.iloc[0:0])
    sync_signals(store, TODAY, signal.assign(account_id="001B"))  # active now: stays
    baseline_before = scores_on_or_before(store, "default", TODAY - timedelta(days=28))
    settings_ = RetentionSettings(daily_days=10, weekly_days=60, ledger_days=90)
    protect = protected_days([28], [35])

    dry = prune_state(store, TODAY, settings_, protect_days=protect, dry_run=True)
    assert _count(store, runs) == len(run_days)  # a dry run deletes nothing
    assert dry.deleted["score_snapshots"] > 0 and "would delete" in dry.to_text()

    report = prune_state(store, TODAY, settings_, protect_days=protect)
    assert report.deleted == dry.deleted  # the dry run counted exactly what goes
    kept = snapshot_dates(store, "default")
    rule_kept = dates_to_keep(nights, TODAY, ThinningRule(10, 60, protect_days=protect))
    assert set(kept) == rule_kept
    assert report.deleted["score_snapshots"] == 3 * (len(nights) - len(kept))
    # the trend baseline of today's run is untouched
    baseline_after = scores_on_or_before(store, "default", TODAY - timedelta(days=28))
    pd.testing.assert_frame_equal(baseline_before, baseline_after)
    # ledgers: nothing younger than 90 days deleted, everything older gone
    cutoff = TODAY - timedelta(days=90)
    with store.connect() as conn:
        oldest_run = conn.execute(select(func.min(runs.c.as_of))).scalar_one()
        oldest_figures = conn.execute(select(func.min(run_figures.c.as_of))).scalar_one()
    young = [d for d in run_days if d >= cutoff]
    assert oldest_run == min(young) and oldest_figures == min(young)
    assert report.deleted["runs"] == len(run_days) - len(young)
    assert quarantine_counts(store, old_run) == {}
    # the pending failure stays (the next run retries it); the resolved one is gone
    assert pending_writes(store) == [PendingWrite("Account", "001B", ("Health_Score__c",))]
    assert report.deleted["write_failures"] == 1
    assert period_written_on(store, "nightly", "2024-W40") is None
    assert report.deleted["signal_ledger"] == 1
    assert list(active_signals(store)["account_id"]) == ["001B"]
    # pruning again deletes nothing
    again = prune_state(store, TODAY, settings_, protect_days=protect)
    assert again.total == 0 and "nothing to prune" in again.to_text()


def test_prune_keeps_each_jobs_latest_good_run(store):
    old = date(2024, 1, 10)
    good = _night(store, old)
    _night(store, old + timedelta(days=1), status="failed")
    report = prune_state(store, TODAY, RetentionSettings(ledger_days=30), protect_days=36)
    with store.connect() as conn:
        left = conn.execute(select(runs.c.id)).scalars().all()
        figures = conn.execute(select(run_figures.c.run_id)).scalars().all()
    assert left == [good] and figures == [good]  # the input guard's baseline stays
    assert report.deleted["runs"] == 1
    # its snapshot is kept monthly; the deleted run's snapshot lost its run id, not its row
    assert snapshot_dates(store, "default") == [old + timedelta(days=1)]
