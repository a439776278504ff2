"""SQL source: bound parameters, chunked reads, SQLite and the real PostgreSQL."""

import os
import uuid

import pytest
import sqlalchemy as sa

from sfsync.errors import SourceError
from sfsync.sources.sql import query_parameters, read_sql, safe_url

QUERY = """
select tenant_id, month, deliveries
from usage
where month between :from_month and :to_month
order by tenant_id, month
"""

POSTGRES_URL = os.environ.get(
    "SFSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _load(engine, rows):
    with engine.begin() as conn:
        conn.execute(sa.text("create table usage (tenant_id text, month text, deliveries int)"))
        conn.execute(
            sa.text("insert into usage values (:t, :m, :d)"),
            [{"t": t, "m": m, "d": d} for t, m, d in rows],
        )


def _rows(n):
    return [(f"t-{i:05d}", month, i % 7) for i in range(n) for month in ("2025-01", "2025-02")]


def test_sqlite_chunks_and_parameters(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = sa.create_engine(url)
    _load(engine, _rows(2500))
    seen = []
    frame = read_sql(
        url,
        QUERY,
        {"from_month": "2025-02", "to_month": "2025-02", "as_of": "unused"},
        chunksize=1000,
        progress=seen.append,
    )
    assert len(frame) == 2500 and set(frame["month"]) == {"2025-02"}
    assert seen == [1000, 2000, 2500]


def test_parameters_are_bound_not_spliced(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    _load(sa.create_engine(url), _rows(3))
    hostile = "2025-01' or '1'='1"
    frame = read_sql(url, QUERY, {"from_month": hostile, "to_month": hostile})
    assert frame.empty


def test_a_parameter_the_job_lacks_is_named():
    with pytest.raises(SourceError, match=r":to_month") as err:
        read_sql("sqlite://", QUERY, {"from_month": "2025-01"})
    assert ":from_month" in str(err.value)  # the hint lists what is available
    assert query_parameters("select cast(:a as text), :b") == {"a", "b"}


def test_a_failing_query_is_a_source_error_without_the_password():
    url = "sqlite:///:memory:"
    with pytest.raises(SourceError, match="no such table: usage"):
        read_sql(url, QUERY, {"from_month": "a", "to_month": "b"})
    assert "s3cret" not in safe_url("postgresql://u:s3cret@h/db")


def test_unknown_dialect_is_explained():
    with pytest.raises(SourceError, match="cannot use the database URL"):
        read_sql("nosuchdb://x", "select 1")


@pytest.fixture
def postgres_url():
    try:
        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = f"sfsync_extract_{uuid.uuid4().hex[:8]}"
            conn.execute(sa.text(f'create database "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server here"
        pytest.skip(f"PostgreSQL not available at {safe_url(POSTGRES_URL)}: {exc}")
    url = sa.engine.make_url(POSTGRES_URL).set(database=name)
    yield url.render_as_string(hide_password=False)
    sa.create_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database "{name}" with (force)'))
    admin.dispose()


@pytest.mark.postgres
def test_postgres_server_side_cursor_in_chunks(postgres_url):
    _load(sa.create_engine(postgres_url), _rows(3000))
    seen = []
    frame = read_sql(
        postgres_url,
        QUERY + "",
        {"from_month": "2025-01", "to_month": "2025-02"},
        chunksize=2000,
        progress=seen.append,
    )
    assert len(frame) == 6000
    assert seen == [2000, 4000, 6000]
    assert frame["deliveries"].sum() == sum(d for _, _, d in _rows(3000))
