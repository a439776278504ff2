"""Benchmark the state store with a large book: snapshot saves, previous scores, signals,
and the store's growth per nightly run with retention.

    python bench/bench_state.py [--accounts 100000] [--postgres]
    python bench/bench_state.py --growth [--accounts 10000] [--nights 30] [--steady] [--postgres]

Prints rows written and seconds per step for SQLite (and PostgreSQL with --postgres, on a
temporary database of the test server, SFSYNC_TEST_POSTGRES_URL).

``--growth`` measures the store per nightly run with the default retention (``retention:`` of
sfsync.yaml, pruning after every run): a first run, then ``--nights`` nights of a book that
moves like a real one (:class:`NightlyBook`: 1 % of the scores move a night, their points and
trends with them, 0.05 % of the accounts churn and as many start), each night saving the
snapshot, syncing the signals, recording the run and its guard figures and pruning. It prints
the bytes per night (SQLite: the file after a WAL checkpoint; PostgreSQL: the tables after a
plain VACUUM) and which tables grew. ``--steady`` also starts from a store that already holds
what retention keeps after 500 nights (filled with the kept dates, then pruned once).

``--growth --real`` runs the real nightly job against the practice org instead
(``bench/bench_nightly.py``'s runner), the usage unchanged one night and ``--change-share`` of
the tenants changed the next, and prints the store (SQLite) after each run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1]))

from sfsync.config import RetentionSettings  # noqa: E402
from sfsync.log import configure_logging  # noqa: E402
from sfsync.state import (  # noqa: E402
    finish_run,
    history,
    open_store,
    previous_scores,
    save_snapshots,
    start_run,
    sync_signals,
)
from sfsync.state.prune import prune_state, thinning_rule  # noqa: E402
from sfsync.state.run_figures import record_figures  # noqa: E402
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
    for day, book_day in ((1, 1), (2, 2), (3, 2)):  # day 3: day 2's book, unchanged
        as_of = date(2025, 3, day)
        scores, signals = book(n, 7, book_day)
        run_id = start_run(store, "bench", as_of)
        label = f"save_snapshots day {day}" + (" (unchanged)" if day == 3 else "")
        rows = timed(label, lambda: save_snapshots(  # noqa: B023
            store, run_id, "default", as_of, scores))  # noqa: B023  # fmt: skip
        prev = timed(f"previous_scores before day {day + 1}",
                     lambda: previous_scores(store, date(2025, 3, day + 1)))  # noqa: B023  # fmt: skip
        changes = timed(f"sync_signals day {day}",
                        lambda: sync_signals(store, as_of, signals))  # noqa: B023  # fmt: skip
        print(f"    rows written {rows:,}; previous scores {len(prev):,}; signals new "
              f"{len(changes.new):,}, still active {len(changes.still_active):,}, cleared "
              f"{len(changes.cleared):,}")  # fmt: skip
    resave, _ = book(n, 7, 1)
    timed("save_snapshots day 2 again (a re-run)", lambda: save_snapshots(
        store, None, "default", date(2025, 3, 2), resave))  # fmt: skip
    timed("history of the 3 days", lambda: history(store, date(2025, 3, 1), date(2025, 3, 3)))
    store.dispose()


class NightlyBook:
    """A book that moves like a real one from night to night: each night ``change_share`` of
    the accounts get a new score (with new category and per-measure points), ``churn_share``
    stop being scored and as many new accounts start; the trend is the score against the
    score ``TREND_NIGHTS`` nights before (so it moves when either does). Everything else stays.
    """

    TREND_NIGHTS = 28

    def __init__(self, n: int, seed: int = 11, change_share: float = 0.01,
                 churn_share: float = 0.0005) -> None:  # fmt: skip
        self.rng = np.random.default_rng(seed)
        self.n, self.change_share, self.churn_share = n, change_share, churn_share
        reserve = n + int(n * churn_share * 400) + 10  # ids for the accounts that start later
        self.ids = np.array([f"001{i:015d}" for i in range(reserve)], dtype=object)
        self.active = np.zeros(reserve, dtype=bool)
        self.active[:n] = True
        self.next_new = n
        self.score = np.zeros(reserve, dtype=np.int64)
        self.categories = np.zeros((reserve, 4))
        self.measures = np.array([""] * reserve, dtype=object)
        self.segment = self.rng.choice(list("SABC"), reserve)
        self.arr = self.rng.integers(1, 500, reserve) * 12_000.0
        self._move(np.arange(reserve))
        self.scores_before: list[np.ndarray] = []

    def _move(self, rows: np.ndarray) -> None:
        self.categories[rows] = np.column_stack(
            [self.rng.integers(0, top + 1, len(rows)) for top in (40, 30, 20, 10)]
        ).astype(float)
        self.score[rows] = self.categories[rows].sum(axis=1).astype(np.int64)
        points = self.rng.integers(0, 16, (len(rows), len(MEASURES))).astype(float)
        frame = pd.DataFrame(points, columns=list(MEASURES))
        self.measures[rows] = frame.to_json(orient="records", lines=True).splitlines()

    def night(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The next night's scores (as a run stores them) and signals."""
        if self.scores_before:  # the first night is the book as it is
            live = np.flatnonzero(self.active)
            self._move(live[self.rng.random(len(live)) < self.change_share])
            leaving = live[self.rng.random(len(live)) < self.churn_share]
            self.active[leaving] = False
            joining = np.arange(self.next_new, min(self.next_new + len(leaving), len(self.ids)))
            self.active[joining] = True
            self.next_new += len(joining)
        self.scores_before.append(self.score.copy())
        base = self.scores_before[max(0, len(self.scores_before) - 1 - self.TREND_NIGHTS)]
        rows = np.flatnonzero(self.active)
        score = self.score[rows]
        band = np.where(score >= 80, "green", np.where(score >= 40, "yellow", "red"))
        scores = pd.DataFrame(
            {
                "account_id": self.ids[rows],
                "health_score": pd.array(score, dtype="Int64"),
                "health_band": band,
                "health_trend": score - base[rows],
                **{f"{c}_points": self.categories[rows, i]
                   for i, c in enumerate(("usage", "engagement", "outcome", "contract"))},
                "segment": self.segment[rows],
                "lifecycle_phase": "adoption",
                "signals": np.where(band == "red", "red_band", ""),
                "owner_id": "005000000000001AAA",
                "measure_points": self.measures[rows],
                "arr": self.arr[rows],
            }
        )  # fmt: skip
        red = scores["health_band"] == "red"
        signals = pd.DataFrame({"account_id": scores.loc[red, "account_id"], "code": "red_band",
                                "kind": "churn", "severity": "high"})  # fmt: skip
        return scores, signals


