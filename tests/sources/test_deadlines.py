"""Total deadlines: a server that drips one byte a second (or stalls) cannot hold a run.

requests' ``timeout`` bounds each socket read, so a slow drip never trips it; every HTTP call
of sfsync also has a total deadline (``metabase.deadline_seconds``,
``salesforce.deadline_seconds``) and a Bulk API 2.0 job one too
(``salesforce.bulk_job_deadline_seconds``): past it, the job is aborted and its records are
row failures kept for the next run.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from sfsync.http_deadline import DeadlineExceeded
from sfsync.salesforce import bulk_ingest
from sfsync.salesforce.client import mount_deadline
from sfsync.salesforce.query import bulk_query_frame
from sfsync.salesforce.retry import RetryPolicy, SalesforceSession
from sfsync.salesforce.writer import LockRetry, WriteRequest, WriteStatus, write
from sfsync.sources.metabase import MetabaseClient
from tests.cli_process import add_settings, make_project, run_sfsync
from tests.fixtures.sandbox import SANDBOX_AS_OF

MARGIN = 1.5  # seconds a failure may take beyond its deadline


@dataclass
class SlowServer:
    """A tiny HTTP server: ``drip`` sends headers then one body byte a second; ``stall``
    accepts the request and never answers. ``connections`` counts requests."""

    mode: str
    connections: int = 0
    _server: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        host, port = self._server.server_address
        return f"http://{host}:{port}"


def _handler(state: SlowServer) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            state.connections += 1
            sock: socket.socket = self.request
            sock.recv(65536)
            try:
                if state.mode == "drip":
                    sock.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100000\r\n\r\n["
                    )
                for _ in range(120):
                    time.sleep(1)
                    if state.mode == "drip":
                        sock.sendall(b" ")
            except OSError:  # the client hung up: what a deadline does
                pass

    return Handler


@pytest.fixture(params=["drip"])
def slow_server(request) -> Iterator[SlowServer]:
    yield from _serve(request.param)


def _serve(mode: str) -> Iterator[SlowServer]:
    state = SlowServer(mode)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state._server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stalled_server() -> Iterator[SlowServer]:
    yield from _serve("stall")


# -- Metabase ----------------------------------------------------------------------------------


def test_a_dripping_metabase_fails_at_its_deadline_naming_the_setting(slow_server):
    client = MetabaseClient(
        slow_server.url, api_key="mb_test_key_123456", timeout_seconds=3, deadline_seconds=3
    )
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        client.card(1)
    elapsed = time.monotonic() - started
    assert 3 <= elapsed < 3 + MARGIN
    message = str(caught.value)
    assert "Metabase" in message and "metabase.deadline_seconds" in message
    assert "GET /api/card/1" in message
    assert slow_server.connections == 1  # a passed deadline is final, not retried


def test_a_stalled_metabase_fails_at_the_deadline_even_with_a_longer_read_timeout(
    stalled_server,
):
    client = MetabaseClient(
        stalled_server.url, api_key="mb_test_key_123456", timeout_seconds=30, deadline_seconds=2
    )
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="metabase.deadline_seconds"):
        client.card(1)
    assert time.monotonic() - started < 2 + MARGIN


def test_the_default_metabase_deadline_is_ten_read_timeouts():
    assert MetabaseClient("http://mb", api_key="k" * 10, timeout_seconds=3).deadline == 30
    assert MetabaseClient("http://mb", api_key="k" * 10, deadline_seconds=7).deadline == 7


# -- Salesforce HTTP calls ----------------------------------------------------------------------


def test_a_dripping_salesforce_call_fails_at_its_deadline_and_is_not_retried(slow_server):
    session = SalesforceSession(RetryPolicy(sleep=lambda _s: None), timeout=(5, 5))
    mount_deadline(session, 2)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        session.request("GET", slow_server.url + "/services/data/v62.0/query")
    assert time.monotonic() - started < 2 + MARGIN
    assert "salesforce.deadline_seconds" in str(caught.value)
    assert "GET /services/data/v62.0/query" in str(caught.value)
    assert slow_server.connections == 1


def test_a_salesforce_call_within_its_deadline_reads_the_whole_body(sandbox):
    session = SalesforceSession(RetryPolicy(), timeout=(5, 30))
    session.verify = sandbox.ca_bundle
    mount_deadline(session, 30)
    response = session.request(
        "GET",
        f"{sandbox.salesforce_url}/services/data/v{sandbox.api_version}/query",
        params={"q": "SELECT Id, Name FROM Account"},
        headers={"Authorization": f"Bearer {sandbox.access_token}"},
    )
    assert response.status_code == 200
    assert response.json()["totalSize"] == len(response.json()["records"]) > 0


# -- Bulk API 2.0 jobs --------------------------------------------------------------------------


class StuckBulkOrg:
    """A fake client whose Bulk 2.0 jobs stay InProgress; records every call it gets."""

    def __init__(self, *, done_keys: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.bulk_job_deadline_seconds = 5.0
        self.done_keys = done_keys
        self.policy = RetryPolicy(sleep=lambda _s: None)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls.append((method, path, kwargs.get("json")))
        if method == "POST":
            return _Reply({"id": "750000000000001AAA"})
        if method == "PATCH" and (kwargs.get("json") or {}).get("state") == "Aborted":
            return _Reply({"id": "750000000000001AAA", "state": "Aborted"})
        if path.endswith("successfulResults/"):
            rows = "".join(f'"001{k}","false","{k}"\n' for k in self.done_keys)
            return _Reply(text='"sf__Id","sf__Created","Tenant_Id__c"\n' + rows)
        if path.endswith("failedResults/"):
            return _Reply(text='"sf__Id","sf__Error","Tenant_Id__c"\n')
        return _Reply({"id": "750000000000001AAA", "state": "InProgress"})


class _Reply:
    def __init__(self, payload: Any = None, text: str = "") -> None:
        self._payload = payload
        self.text = text
        self.headers: dict[str, str] = {}

    def json(self) -> Any:
        return self._payload


def _request(keys: list[str]) -> WriteRequest:
    return WriteRequest(
        "Account", "upsert", "Tenant_Id__c", tuple((k, {"Health_Score__c": 50}) for k in keys)
    )


def test_a_bulk_ingest_job_past_its_deadline_is_aborted_and_its_rows_are_row_failures():
    org = StuckBulkOrg(done_keys=("t-1",))
    waits: list[float] = []
    results = write(
        org,
        _request(["t-1", "t-2", "t-3"]),
        bulk_threshold=1,
        lock_retry=LockRetry(sleep=waits.append),
    )
    assert sum(waits) >= org.bulk_job_deadline_seconds  # it polled until the deadline
    assert ("PATCH", "jobs/ingest/750000000000001AAA", {"state": "Aborted"}) in org.calls
    by_key = {r.key: r for r in results}
    assert by_key["t-1"].status is WriteStatus.SUCCESS  # Salesforce reported it done
    for key in ("t-2", "t-3"):
        failure = by_key[key]
        assert failure.status is WriteStatus.ROW_FAILURE  # kept in the ledger for the next run
        assert failure.error_code == bulk_ingest.ABORTED_CODE
        assert "salesforce.bulk_job_deadline_seconds" in failure.message
        assert "next run" in failure.message


def test_a_bulk_query_job_past_its_deadline_is_aborted_and_the_read_fails():
    org = StuckBulkOrg()
    with pytest.raises(Exception, match="salesforce.bulk_job_deadline_seconds") as caught:
        bulk_query_frame(org, "SELECT Id FROM Account", timeout_seconds=0.2)
    assert ("PATCH", "jobs/query/750000000000001AAA", {"state": "Aborted"}) in org.calls
    assert "aborted" in str(caught.value)


# -- a whole run --------------------------------------------------------------------------------


def test_a_run_against_a_dripping_metabase_fails_in_time_and_releases_the_lock(
    tmp_path, sandbox, slow_server
):
    config = make_project(tmp_path / "project")
    add_settings(config, {"metabase": {"timeout_seconds": 3, "deadline_seconds": 4}})
    env = {"SFSYNC_METABASE_URL": slow_server.url, "SFSYNC_METABASE_API_KEY": "mb_drip_key_123"}
    started = time.monotonic()
    proc = run_sfsync(
        config, sandbox, "run", "nightly", "--as-of", SANDBOX_AS_OF.isoformat(), env=env
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert elapsed < 60  # Salesforce reads + one 4 s Metabase call, not "until the drip ends"
    error = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert error and "metabase.deadline_seconds" in error[0], proc.stderr
    assert "Traceback" not in proc.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'project' / '.sfsync' / 'state.db'}")
    with engine.connect() as conn:
        locks = conn.execute(sa.text("SELECT job FROM run_locks")).all()
        runs = conn.execute(sa.text("SELECT status, error FROM runs")).all()
    engine.dispose()
    assert locks == []  # released: the next run starts at once
    assert [r.status for r in runs] == ["failed"]
    assert "metabase.deadline_seconds" in runs[0].error
