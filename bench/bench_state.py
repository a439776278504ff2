"""Benchmark the state store with a large book: snapshot upserts, previous scores, signals,
and the store's growth per nightly run with retention.

    python bench/bench_state.py [--accounts 100000] [--postgres]
    python bench/bench_state.py --growth [--accounts 10000] [--nights 30]

Prints rows written and seconds per step for SQLite (and PostgreSQL with --postgres, on a
temporary database of the test server, SFSYNC_TEST_POSTGRES_URL).

``--growth`` measures the SQLite file per nightly run (bytes after a WAL checkpoint): first
without retention, then in steady state with the default retention (sfsync.yaml
``retention:``): the store is filled with the snapshot dates retention keeps after 500 nights
(every day of the daily window, one per week, one per month), then ``--nights`` more nights
each save a snapshot of every account (with per-measure points, like a real run), record the
run and its signals, and prune (the automatic step of a successful run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1]))

from sfsync.config import RetentionSettings  # noqa: E402
from sfsync.state import (  # noqa: E402
    finish_run,
    open_store,
    previous_scores,
    save_snapshots,
    start_run,
    sync_signals,
)
from sfsync.state.prune import prune_state, thinning_rule  # noqa: E402
from sfsync.state.thinning import dates_to_keep, protected_days  # noqa: E402

MEASURES = ("deliveries", "login_days", "plan_ratio", "last_login", "touches", "qbr",
            "onboarding", "nps", "renewal", "contract_age")  # fmt: skip


def book(n: int, seed: int, day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed + day)
    ids = [f"001{i:015d}" for i in range(n)]
    score = rng.integers(0, 101, n)
    scores = pd.DataFrame(
        {
            "account_id": ids,
            "health_score": pd.array(score, dtype="Int64"),
            "health_band": np.where(score >= 80, "green", np.where(score >= 40, "yellow", "red")),
            "usage_points": rng.integers(0, 41, n).astype(float),
            "engagement_points": rng.integers(0, 31, n).astype(float),
            "outcome_points": rng.integers(0, 21, n).astype(float),
            "contract_points": rng.integers(0, 11, n).astype(float),
            "segment": rng.choice(list("SABC"), n),
            "lifecycle_phase": "adoption",
            "signals": "",
            "owner_id": "005000000000001AAA",
        }
    )
    flagged = rng.random(n) < 0.3
    signals = pd.DataFrame(
        {
            "account_id": np.array(ids)[flagged],
            "code": "red_band",
            "kind": "churn",
            "severity": "high",
        }  # fmt: skip
    )
    return scores, signals


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"  {label:<34} {time.perf_counter() - start:7.2f} s")
    return result


def run(url: str, n: int) -> None:
    store = open_store(url)
    print(f"{store.dialect}: {n:,} accounts")
    for day in (1, 2):
        as_of = date(2025, 3, day)
        scores, signals = book(n, 7, day)
        run_id = start_run(store, "bench", as_of)
        rows = timed(f"save_snapshots day {day}", lambda: save_snapshots(  # noqa: B023
            store, run_id, "default", as_of, scores))  # noqa: B023  # fmt: skip
        prev = timed(f"previous_scores before day {day + 1}",
                     lambda: previous_scores(store, date(2025, 3, day + 1)))  # noqa: B023  # fmt: skip
        changes = timed(f"sync_signals day {day}",
                        lambda: sync_signals(store, as_of, signals))  # noqa: B023  # fmt: skip
        print(f"    rows written {rows:,}; previous scores {len(prev):,}; signals new "
              f"{len(changes.new):,}, still active {len(changes.still_active):,}, cleared "
              f"{len(changes.cleared):,}")  # fmt: skip
    resave, _ = book(n, 7, 2)
    timed("save_snapshots again (upsert)", lambda: save_snapshots(store, None, "default",
                                                                   date(2025, 3, 2), resave))  # fmt: skip
    store.dispose()


def nightly_scores(n: int, night: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One night's snapshot as a real run stores it: scores plus per-measure points (JSON).
    The book is the same every night but for 1 % of the accounts (a normal night)."""
    scores, _ = book(n, 11, 0)
    rng = np.random.default_rng(night)
    moved = rng.random(n) < 0.01
    score = scores["health_score"].to_numpy(dtype=float)
    score[moved] = rng.integers(0, 101, int(moved.sum()))
    scores["health_score"] = pd.array(score.astype(int), dtype="Int64")
    scores["health_band"] = np.where(score >= 80, "green", np.where(score >= 40, "yellow", "red"))
    red = scores["health_band"] == "red"
    signals = pd.DataFrame({"account_id": scores.loc[red, "account_id"], "code": "red_band",
                            "kind": "churn", "severity": "high"})  # fmt: skip
    points = rng.integers(0, 16, (n, len(MEASURES))).astype(float)
    frame = pd.DataFrame(points, columns=list(MEASURES))
    scores["measure_points"] = frame.to_json(orient="records", lines=True).splitlines()
    scores["health_trend"] = rng.integers(-20, 21, n)
    return scores, signals


