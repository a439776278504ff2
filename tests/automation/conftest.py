"""Fixtures of the automation tests: a state store in SQLite."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine


class _MiniStore:
    """Stand-in with the Store interface (begin/connect) while sfsync.state.db is not merged."""

    def __init__(self, url: str) -> None:
        from sfsync.state.alerts import metadata

        self.engine = create_engine(url)
        metadata.create_all(self.engine)

    @contextmanager
    def begin(self):
        with self.engine.begin() as conn:
            yield conn

    def connect(self):
        return self.engine.connect()

    def dispose(self) -> None:
        self.engine.dispose()


def _open(url: str):
    try:
        from sfsync.state.db import open_store
    except ImportError:
        return _MiniStore(url)
    return open_store(url)


@pytest.fixture
def store(tmp_path):
    s = _open(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.dispose()
