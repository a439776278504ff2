"""A killed or stopped nightly run never blocks the next one (issue 10, item 5).

The real CLI runs in a child process against the sandbox, with its Metabase URL pointed at a
server that accepts the request and never answers: the child is then certainly mid-run (lock
taken, run recorded, Salesforce read) when the test kills it. The test waits for the child's
``run_started`` log line and the stalled request instead of sleeping fixed times.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from sfsync.state import open_store
from sfsync.state.lock import run_locks
from sfsync.state.runs import runs
from tests.cli_process import REPO
from tests.e2e.conftest import run_cli

AS_OF = "2025-03-15"
WAIT = 120  # seconds; generous for a loaded 2-core machine, never slept through


class StalledServer:
    """An HTTP server that takes requests and holds them unanswered until released."""

    def __init__(self) -> None:
        self.hit = threading.Event()
        self.release = threading.Event()
        stalled = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._stall()

            def do_POST(self):
                self._stall()

            def _stall(self):
                stalled.hit.set()
                stalled.release.wait(WAIT)
                self.send_error(503)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stalled_metabase() -> Iterator[StalledServer]:
    server = StalledServer()
    yield server
    server.close()


@contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    """A child inherits an ignored SIGINT (a test runner started in the background): undo it
    while the child starts, so that its Ctrl-C handling is what gets tested."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class Child:
    """``sfsync run`` in a child process; its JSON log events are collected as they come."""

    def __init__(self, project, sandbox, *args: str, env: dict) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
        environment.update(sandbox.env())
        environment.update(env)
        command = [sys.executable, "-m", "sfsync", "--log-format", "json"]
        with _sigint_not_ignored():
            self.proc = subprocess.Popen(
                [*command, "--config", str(project.config), *args],
                cwd=REPO,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        self.events: list[dict] = []
        self.stderr: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._seen:
                self.stderr.append(line)
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
                if isinstance(event, dict):
                    self.events.append(event)
                self._seen.notify_all()

    def wait_for(self, name: str) -> dict:
        """The first log event called ``name``; fails if the child ends without it."""

        def found():
            return next((e for e in self.events if e.get("event") == name), None)

        with self._seen:
            ok = self._seen.wait_for(lambda: found() or self.proc.poll() is not None, WAIT)
            event = found()
        assert ok and event, f"no {name} event; the child said:\n{''.join(self.stderr)}"
        return event

    def finish(self) -> tuple[int, str, str]:
        """Wait for the end; return the exit code, stdout and stderr."""
        stdout = self.proc.stdout.read()
        code = self.proc.wait(WAIT)
        self._reader.join(WAIT)
        return code, stdout, "".join(self.stderr)


def _state_url(project) -> str:
    return f"sqlite:///{project.root / '.sfsync' / 'state.db'}"


def _ledger(project) -> tuple[list, list]:
    store = open_store(_state_url(project))
    try:
        with store.connect() as conn:
            locks = conn.execute(sa.select(run_locks)).all()
            ledger = conn.execute(sa.select(runs).order_by(runs.c.id)).all()
    finally:
        store.dispose()
    return locks, ledger


def _start_stalled_run(project, sb, metabase: StalledServer) -> Child:
    child = Child(
        project,
        sb,
        "run",
        "nightly",
        "--as-of",
        AS_OF,
        env={"SFSYNC_METABASE_URL": metabase.url},
    )
    child.wait_for("run_lock_acquired")
    child.wait_for("run_started")
    assert metabase.hit.wait(WAIT), "the run never reached Metabase"
    assert child.proc.poll() is None
    return child


def test_a_run_killed_with_sigkill_does_not_block_the_next_one(
    project, sandbox_factory, stalled_metabase
):
    sb = sandbox_factory(accounts=60)
    child = _start_stalled_run(project, sb, stalled_metabase)
    child.proc.kill()
    code, _, _ = child.finish()  # reaps it, as its parent (cron, a shell) would
    assert code == -signal.SIGKILL
    locks, ledger = _ledger(project)
    assert [(lock.job, lock.pid) for lock in locks] == [("nightly", child.proc.pid)]
    assert [r.status for r in ledger] == ["running"]

    after = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)  # at once, same host

    assert after.exit_code == 0, after.output
    assert "nightly as of 2025-03-15: succeeded" in after.output
    taken = [json.loads(line) for line in after.stderr.splitlines() if "run_lock_taken" in line]
    assert [(e["reason"], e["previous_holder"].rsplit(":", 1)[1]) for e in taken] == [
        ("process_gone", str(child.proc.pid))
    ]
    locks, ledger = _ledger(project)
    assert locks == []
    assert [r.status for r in ledger] == ["abandoned", "succeeded"]
    assert f":{child.proc.pid} ended without finishing" in ledger[0].error


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_run_ends_failed_alerted_and_unlocked(
    project, sandbox_factory, stalled_metabase, sig, code
):
    sb = sandbox_factory(accounts=60)
    sb.admin.clear_slack_messages()
    child = _start_stalled_run(project, sb, stalled_metabase)
    child.proc.send_signal(sig)
    exit_code, stdout, stderr = child.finish()

    assert exit_code == code, stdout + stderr
    assert f"Error: stopped by {sig.name}" in stderr and "Traceback" not in stderr
    locks, ledger = _ledger(project)
    assert locks == []  # released: the next run needs no takeover
    assert [(r.status, r.error) for r in ledger] == [("failed", f"stopped by {sig.name}")]
    finished = [e for e in child.events if e.get("event") == "run_finished"]
    assert finished and finished[0]["status"] == "failed"
    alerts = [m for m in sb.admin.slack_messages() if "実行失敗" in (m.get("text") or "")]
    assert len(alerts) == 1 and f"stopped by {sig.name}" in alerts[0]["text"]

    after = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert after.exit_code == 0, after.output
    assert "run_lock_taken_over" not in after.stderr