class Sizes:
    """Bytes per table of a state store (SQLite: dbstat after a WAL checkpoint; PostgreSQL:
    pg_total_relation_size after a plain VACUUM, which autovacuum does in production)."""

    def __init__(self, store) -> None:
        self.store = store

    def tables(self) -> dict[str, int]:
        if self.store.dialect == "sqlite":
            return _sqlite_tables(Path(self.store.engine.url.database))
        with self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
            rows = conn.exec_driver_sql(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            ).all()
        return {str(name): int(size) for name, size in rows}

    def total(self) -> int:
        if self.store.dialect == "sqlite":
            path = Path(self.store.engine.url.database)
            self.tables()  # checkpoint
            return path.stat().st_size
        return sum(self.tables().values())


def night(store, book: NightlyBook, as_of: date, *, prune: RetentionSettings | None,
          protect: int) -> int:  # fmt: skip
    """One nightly run's state-store writes; returns the snapshot rows written."""
    scores, signals = book.night()
    run_id = start_run(store, "nightly", as_of)
    rows = save_snapshots(store, run_id, "default", as_of, scores)
    sync_signals(store, as_of, signals)
    record_figures(store, run_id, "nightly", as_of, "output",
                   {"scored": len(scores), "accounts_changed": rows})  # fmt: skip
    finish_run(store, run_id, "succeeded", counts={"scored": len(scores)})
    if prune is not None:
        prune_state(store, as_of, prune, protect_days=protect)
    return rows


