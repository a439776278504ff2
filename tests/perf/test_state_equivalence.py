"""The column-wise state store (issue 14 item 6) stores and returns exactly what the row-by-row
one did (tests/perf/reference_state.py): the same snapshot rows, dates and ledger rows, the
same frames (values and dtypes) from ``previous_scores``, ``scores_on_or_before``, ``history``
and ``sync_signals``, on SQLite and PostgreSQL — with NaN points, missing columns, non-text
ids, tombstones, re-runs of a date and backfills to an earlier date."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pandas.testing import assert_frame_equal

from sfsync.state import open_store
from sfsync.state.signals import active_signals, signal_ledger, sync_signals
from sfsync.state.snapshots import (
    history,
    previous_scores,
    save_snapshots,
    score_snapshot_dates,
    score_snapshots,
    scores_on_or_before,
)
from tests.fixtures.state import create_postgres_database, drop_postgres_database
from tests.perf import reference_state as reference


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stores(request, tmp_path):
    """Two empty stores on the same backend: one for the reference, one for sfsync."""
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path / 'old.db'}", f"sqlite:///{tmp_path / 'new.db'}"]
    else:
        urls = [create_postgres_database(), create_postgres_database()]
    opened = [open_store(u) for u in urls]
    try:
        yield opened
    finally:
        for store in opened:
            store.dispose()
        if request.param == "postgresql":
            for url in urls:
                drop_postgres_database(url)


def _table(store, table) -> list[tuple]:
    columns = [c for c in table.columns if c.name != "id"]
    with store.connect() as conn:
        rows = conn.execute(sa.select(*columns)).all()
    return sorted((tuple(r) for r in rows), key=repr)


def _book(ids, score, *, points=True, extra=False, text_dtype="str") -> pd.DataFrame:
    n = len(ids)
    frame = pd.DataFrame(
        {
            "account_id": pd.Series(ids, dtype=text_dtype),
            "health_score": pd.array([score + i % 7 for i in range(n)], dtype="Int64"),
            "health_band": pd.Series(["green", None, "red"] * n, dtype=text_dtype)[:n].values,
            "health_trend": [float(i % 3) if i % 4 else np.nan for i in range(n)],
            "segment": list("SABC" * n)[:n],
            "lifecycle_phase": "adoption",
            "signals": ["red_band" if i % 3 == 0 else None for i in range(n)],
            "owner_id": [1000 + i if i % 5 == 0 else f"005{i:015d}" for i in range(n)],
            "arr": [1200.5 * i if i % 6 else np.nan for i in range(n)],
            "measure_points": ['{"deliveries": 15.0}' if i % 2 else None for i in range(n)],
        }
    )
    if points:
        frame["usage_points"] = [float(score % 40) if i % 5 else np.nan for i in range(n)]
        frame["engagement_points"] = 10.0
    if extra:
        frame["extra_points"] = [["3", "x", None, 2.5][i % 4] for i in range(n)]  # coerced
    return frame


ONE = timedelta(days=1)
IDS = [f"001{i:015d}" for i in range(12)]
STEPS = [  # (as_of, scores): nights, a re-run, missing columns, backfills
    (date(2025, 3, 2), _book(IDS, 50)),
    (date(2025, 3, 3), _book(IDS, 50)),  # unchanged next night
    (date(2025, 3, 4), _book(IDS[2:], 50)),  # two accounts gone: tombstones
    (date(2025, 3, 4), _book(IDS[:5], 60)),  # a re-run of the date, other values
    (date(2025, 3, 5), _book(IDS[1:9], 50, points=False, extra=True, text_dtype=object)
     .drop(columns=["arr", "health_trend", "measure_points"])),  # missing columns
    (date(2025, 3, 1), _book(IDS[3:], 40)),  # a backfill before the first date
    (date(2025, 3, 3), _book(IDS[:4], 70)),  # a backfill over a middle date
    (date(2025, 3, 6), _book(IDS, 50).iloc[0:0]),  # an empty frame stores nothing
    (date(2025, 3, 6), _book(IDS[::2], 55)),
]  # fmt: skip


def test_snapshots_store_and_read_the_same_as_the_row_by_row_reference(stores):
    old, new = stores
    for run, (as_of, scores) in enumerate(STEPS):
        written = reference.save_snapshots(old, None, "default", as_of, scores)
        assert save_snapshots(new, None, "default", as_of, scores) == written, (run, as_of)
        for table in (score_snapshots, score_snapshot_dates):
            assert _table(new, table) == _table(old, table), (run, as_of, table.name)
        last = run == len(STEPS) - 1
        for day in [date(2025, 3, d) for d in range(1, 8)] if last else [as_of, as_of + ONE]:
            assert_frame_equal(previous_scores(new, day), reference.previous_scores(old, day))
            assert_frame_equal(
                scores_on_or_before(new, "default", day),
                reference.scores_on_or_before(old, "default", day),
            )
    assert_frame_equal(
        history(new, date(2025, 3, 1), date(2025, 3, 6)),
        reference.history(old, date(2025, 3, 1), date(2025, 3, 6)),
    )
    assert len(previous_scores(new, date(2025, 3, 7))) > 0  # the comparisons saw rows


def _signals(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["account_id", "code", "kind", "severity"])


SIGNAL_STEPS = [  # (as_of, signals, scope)
    (date(2025, 3, 1), [("A1", "red_band", "churn", "high"), ("A2", "drop", "churn", None),
                        ("A3", "limit", "upsell", "low")], None),
    (date(2025, 3, 2), [("A1", "red_band", "churn", "high"), ("A2", "drop", "churn", None),
                        ("A3", "limit", "upsell", "low")], None),  # unchanged
    (date(2025, 3, 2), [("A1", "red_band", "churn", "high"), ("A2", "drop", "churn", None),
                        ("A3", "limit", "upsell", "low")], None),  # the same date again
    (date(2025, 3, 3), [("A1", "red_band", "churn", "medium"), ("A2", "drop", "churn", "low"),
                        ("A4", "limit", "upsell", None)], ["A1", "A2", "A4"]),  # A3 kept
    (date(2025, 3, 4), [("A1", "red_band", "upsell", "medium")], None),  # kind changed
    (date(2025, 3, 5), [("A3", "limit", "upsell", "low"), ("A1", "red_band", "upsell", "medium"),
                        ("A5", "x", "churn", "high")], ["A1", "A3", "A5", "A9"]),
    (date(2025, 3, 3), [("A1", "red_band", "upsell", "medium"), ("A5", "x", "churn", "high")],
     None),  # a backfill to an earlier date
    (date(2025, 3, 6), [], ["A1"]),
]  # fmt: skip


def test_signals_ledger_and_changes_are_the_same_as_the_row_by_row_reference(stores):
    old, new = stores
    for run, (as_of, rows, scope) in enumerate(SIGNAL_STEPS):
        expected = reference.sync_signals(old, as_of, _signals(rows), scope=scope)
        got = sync_signals(new, as_of, _signals(rows), scope=scope)
        for name in ("new", "still_active", "cleared"):
            assert_frame_equal(getattr(got, name), getattr(expected, name), obj=f"{run} {name}")
        assert _table(new, signal_ledger) == _table(old, signal_ledger), run
        assert_frame_equal(active_signals(new), reference.active_signals(old))


def test_many_still_active_signals_get_last_seen_by_id_chunks(sqlite_store, tmp_path):
    """More still-active signals than one statement's ids, with as many left untouched (out of
    scope): last_seen moves for exactly the seen ones."""
    old = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    ids = [f"A{i:05d}" for i in range(20_002)]
    signals = _signals([(a, "red_band", "churn", "high") for a in ids])
    for store, sync in ((old, reference.sync_signals), (sqlite_store, sync_signals)):
        sync(store, date(2025, 3, 1), signals)
        sync(store, date(2025, 3, 2), signals.iloc[::2], scope=ids[::2])
    assert _table(sqlite_store, signal_ledger) == _table(old, signal_ledger)
    seen = active_signals(sqlite_store).set_index("account_id")["last_seen"]
    assert seen.value_counts().to_dict() == {date(2025, 3, 2): 10_001, date(2025, 3, 1): 10_001}
    old.dispose()
