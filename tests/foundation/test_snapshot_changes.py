"""Score snapshots stored as changes answer exactly as a row per account and date did.

The oracle is the storage sfsync had before (``FullSnapshots``: every saved row kept under its
date, saving again upserts per account, thinning deletes whole dates) with the readers' old
semantics, in plain Python. Sequences of saves (any date order: nightly runs, re-runs,
backfills), accounts disappearing and coming back, and removed dates are applied to both; every
reader must give the same frame. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfsync.config import RetentionSettings
from sfsync.state import db as state_db
from sfsync.state import history, open_store, previous_scores, save_snapshots, snapshot_dates
from sfsync.state.prune import prune_state
from sfsync.state.snapshot_changes import VALUE_COLUMNS
from sfsync.state.snapshot_upkeep import remove_dates
from sfsync.state.snapshots import (
    READ_COLUMNS,
    _frame,
    score_snapshot_dates,
    score_snapshots,
    scores_on_or_before,
    stored_values,
)
from sfsync.state.thinning import doomed_spans

FIRST = date(2025, 3, 1)
DAYS = 10
ACCOUNTS = [f"001{i:015d}" for i in range(4)]
CARDS = ["default", "other"]


class FullSnapshots:
    """The oracle: one row per account and date (the store before change rows), and how many
    change rows that makes."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, date], dict[str, tuple]] = {}

    def save(self, card: str, day: date, scores: pd.DataFrame) -> None:
        values = stored_values(scores)
        if values.empty:
            return
        stored = self.rows.setdefault((card, day), {})
        for account, row in zip(values.index, values.itertuples(index=False), strict=True):
            stored[account] = tuple(row)

    def remove(self, card: str, days: list[date]) -> None:
        for day in days:
            self.rows.pop((card, day), None)

    def change_rows(self) -> int:
        """How many rows the change storage needs: per account, a row where its snapshot
        differs from the previous date's, and a tombstone where it stops having one."""
        total = 0
        for card in {c for c, _ in self.rows}:
            last: dict[str, tuple | None] = {}
            for day in self.dates(card):
                today = self.rows[(card, day)]
                for account in set(last) | set(today):
                    now = today.get(account)
                    if now != last.get(account):
                        total += 1
                    last[account] = now
        return total

    def dates(self, card: str) -> list[date]:
        return sorted(day for c, day in self.rows if c == card)

    def _raw(self, found: list[tuple[str, date, str, tuple]], measure: bool) -> pd.DataFrame:
        records = []
        for account, day, card, values in found:
            v = dict(zip(VALUE_COLUMNS, values, strict=True))
            row = {"account_id": account, "as_of": day, "scorecard": card, **v}
            records.append([row[c] for c in READ_COLUMNS] + ([v["measure_points"]] * measure))
        columns = [*READ_COLUMNS, *(["measure_points"] if measure else [])]
        return _frame(pd.DataFrame(records, columns=columns))

    def latest(self, card: str, day: date, *, inclusive: bool) -> pd.DataFrame:
        best: dict[str, tuple[date, tuple]] = {}
        for d in self.dates(card):
            if d < day or (inclusive and d == day):
                for account, values in self.rows[(card, d)].items():
                    best[account] = (d, values)
        found = [(a, d, card, v) for a, (d, v) in sorted(best.items())]
        return self._raw(found, measure=False)

    def history(self, first: date, last: date, card: str | None, ids, measure: bool):
        found = [
            (account, d, c, values)
            for (c, d), rows in self.rows.items()
            if first <= d <= last and card in (None, c)
            for account, values in rows.items()
            if ids is None or account in ids
        ]
        found.sort(key=lambda r: (r[0], r[1], r[2]))
        return self._raw(found, measure)


