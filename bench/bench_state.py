"""Benchmark the state store with a large book: snapshot upserts, previous scores, signals.

    python bench/bench_state.py [--accounts 100000] [--postgres]

Prints rows written and seconds per step for SQLite (and PostgreSQL with --postgres, on a
temporary database of the test server, SFSYNC_TEST_POSTGRES_URL).
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

from sfsync.state import (  # noqa: E402
    open_store,
    previous_scores,
    save_snapshots,
    start_run,
    sync_signals,
)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
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
