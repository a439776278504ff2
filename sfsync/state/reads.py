"""Column-wise reads of the state store: a query's rows fetched straight from the DBAPI cursor
and handed back per column, without a SQLAlchemy ``Row`` (and its type processing) per row.

The values are the driver's: SQLite gives dates as ISO text and booleans as 0/1, PostgreSQL
(psycopg) gives ``date`` and ``bool``; NULL is None on both. The readers of
:mod:`sfsync.state.snapshots` and :mod:`sfsync.state.signals` convert whole columns from there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Connection, Executable


def fetch_columns(conn: Connection, query: Executable) -> dict[str, tuple]:
    """Run ``query`` on ``conn``; return its columns by name, each a tuple of the driver's
    values (empty tuples when there are no rows)."""
    result = conn.execute(query)
    try:
        names = list(result.keys())
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return dict(zip(names, columns, strict=True))


def objects(values: Any) -> np.ndarray:
    """A column of driver values as a 1-D object array (NULL stays None)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def days(values: Any) -> np.ndarray:
    """A column of dates (ISO text from SQLite, ``date`` from PostgreSQL, None) as
    ``datetime64[D]`` (None -> NaT)."""
    return np.array(values, dtype="datetime64[D]") if len(values) else np.zeros(0, "datetime64[D]")


def flags(values: Any) -> np.ndarray:
    """A column of booleans (0/1 from SQLite, bool from PostgreSQL, None) as a bool array:
    true where the value is true (None is false)."""
    return np.asarray(objects(values) == 1, dtype=bool)