values = st.fixed_dictionaries(
    {
        "health_score": st.sampled_from([None, 10, 20]),
        "health_band": st.sampled_from([None, "red", "green"]),
        "usage_points": st.sampled_from([np.nan, 1.0, 2.5]),
        "arr": st.sampled_from([np.nan, 100.0]),
        "measure_points": st.sampled_from([None, '{"a": 1.0}']),
        "main_contact_id": st.sampled_from([None, "003A"]),
    }
)
saves = st.tuples(
    st.just("save"),
    st.sampled_from(CARDS),
    st.integers(0, DAYS - 1),
    st.dictionaries(st.sampled_from(ACCOUNTS), values, max_size=len(ACCOUNTS)),
)
removals = st.tuples(st.just("remove"), st.sampled_from(CARDS), st.sets(st.integers(0, DAYS - 1)))
operations = st.lists(st.one_of(saves, saves, saves, removals), min_size=1, max_size=14)


def _scores(snapshot: dict[str, dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{"account_id": a, **v} for a, v in snapshot.items()])
    if frame.empty:
        return pd.DataFrame({"account_id": pd.Series(dtype="object")})
    frame["health_score"] = pd.array(frame["health_score"], dtype="Int64")
    return frame


def _apply(store, oracle: FullSnapshots, operation) -> None:
    kind, card, *rest = operation
    if kind == "save":
        day, snapshot = FIRST + timedelta(days=rest[0]), rest[1]
        save_snapshots(store, None, card, day, _scores(snapshot))
        oracle.save(card, day, _scores(snapshot))
        return
    doomed = sorted(FIRST + timedelta(days=i) for i in rest[0])
    doomed = [d for d in doomed if d in set(oracle.dates(card))]
    with store.begin() as conn:
        remove_dates(conn, card, doomed)
    oracle.remove(card, doomed)


def _check_history(store, oracle: FullSnapshots, first: date, last: date, **kw) -> None:
    card, ids = kw.get("scorecard"), kw.get("account_ids")
    got = history(store, first, last, with_measure_points=True, **kw)
    pd.testing.assert_frame_equal(got, oracle.history(first, last, card, ids, True))


def _check_everything(store, oracle: FullSnapshots, days: set[int] | None = None) -> None:
    """Every reader against the oracle (the latest-snapshot readers on ``days``, default
    every day)."""
    last = FIRST + timedelta(days=DAYS)
    for card in CARDS:
        assert snapshot_dates(store, card) == oracle.dates(card)
        for i in sorted(range(DAYS + 1) if days is None else days):
            day = FIRST + timedelta(days=i)
            pd.testing.assert_frame_equal(
                previous_scores(store, day, card), oracle.latest(card, day, inclusive=False)
            )
            pd.testing.assert_frame_equal(
                scores_on_or_before(store, card, day), oracle.latest(card, day, inclusive=True)
            )
        _check_history(store, oracle, FIRST + timedelta(days=3), FIRST + timedelta(days=6),
                       scorecard=card, account_ids=ACCOUNTS[1:3])  # fmt: skip
    _check_history(store, oracle, FIRST, last)
    _check_history(store, oracle, FIRST + timedelta(days=5), last, scorecard="default")


def _clear(store) -> None:
    with store.begin() as conn:
        conn.execute(score_snapshots.delete())
        conn.execute(score_snapshot_dates.delete())


def _equivalence(store, steps, days: set[int]) -> None:
    """Apply ``steps`` to the store and the oracle; after each, every snapshot (history) must
    match; at the end every reader."""
    _clear(store)
    oracle = FullSnapshots()
    for operation in steps:
        _apply(store, oracle, operation)
        _check_history(store, oracle, FIRST, FIRST + timedelta(days=DAYS))
        assert _rows(store) == oracle.change_rows()  # only changes are stored, none twice
    _check_everything(store, oracle, days)


checked_days = st.sets(st.integers(0, DAYS), min_size=1, max_size=3)
QUICK = settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
THOROUGH = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _on_sqlite(steps, days) -> None:
    store = open_store("sqlite://")
    try:
        _equivalence(store, steps, days)
    finally:
        store.dispose()


@QUICK
@given(steps=operations, days=checked_days)
def test_change_rows_answer_like_a_row_per_account_and_date(steps, days):
    _on_sqlite(steps, days)


@pytest.mark.slow
@THOROUGH
@given(steps=operations, days=checked_days)
def test_change_rows_answer_like_a_row_per_account_and_date_many_sequences(steps, days):
    _on_sqlite(steps, days)


