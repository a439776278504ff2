"""SQL source: a query file run against any SQLAlchemy URL, with bound parameters, in chunks.

The query uses named parameters (``:as_of``, ``:scoring_month``, ``:from_month``, ``:to_month``)
that the database driver binds, so no value is ever spliced into the SQL text. Results are read
``chunksize`` rows at a time through a server-side cursor where the dialect supports one
(PostgreSQL), so that a large extraction does not hold the whole result set twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from sfsync.errors import ConfigError, ConfigProblem, SourceError

log = structlog.get_logger(__name__)

ProgressFn = Callable[[int], None]


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def query_parameters(sql: str) -> set[str]:
    """The names of the ``:name`` parameters a query uses."""
    return set(sa.text(sql).compile().params)


def read_query_file(path: str | Path) -> str:
    """The text of a ``.sql`` file; a missing file is a ConfigError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), "", "query file not found")]) from None


def read_sql(
    url: str,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    chunksize: int = 50_000,
    progress: ProgressFn | None = None,
    engine: sa.Engine | None = None,
) -> pd.DataFrame:
    """Run ``sql`` with ``params`` bound and return the whole result as a raw frame.

    Only the parameters the query uses are bound; a parameter it uses but ``params`` lacks is a
    SourceError listing what is available. ``progress`` is called with the running row count
    after each chunk. Pass ``engine`` to reuse one (tests, connection pools).
    """
    params = dict(params or {})
    used = query_parameters(sql)
    missing = sorted(used - params.keys())
    if missing:
        raise SourceError(
            f"the SQL query uses parameter(s) {', '.join(':' + m for m in missing)} "
            "that the job does not provide",
            hint=f"available: {', '.join(':' + p for p in sorted(params)) or 'none'}",
        )
    bound = {k: v for k, v in params.items() if k in used}
    owns_engine = engine is None
    try:
        engine = engine or sa.create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise SourceError(
            f"cannot use the database URL {safe_url(url)}: {exc}",
            hint="use a SQLAlchemy URL such as postgresql+psycopg://user@host/db and "
            "install the dialect's driver",
        ) from None
    chunks: list[pd.DataFrame] = []
    rows = 0
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(stream_results=True, max_row_buffer=chunksize)
            for chunk in pd.read_sql(sa.text(sql), conn, params=bound, chunksize=chunksize):
                chunks.append(chunk)
                rows += len(chunk)
                if progress:
                    progress(rows)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        root: BaseException = exc
        while root.__cause__ is not None:  # pandas wraps the driver's error
            root = root.__cause__
        detail = str(getattr(root, "orig", None) or root).splitlines()[0]
        raise SourceError(f"SQL query failed on {safe_url(url)}: {detail}") from None
    finally:
        if owns_engine:
            engine.dispose()
    log.info("sql_read", url=safe_url(url), rows=rows)
    if not chunks:
        return pd.DataFrame()
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
