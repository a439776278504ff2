"""Serve the sandbox service apps over real HTTP on a loopback port for the tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from sfsync_sandbox.sample_data import SampleData, generate
from werkzeug.serving import make_server

AS_OF = date(2025, 3, 15)


@contextmanager
def serve(app) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 on a free port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def book() -> SampleData:
    """The default book (150 accounts) as of 2025-03-15."""
    return generate(accounts=150, seed=7, as_of=AS_OF)


@pytest.fixture(scope="session")
def big_book() -> SampleData:
    """A 260-account book: its usage has more than 2,000 tenant-months."""
    return generate(accounts=260, seed=7, as_of=AS_OF)