@pytest.mark.postgres
@pytest.mark.parametrize("profile", [QUICK, pytest.param(settings(THOROUGH, max_examples=40),
                                                          marks=pytest.mark.slow)])  # fmt: skip
def test_change_rows_answer_the_same_on_postgres(postgres_store, profile):
    @profile
    @given(steps=operations, days=checked_days)
    def check(steps, days):
        _equivalence(postgres_store, steps, days)

    check()


# --- what a night writes ---------------------------------------------------------------------


def _book(n: int, score: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [f"001{i:015d}" for i in range(n)],
            "health_score": pd.array([score] * n, dtype="Int64"),
            "health_band": "yellow",
            "usage_points": 20.0,
            "measure_points": '{"deliveries": 15.0}',
            "arr": 1200.0,
            "signals": ["red_band" if i % 3 == 0 else None for i in range(n)],  # text and None
        }
    )


def _rows(store) -> int:
    with store.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(score_snapshots)).scalar_one()


def test_an_unchanged_night_writes_no_row_and_a_change_writes_one(store):
    book = _book(3000)  # above the COPY threshold on PostgreSQL
    assert save_snapshots(store, None, "default", FIRST, book) == 3000
    for night in range(1, 4):
        assert save_snapshots(store, None, "default", FIRST + timedelta(days=night), book) == 0
    assert _rows(store) == 3000
    moved = book.copy()
    moved.loc[[5, 7], "health_score"] = 20
    churned = moved.drop(index=[9])  # account 9 is no longer scored: one tombstone
    assert save_snapshots(store, None, "default", FIRST + timedelta(days=4), churned) == 3
    assert _rows(store) == 3003
    # a re-run of the date rewrites nothing; one that changes an account replaces its row only
    assert save_snapshots(store, None, "default", FIRST + timedelta(days=4), churned) == 0
    assert _rows(store) == 3003
    again = churned.copy()
    again.loc[7, "health_score"] = 30
    assert save_snapshots(store, None, "default", FIRST + timedelta(days=4), again) == 1
    assert _rows(store) == 3003
    assert save_snapshots(store, None, "default", FIRST + timedelta(days=4), churned) == 1
    assert _rows(store) == 3003
    assert len(snapshot_dates(store, "default")) == 5
    five_nights = history(store, FIRST, FIRST + timedelta(days=4), scorecard="default")
    assert len(five_nights) == 5 * 3000 - 1
    latest = previous_scores(store, FIRST + timedelta(days=5))
    assert latest.set_index("account_id").loc[book["account_id"][5], "health_score"] == 20
    gone = latest.set_index("account_id").loc[book["account_id"][9]]
    assert gone["as_of"] == pd.Timestamp(FIRST + timedelta(days=3))  # its last snapshot


def test_thinning_keeps_a_change_that_a_later_kept_date_relies_on(store):
    book = _book(2)
    days = [FIRST + timedelta(days=i) for i in range(4)]
    save_snapshots(store, None, "default", days[0], book)
    save_snapshots(store, None, "default", days[1], book.assign(health_score=70))  # the change
    save_snapshots(store, None, "default", days[2], book.assign(health_score=70))
    save_snapshots(store, None, "default", days[3], book.assign(health_score=70).iloc[:1])
    before = history(store, days[2], days[3])
    with store.begin() as conn:
        assert remove_dates(conn, "default", [days[1]]) == 0  # the rows move to days[2]
    assert snapshot_dates(store, "default") == [days[0], days[2], days[3]]
    pd.testing.assert_frame_equal(history(store, days[2], days[3]), before)
    assert list(history(store, days[0], days[0])["health_score"]) == [50, 50]
    with store.begin() as conn:  # removing again changes nothing
        assert remove_dates(conn, "default", []) == 0