def store_bytes(store, path: Path) -> int:
    """The SQLite file size after folding the WAL into it."""
    with store.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def night(store, n: int, as_of: date, index: int, *, prune: RetentionSettings | None,
          protect: int) -> None:  # fmt: skip
    scores, signals = nightly_scores(n, index)
    run_id = start_run(store, "nightly", as_of)
    save_snapshots(store, run_id, "default", as_of, scores)
    sync_signals(store, as_of, signals)
    finish_run(store, run_id, "succeeded", counts={"scored": n})
    if prune is not None:
        prune_state(store, as_of, prune, protect_days=protect)


def growth(n: int, nights: int) -> None:
    """Bytes per nightly run without retention and in steady state with it (SQLite)."""
    from datetime import timedelta

    settings = RetentionSettings()
    protect = protected_days([28], [35])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        store = open_store(f"sqlite:///{path}")
        start = date(2024, 1, 1)
        night(store, n, start, 0, prune=None, protect=protect)
        first = store_bytes(store, path)
        night(store, n, start + timedelta(days=1), 1, prune=None, protect=protect)
        without = store_bytes(store, path) - first
        store.dispose()
    print(f"SQLite, {n:,} accounts: without retention +{without / 1e6:.2f} MB per nightly run")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        store = open_store(f"sqlite:///{path}")
        history_start = date(2024, 1, 1)
        today = history_start + timedelta(days=500)
        every_day = [history_start + timedelta(days=i) for i in range(501)]
        kept = sorted(dates_to_keep(every_day, today, thinning_rule(settings, protect)))
        t0 = time.perf_counter()
        for i, day in enumerate(kept):
            night(store, n, day, 1000 + i, prune=None, protect=protect)
        filled = store_bytes(store, path)
        print(f"  steady state: {len(kept)} snapshot dates kept after 500 nights "
              f"({len(kept) * n:,} rows, {filled / 1e6:.1f} MB; filled in "
              f"{time.perf_counter() - t0:.0f} s)")  # fmt: skip
        sizes = [filled]
        for i in range(1, nights + 1):
            night(store, n, today + timedelta(days=i), 2000 + i, prune=settings, protect=protect)
            sizes.append(store_bytes(store, path))
        store.dispose()
    per_run = (sizes[-1] - sizes[0]) / nights
    steps = [b - a for a, b in zip(sizes, sizes[1:], strict=False)]
    print(f"  {nights} more nights with retention: {sizes[0] / 1e6:.1f} MB -> "
          f"{sizes[-1] / 1e6:.1f} MB, +{per_run / 1e6:.3f} MB per nightly run on average "
          f"(largest single night +{max(steps) / 1e6:.2f} MB)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--growth",
        action="store_true",
        help="state-store growth per nightly run, with and without retention",
    )
    parser.add_argument("--nights", type=int, default=30)
    args = parser.parse_args()
    if args.growth:
        growth(args.accounts if args.accounts != 100_000 else 10_000, args.nights)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/state.db", args.accounts)
    if args.postgres:
        from tests.fixtures.state import create_postgres_database, drop_postgres_database

        url = create_postgres_database("sfsync_bench_state")
        try:
            run(url, args.accounts)
        finally:
            drop_postgres_database(url)


if __name__ == "__main__":
    main()
