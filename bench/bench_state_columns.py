"""Benchmark the state store's column-wise readers and writers against the row-by-row ones
they replaced (tests/perf/reference_state.py), in one process, on SQLite and PostgreSQL.

    python bench/bench_state_columns.py [--accounts 100000] [--no-postgres]

Builds a state as after a first night (snapshots of ``--accounts`` accounts, their signals in
the ledger), then times, old and new, each on its own copy of that state: ``previous_scores``
for the next night, ``save_snapshots`` of the next night with unchanged values (and a re-run of
that date), and ``sync_signals`` with unchanged signals. Prints CPU seconds of this process
(PostgreSQL's own work is on the server and not counted) and checks that both wrote the same.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench_state import NightlyBook  # noqa: E402

from sfsync.state import open_store  # noqa: E402
from sfsync.state.signals import sync_signals  # noqa: E402
from sfsync.state.snapshots import previous_scores, save_snapshots  # noqa: E402
from tests.fixtures.state import create_postgres_database, drop_postgres_database  # noqa: E402
from tests.perf import reference_state as reference  # noqa: E402

FIRST, NEXT = date(2025, 3, 1), date(2025, 3, 2)


def cpu(fn) -> tuple[float, object]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def first_night(url: str, scores, signals):
    store = open_store(url)
    save_snapshots(store, None, "default", FIRST, scores)
    sync_signals(store, FIRST, signals)
    return store


def run(label: str, urls: tuple[str, str], n: int) -> None:
    book = NightlyBook(n, change_share=0.0, churn_share=0.0)
    scores, signals = book.night()
    stores = {
        "old": first_night(urls[0], scores, signals),
        "new": first_night(urls[1], scores, signals),
    }
    impl = {
        "old": (reference.previous_scores, reference.save_snapshots, reference.sync_signals),
        "new": (previous_scores, save_snapshots, sync_signals),
    }
    print(f"{label}: {n:,} accounts, {len(signals):,} active signals (CPU seconds)")
    print(f"  {'step':<44}{'old':>8}{'new':>8}")
    steps = [
        ("previous_scores (next night)", lambda p, s, g, st: p(st, NEXT)),
        ("save_snapshots next night, unchanged", lambda p, s, g, st: s(st, None, "default", NEXT, scores)),
        ("save_snapshots same date again (re-run)", lambda p, s, g, st: s(st, None, "default", NEXT, scores)),
        ("sync_signals next night, unchanged", lambda p, s, g, st: g(st, NEXT, signals)),
    ]  # fmt: skip
    totals = {"old": 0.0, "new": 0.0}
    for name, step in steps:
        seconds, results = {}, {}
        for which in ("old", "new"):
            seconds[which], results[which] = cpu(lambda w=which, f=step: f(*impl[w], stores[w]))
            totals[which] += seconds[which]
        same = _same(results["old"], results["new"])
        print(f"  {name:<44}{seconds['old']:8.2f}{seconds['new']:8.2f}  {same}")
    print(f"  {'total':<44}{totals['old']:8.2f}{totals['new']:8.2f}")
    for store in stores.values():
        store.dispose()


def _same(old, new) -> str:
    if isinstance(old, int):
        return "same rows written" if old == new else f"DIFFERENT: {old} vs {new}"
    if hasattr(old, "equals"):
        return "same frame" if old.equals(new) else "DIFFERENT frame"
    equal = all(a.equals(b) for a, b in zip(old, new, strict=True))
    return "same changes" if equal else "DIFFERENT changes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = (f"sqlite:///{tmp}/old.db", f"sqlite:///{tmp}/new.db")
        run("sqlite", urls, args.accounts)
    if not args.no_postgres:
        urls = (create_postgres_database("sfsync_bench"), create_postgres_database("sfsync_bench"))
        try:
            run("postgresql", urls, args.accounts)
        finally:
            for url in urls:
                drop_postgres_database(url)


if __name__ == "__main__":
    main()