def test_prune_dry_run_counts_exactly_what_prune_deletes(store):
    today = FIRST + timedelta(days=35)
    book = _book(5)
    for i in range(36):
        night = book.assign(health_score=50 + (i // 3) % 4)  # moves every third night
        save_snapshots(store, None, "default", FIRST + timedelta(days=i), night.iloc[: 3 + i % 3])
    settings_ = RetentionSettings(daily_days=10, weekly_days=20)
    kept_before = history(store, today - timedelta(days=9), today)
    dry = prune_state(store, today, settings_, dry_run=True)
    assert len(snapshot_dates(store, "default")) == 36  # nothing changed
    report = prune_state(store, today, settings_)
    assert report.deleted["score_snapshots"] == dry.deleted["score_snapshots"] > 0
    pd.testing.assert_frame_equal(history(store, today - timedelta(days=9), today), kept_before)
    again = prune_state(store, today, settings_)
    assert again.deleted["score_snapshots"] == 0  # idempotent


def test_doomed_spans_bound_each_run_of_removed_dates():
    days = [FIRST + timedelta(days=i) for i in range(8)]
    kept = [days[2], days[3], days[6]]
    assert doomed_spans(days, kept) == [(None, days[2]), (days[3], days[6]), (days[6], None)]
    assert doomed_spans(days, days) == []
    assert doomed_spans(days, []) == [(None, None)]


# --- the migration of a store with a row per account and date --------------------------------


def _as_version_1(url: str, oracle: FullSnapshots) -> None:
    """Turn a fresh store into what sfsync left before change rows: no dates table, no gone
    column, schema version 1, and the oracle's rows (a row per account and date)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE score_snapshot_dates")
        conn.exec_driver_sql("ALTER TABLE score_snapshots DROP COLUMN gone")
        conn.execute(state_db.schema_version.delete().where(state_db.schema_version.c.version > 1))
        old = sa.Table("score_snapshots", sa.MetaData(), autoload_with=conn)
        rows = [
            {"scorecard": card, "account_id": account, "as_of": day,
             **dict(zip(VALUE_COLUMNS, values, strict=True))}
            for (card, day), stored in oracle.rows.items()
            for account, values in stored.items()
        ]  # fmt: skip
        if rows:
            conn.execute(old.insert(), rows)
    engine.dispose()


def _migrated_on_sqlite(tmp_path_factory, steps) -> None:
    _migrated_equivalence(f"sqlite:///{tmp_path_factory.mktemp('v1') / 'state.db'}", steps)


@QUICK
@given(steps=st.lists(saves, min_size=1, max_size=10))
def test_a_store_with_a_row_per_account_and_date_is_migrated_to_changes(tmp_path_factory, steps):
    _migrated_on_sqlite(tmp_path_factory, steps)


@pytest.mark.slow
@settings(THOROUGH, max_examples=60)
@given(steps=st.lists(saves, min_size=1, max_size=10))
def test_migration_to_changes_many_histories(tmp_path_factory, steps):
    _migrated_on_sqlite(tmp_path_factory, steps)


@pytest.mark.postgres
def test_migration_to_changes_on_postgres():
    from tests.fixtures.state import create_postgres_database, drop_postgres_database

    one, two = {"health_score": 10, "health_band": "red"}, {"health_score": 20}
    steps = [  # a change, a disappearance and a return, a second scorecard
        ("save", "default", 0, {ACCOUNTS[0]: one, ACCOUNTS[1]: one}),
        ("save", "default", 1, {ACCOUNTS[0]: one}),
        ("save", "default", 2, {ACCOUNTS[0]: two, ACCOUNTS[1]: one}),
        ("save", "default", 3, {ACCOUNTS[0]: two, ACCOUNTS[1]: one}),
        ("save", "other", 2, {ACCOUNTS[2]: one}),
    ]
    url = create_postgres_database()
    try:
        _migrated_equivalence(url, steps)
    finally:
        drop_postgres_database(url)


def _migrated_equivalence(url: str, steps) -> None:
    oracle = FullSnapshots()
    for _, card, day, snapshot in steps:
        oracle.save(card, FIRST + timedelta(days=day), _scores(snapshot))
    open_store(url).dispose()
    _as_version_1(url, oracle)
    store = open_store(url)
    try:
        assert store.schema_version() == state_db.MIGRATIONS[-1].version
        _check_everything(store, oracle, {0, 2, 5, DAYS})
        assert _rows(store) == oracle.change_rows()  # no row that repeats the one before
    finally:
        store.dispose()
