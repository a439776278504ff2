"""The one SQLAlchemy ``MetaData`` every table of the state store is defined on, and the
helpers for stored values (naive UTC timestamps, JSON of numpy/pandas scalars).

It sits below :mod:`sfsync.state.db` (the store) and the ledgers (:mod:`sfsync.state.runs`
and its siblings) so that both can import it without importing each other;
``sfsync.state.db`` re-exports every name here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def utcnow() -> datetime:
    """The current UTC time as a naive datetime (how the store keeps timestamps)."""
    return datetime.now(UTC).replace(tzinfo=None)


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for numpy/pandas scalars and dates in stored JSON."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, ensure_ascii=False, sort_keys=True)
