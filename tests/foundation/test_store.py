"""The state store on SQLite and PostgreSQL: schema, migrations, run ledger."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import sqlalchemy as sa

from sfsync.errors import SfsyncError
from sfsync.state import db as state_db
from sfsync.state import finish_run, get_run, last_runs, open_store, start_run


def test_open_store_creates_every_table_and_stamps_the_version(store):
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"schema_version", "runs", "run_locks"} <= tables
    assert store.schema_version() == state_db.MIGRATIONS[-1].version


def test_opening_twice_is_harmless(store_url):
    first = open_store(store_url)
    first.dispose()
    second = open_store(store_url)
    with second.connect() as conn:
        versions = conn.execute(sa.select(state_db.schema_version.c.version)).scalars().all()
    second.dispose()
    assert versions == [state_db.MIGRATIONS[-1].version]


def test_sqlite_creates_its_folder_and_uses_wal_and_foreign_keys(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'deep' / 'er' / 'state.db'}")
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()
    assert (tmp_path / "deep" / "er" / "state.db").exists()


def test_run_ledger_round_trip(store):
    first = start_run(store, "nightly", date(2025, 3, 14))
    second = start_run(store, "nightly", date(2025, 3, 15), dry_run=True)
    other = start_run(store, "weekly", date(2025, 3, 15))
    assert len({first, second, other}) == 3
    finish_run(store, first, "succeeded", {"accounts": np.int64(150), "tasks": 3}, api_calls=12)
    finish_run(
        store, second, "failed", error="login failed: password=hunter2 for 00D5g000004XyZa!AQ8abc"
    )
    runs = last_runs(store, "nightly", 5)
    assert [r.id for r in runs] == [second, first]
    assert runs[1].status == "succeeded" and runs[1].counts == {"accounts": 150, "tasks": 3}
    assert runs[1].api_calls == 12 and runs[1].finished_at >= runs[1].started_at
    assert runs[0].dry_run is True and runs[0].status == "failed"
    assert "hunter2" not in runs[0].error and "AQ8abc" not in runs[0].error
    assert last_runs(store, "nightly", 1)[0].id == second
    assert get_run(store, other).status == "running"
    assert store.last_runs("weekly")[0].id == other  # the Store convenience method


def test_finish_run_rejects_bad_status_and_unknown_runs(store):
    run_id = start_run(store, "nightly", date(2025, 3, 15))
    with pytest.raises(ValueError, match="status must be one of"):
        finish_run(store, run_id, "done")
    with pytest.raises(KeyError):
        finish_run(store, run_id + 1000, "succeeded")


def _old_v1_store(url: str) -> None:
    """Build a store as an older sfsync (schema version 1) left it: a narrower runs table."""
    engine = sa.create_engine(url)
    serial = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
            "description VARCHAR(200) NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO schema_version VALUES (1, 'initial schema', '2025-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            f"CREATE TABLE runs (id {serial} PRIMARY KEY, job VARCHAR(200) NOT NULL, "
            "as_of DATE NOT NULL, started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, "
            "status VARCHAR(20) NOT NULL, counts JSON, api_calls INTEGER, error TEXT)"
        )
        conn.exec_driver_sql(
            "INSERT INTO runs (job, as_of, started_at, status) "
            "VALUES ('nightly', '2025-01-01', '2025-01-01 01:00:00', 'running')"
        )
    engine.dispose()


def test_migration_from_an_older_version(store_url, monkeypatch):
    _old_v1_store(store_url)
    applied = []

    def mark_stale_runs_failed(conn):  # a data migration: v2 of this test's history
        applied.append("v2")
        conn.execute(
            sa.text(
                "UPDATE runs SET status = 'failed', error = 'interrupted' WHERE status = 'running'"
            )
        )

    latest = state_db.MIGRATIONS[-1].version + 1
    steps = [
        *state_db.MIGRATIONS,
        state_db.Migration(latest, "mark runs left running as failed", mark_stale_runs_failed),
    ]
    monkeypatch.setattr(state_db, "MIGRATIONS", steps)
    store = open_store(store_url)
    try:
        assert applied == ["v2"]
        assert store.schema_version() == latest
        tables = set(sa.inspect(store.engine).get_table_names())
        assert {"run_locks", "runs"} <= tables  # missing tables created
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("runs")}
        assert {"dry_run", "host", "pid"} <= columns  # missing nullable columns added
        old = get_run(store, 1)
        assert (old.status, old.error, old.dry_run) == ("failed", "interrupted", False)
        new_id = start_run(store, "nightly", date(2025, 3, 15))
        assert get_run(store, new_id).host
    finally:
        store.dispose()
    store = open_store(store_url)  # steps run once only
    store.dispose()
    assert applied == ["v2"]


def test_a_store_newer_than_this_sfsync_is_refused(store_url):
    open_store(store_url).dispose()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            state_db.schema_version.insert().values(
                version=99, description="future", applied_at=state_db.utcnow()
            )
        )
    engine.dispose()
    with pytest.raises(SfsyncError, match="schema version 99, newer than this sfsync"):
        open_store(store_url)


def test_unreachable_or_unsupported_databases_give_clear_errors():
    with pytest.raises(SfsyncError, match="unsupported database 'mysql'"):
        open_store("mysql://u:pw@localhost/db")
    with pytest.raises(SfsyncError) as info:
        open_store("postgresql+psycopg://sfsync:S3cretPw@127.0.0.1:1/nope?connect_timeout=2")
    assert "cannot open the state store" in str(info.value)
    assert "S3cretPw" not in str(info.value)


def test_tables_defined_by_other_modules_are_created(tmp_path, monkeypatch):
    table = sa.Table(
        "zz_test_extra", state_db.metadata, sa.Column("id", sa.Integer, primary_key=True)
    )
    try:
        store = open_store(f"sqlite:///{tmp_path / 's.db'}")
        assert "zz_test_extra" in sa.inspect(store.engine).get_table_names()
        store.dispose()
    finally:
        state_db.metadata.remove(table)


def test_store_status_reports_without_migrating(store_url):
    from sfsync.state.db import store_status

    before = store_status(store_url)
    assert before.version == 0 and not before.up_to_date
    assert {"runs", "run_locks", "score_snapshots"} <= set(before.missing_tables)
    open_store(store_url).dispose()
    after = store_status(store_url)
    assert after.up_to_date and after.version == after.latest
    with pytest.raises(SfsyncError, match="cannot reach the state store"):
        store_status("postgresql+psycopg://u:pw-secret@127.0.0.1:1/x?connect_timeout=2")