def _growth_table(before: dict[str, int], after: dict[str, int], nights: int) -> None:
    grown = {t: after.get(t, 0) - before.get(t, 0) for t in set(before) | set(after)}
    for table, delta in sorted(grown.items(), key=lambda kv: -abs(kv[1])):
        if delta:
            print(f"      {table:<22} {delta / nights / 1e3:+9.1f} kB per night")


def growth(url: str, n: int, nights: int, change_share: float) -> None:
    """Bytes per nightly run from a fresh store and in steady state, with the default
    retention pruning after every run."""
    settings = RetentionSettings()
    protect = protected_days([28], [35])
    store = open_store(url)
    sizes = Sizes(store)
    book = NightlyBook(n, change_share=change_share)
    start = date(2024, 1, 1)
    empty = sizes.total()
    first_rows = night(store, book, start, prune=settings, protect=protect)
    after_first = sizes.total()
    tables_first = sizes.tables()
    steps, written = [], []
    previous = after_first
    for i in range(1, nights + 1):
        written.append(night(store, book, start + timedelta(days=i), prune=settings,
                             protect=protect))  # fmt: skip
        now = sizes.total()
        steps.append(now - previous)
        previous = now
    print(f"{store.dialect}, {n:,} accounts, {change_share:.1%} of the scores moving a night, "
          f"{book.churn_share:.2%} churning and as many new")  # fmt: skip
    print(f"  first run: {first_rows:,} snapshot rows, store {empty / 1e6:.2f} -> "
          f"{after_first / 1e6:.2f} MB")  # fmt: skip
    print(f"  next {nights} nights: {np.mean(written):,.0f} snapshot rows a night on average; "
          f"store {after_first / 1e6:.2f} -> {previous / 1e6:.2f} MB, "
          f"+{(previous - after_first) / nights / 1e6:.3f} MB per nightly run on average "
          f"(largest single night +{max(steps) / 1e6:.3f} MB)")  # fmt: skip
    _growth_table(tables_first, sizes.tables(), nights)
    store.dispose()


def steady_growth(url: str, n: int, nights: int, change_share: float) -> None:
    """Growth per night once retention has reached its steady state: the store holds the
    snapshot dates the default retention keeps after 500 nights, then ``nights`` more."""
    settings = RetentionSettings()
    protect = protected_days([28], [35])
    store = open_store(url)
    sizes = Sizes(store)
    book = NightlyBook(n, change_share=change_share)
    history_start = date(2024, 1, 1)
    today = history_start + timedelta(days=500)
    every_day = [history_start + timedelta(days=i) for i in range(501)]
    kept = sorted(dates_to_keep(every_day, today, thinning_rule(settings, protect)))
    t0 = time.perf_counter()
    for day in kept:
        night(store, book, day, prune=None, protect=protect)
    # the ledgers as nightly pruning would have left them (the old runs gone, their snapshot
    # rows' run ids cleared), so that the nights measured do not pay for 500 nights at once
    prune_state(store, today, settings, protect_days=protect)
    filled = sizes.total()
    tables_filled = sizes.tables()
    print(f"  steady state: {len(kept)} snapshot dates kept after 500 nights, "
          f"{filled / 1e6:.1f} MB (filled in {time.perf_counter() - t0:.0f} s)")  # fmt: skip
    for i in range(1, nights + 1):
        night(store, book, today + timedelta(days=i), prune=settings, protect=protect)
    after = sizes.total()
    print(f"  {nights} more nights with retention: {filled / 1e6:.2f} -> {after / 1e6:.2f} MB, "
          f"+{(after - filled) / nights / 1e6:.3f} MB per nightly run on average")  # fmt: skip
    _growth_table(tables_filled, sizes.tables(), nights)
    store.dispose()


