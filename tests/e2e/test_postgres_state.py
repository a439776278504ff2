"""The nightly job with its state store in PostgreSQL (SFSYNC_STATE_URL), run twice."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import customers, run_cli, writes

POSTGRES_URL = os.environ.get(
    "SFSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def state_url():
    name = f"sfsync_extract_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
    except Exception as exc:  # noqa: BLE001 - no server: skip
        pytest.skip(f"PostgreSQL not available: {type(exc).__name__}")
    yield sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database "{name}" with (force)'))
    admin.dispose()


@pytest.mark.postgres
def test_nightly_with_postgres_state(project, sandbox_factory, state_url):
    sb = sandbox_factory(accounts=50)
    env = {"SFSYNC_STATE_URL": state_url}
    first = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-15", env=env)
    assert first.exit_code == 0, first.output[-3000:]
    sb.admin.reset_counters()
    second = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-15", env=env)
    assert second.exit_code == 0, second.output[-3000:]
    assert writes(sb.admin.counters()) == 0
    engine = sa.create_engine(state_url)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("select status from runs order by id")).scalars().all()
        snapshots = conn.execute(sa.text("select count(*) from score_snapshots")).scalar()
    engine.dispose()
    assert runs == ["succeeded", "succeeded"]
    assert snapshots == len(customers(sb.admin.records("Account"), "2025-03-15"))
