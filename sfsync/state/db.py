"""The state store: one SQLAlchemy ``MetaData``, opened and migrated by :func:`open_store`.

Every module defines its tables on :data:`metadata` (import this module, add ``Table(...,
metadata, ...)``); :func:`open_store` creates missing tables, adds missing nullable columns to
existing tables, and runs the ordered :data:`MIGRATIONS` steps for anything else (data fixes,
renames, indexes), recording the version in ``schema_version``. Two processes opening a fresh
store at once are serialised (PostgreSQL advisory lock, SQLite ``BEGIN IMMEDIATE``).

SQLite (default ``.sfsync/state.db``; WAL, foreign keys, 30 s busy timeout) and PostgreSQL
(``postgresql+psycopg://…``) are supported.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import AddConstraint, CreateIndex  # noqa: F401  (for migration steps)

from sfsync.errors import ConfigError, ConfigProblem, SfsyncError
from sfsync.log import redact_text
from sfsync.state.runs import finish_run, last_runs, start_run
from sfsync.state.schema import (  # noqa: F401 - re-exported: the table modules import them here
    dumps,
    json_default,
    metadata,
    utcnow,
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", DateTime, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply(conn)`` moves a store from ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _noop(_conn: Connection) -> None:
    pass


def _step(module: str, function: str) -> Callable[[Connection], None]:
    """A migration step defined in a table module of ``sfsync.state``, imported when the step
    runs (the table modules import this one; :func:`open_store` has loaded them all)."""

    def apply(conn: Connection) -> None:
        getattr(importlib.import_module(f"{__package__}.{module}"), function)(conn)

    return apply


# Ordered steps. Additive changes (new tables, new nullable columns) need no step: they are
# applied automatically. Append a step for anything else and bump nothing else.
MIGRATIONS: list[Migration] = [
    Migration(1, "initial schema (runs, snapshots, signals, quarantine, locks)", _noop),
    Migration(
        2,
        "score snapshots stored as changes (score_snapshot_dates, tombstones)",
        _step("snapshot_upkeep", "migrate_to_changes"),
    ),
]

_PG_MIGRATION_LOCK = 0x5F5F5C  # advisory lock key held while migrating


class SchemaTooNewError(SfsyncError):
    """The store was migrated by a newer sfsync."""


class Store:
    """An open state store: the engine plus helpers for transactions.

    ``store.begin()`` is a *write* transaction (on SQLite it takes the write lock up front, so
    read-then-write sequences cannot deadlock); ``store.connect()`` is for reads.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self, *, rehearse: bool = False) -> Iterator[Connection]:
        """A write transaction (committed on success, rolled back on error). ``rehearse``:
        always rolled back (a dry run that makes the changes to count them)."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            if not rehearse:
                with conn.begin():
                    yield conn
                return
            transaction = conn.begin()
            try:
                yield conn
            finally:
                transaction.rollback()

    def connect(self) -> Connection:
        """A connection for reads (use as a context manager)."""
        return self.engine.connect()

    def schema_version(self) -> int:
        with self.connect() as conn:
            return _current_version(conn)

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # Convenience methods; the functions in the sibling modules are the real API.
    def start_run(self, job: str, as_of, **kw):
        return start_run(self, job, as_of, **kw)

    def finish_run(self, run_id: int, status: str, **kw):
        return finish_run(self, run_id, status, **kw)

    def last_runs(self, job: str, n: int = 10):
        return last_runs(self, job, n)


def _make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            [ConfigProblem("state_url", "", "not a database URL (e.g. sqlite:///state.db)")]
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ":memory:"
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}}
        if database == ":memory:":
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise ConfigError(
        [
            ConfigProblem(
                "state_url",
                "",
                f"unsupported database {backend!r}; use sqlite:///… or postgresql+psycopg://…",
            )
        ]
    )


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def _current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    value = conn.execute(select(schema_version.c.version).order_by(schema_version.c.version.desc()))
    return value.scalar() or 0


def _add_missing_columns(conn: Connection) -> list[str]:
    """Add columns defined on ``metadata`` but absent from existing tables (nullable ones)."""
    added = []
    inspector = inspect(conn)
    existing_tables = set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in existing_tables:
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable and column.server_default is None:
                raise SfsyncError(
                    f"state store table {table.name} lacks the required column {column.name}",
                    hint="add a migration step for it in sfsync/state/db.py",
                )
            col_type = column.type.compile(dialect=conn.dialect)
            ddl = f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {col_type}'
            if column.server_default is not None:
                default = column.server_default.arg
                default = default.text if hasattr(default, "text") else f"'{default}'"
                ddl += f" DEFAULT {default}"
            conn.exec_driver_sql(ddl)
            added.append(f"{table.name}.{column.name}")
    return added


def migrate(store: Store, migrations: list[Migration] | None = None) -> int:
    """Bring the schema up to date; return the version it is at afterwards."""
    steps = sorted(MIGRATIONS if migrations is None else migrations, key=lambda m: m.version)
    latest = steps[-1].version if steps else 0
    with store.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        current = _current_version(conn)
        if current > latest:
            raise SchemaTooNewError(
                f"the state store {store.url} has schema version {current}, newer than this "
                f"sfsync understands ({latest})",
                hint="upgrade sfsync, or point SFSYNC_STATE_URL at another store",
            )
        fresh = current == 0 and not inspect(conn).get_table_names()
        metadata.create_all(conn, checkfirst=True)
        if fresh:
            pending = steps[-1:] if steps else []  # a fresh schema is already the latest
        else:
            _add_missing_columns(conn)
            pending = [m for m in steps if m.version > current]
        for step in pending:
            if not fresh:
                step.apply(conn)
            conn.execute(
                schema_version.insert().values(
                    version=step.version, description=step.description, applied_at=utcnow()
                )
            )
    return max(current, latest)


@dataclass(frozen=True)
class StoreStatus:
    """What :func:`store_status` found, without changing anything."""

    url: str  # password hidden
    version: int  # 0 = no schema yet
    latest: int
    missing_tables: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return self.version == self.latest and not self.missing_tables


def store_status(url: str) -> StoreStatus:
    """Connect to the store at ``url`` and report its schema version and missing tables
    (for ``sfsync doctor``); no table is created or migrated (SQLite may create the empty
    file). Raises SfsyncError if unreachable."""
    load_table_modules()
    engine = _make_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            version = _current_version(conn)
            present = set(inspect(conn).get_table_names())
    except SQLAlchemyError as exc:
        raise SfsyncError(
            f"cannot reach the state store {shown}: "
            f"{redact_text(str(getattr(exc, 'orig', None) or exc))}",
            hint="check SFSYNC_STATE_URL / state_url and that the database server is running",
        ) from None
    finally:
        engine.dispose()
    latest = max((m.version for m in MIGRATIONS), default=0)
    missing = tuple(t.name for t in metadata.sorted_tables if t.name not in present)
    return StoreStatus(shown, version, latest, missing)


def load_table_modules() -> None:
    """Import every module of ``sfsync.state`` so that all their tables are on ``metadata``.

    Tables defined outside ``sfsync/state/`` must be imported before :func:`open_store`.
    """
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{info.name}")


def open_store(url: str) -> Store:
    """Open the state store at ``url`` (an SQLAlchemy URL), creating and migrating its schema.

    Importing the table modules here makes sure every table of sfsync is on ``metadata``.
    """
    load_table_modules()
    store = Store(_make_engine(url))
    try:
        migrate(store)
    except SQLAlchemyError as exc:
        store.dispose()

        raise SfsyncError(
            f"cannot open the state store {store.url}: {redact_text(str(getattr(exc, 'orig', None) or exc))}",
            hint="check SFSYNC_STATE_URL / state_url and that the database server is running",
        ) from None
    except BaseException:
        store.dispose()
        raise
    return store