def _sqlite_tables(path: Path) -> dict[str, int]:
    """Bytes per table (indexes included) of an SQLite state store, after a WAL checkpoint."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = conn.execute(
            "SELECT coalesce(tbl_name, d.name), sum(pgsize) FROM dbstat d "
            "LEFT JOIN sqlite_schema s ON s.name = d.name GROUP BY 1"
        ).fetchall()
    finally:
        conn.close()
    return {str(name): int(size) for name, size in rows}


def _snapshot_rows(path: Path, as_of: date) -> int:
    """The snapshot rows (changes and tombstones) stored as of ``as_of``."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        query = "SELECT count(*) FROM score_snapshots WHERE as_of = ?"
        return int(conn.execute(query, (as_of.isoformat(),)).fetchone()[0])
    finally:
        conn.close()


def real_nights(n: int, nights: int, change_share: float) -> None:
    """The real nightly job (``sfsync run nightly`` in a child process, as
    ``bench/bench_nightly.py`` runs it) against the practice org, night after night: the usage
    unchanged on odd nights, ``change_share`` of the tenants changed on even ones. Prints the
    state store (SQLite) after each run and which tables grew."""
    from bench_nightly import FIRST, carry_usage_forward, change_usage, run_night
    from sfsync_sandbox import Sandbox

    from sfsync.calendar import month_text, scoring_month
    from tests.cli_process import make_project

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        make_project(project)
        state = project / ".sfsync" / "state.db"
        with Sandbox(data_dir=Path(tmp) / "org", accounts=n, seed=7, as_of=FIRST) as sb:
            env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
            env.update(sb.env())
            env.pop("SFSYNC_SLACK_TOKEN", None)
            env.pop("SFSYNC_SLACK_BASE_URL", None)
            print(f"the nightly job against the practice org: {n:,} accounts, Slack off")
            tables: list[dict[str, int]] = []
            totals: list[int] = []
            for i in range(nights + 1):
                as_of = FIRST + timedelta(days=i)
                carry_usage_forward(sb, month_text(as_of))
                label = "first run" if i == 0 else "unchanged"
                if i and i % 2 == 0:
                    tenants = change_usage(sb, month_text(scoring_month(as_of)), change_share)
                    label = f"{tenants} tenants changed"
                phase = run_night(sb, project, env, label, as_of)
                tables.append(_sqlite_tables(state))
                totals.append(total := state.stat().st_size)
                grown = total - (totals[-2] if i else 0)
                stored = _snapshot_rows(state, as_of)
                print(f"  {as_of} {label:<22} Accounts written {phase.accounts_written:>6,}  "
                      f"snapshot rows {stored:>6,}  state {total / 1e6:6.2f} MB "
                      f"({grown / 1e6:+.3f} MB)", flush=True)  # fmt: skip
    if nights:
        first, last = totals[0], totals[-1]
        print(f"  after the first run: +{(last - first) / nights / 1e6:.3f} MB per nightly run "
              f"on average over {nights} nights")  # fmt: skip
        _growth_table(tables[0], tables[-1], nights)


def _growth_urls(postgres: bool):
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/state.db"
    if postgres:
        from tests.fixtures.state import create_postgres_database, drop_postgres_database

        url = create_postgres_database("sfsync_bench_state")
        try:
            yield url
        finally:
            drop_postgres_database(url)


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
    parser.add_argument(
        "--change-share",
        type=float,
        default=0.01,
        help="--growth: share of the accounts whose score moves each night",
    )
    parser.add_argument(
        "--steady",
        action="store_true",
        help="--growth: also the steady state of retention (500 nights)",
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="--growth: the real nightly job against the practice org instead",
    )
    args = parser.parse_args()
    configure_logging("console")  # warnings only: the figures are the output
    if args.growth and args.real:
        real_nights(args.accounts if args.accounts != 100_000 else 10_000, args.nights,
                    args.change_share)  # fmt: skip
        return
    if args.growth:
        n = args.accounts if args.accounts != 100_000 else 10_000
        for url in _growth_urls(args.postgres):
            growth(url, n, args.nights, args.change_share)
        if args.steady:
            for url in _growth_urls(args.postgres):
                steady_growth(url, n, args.nights, args.change_share)
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
