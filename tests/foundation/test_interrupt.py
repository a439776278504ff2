"""SIGTERM / SIGINT become RunInterrupted inside ``stop_on_signals``; handlers are restored."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from sfsync.errors import ExitCode, RunInterrupted, SfsyncError
from sfsync.interrupt import stop_on_signals


@pytest.fixture
def signals_not_ignored():
    """SIGINT and SIGTERM with their default handlers for the test: a test run started as a
    shell's background job inherits SIGINT ignored, which stop_on_signals rightly keeps."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, ExitCode.SIGTERM), (signal.SIGINT, ExitCode.SIGINT)]
)
def test_a_stop_signal_raises_run_interrupted_and_the_old_handler_comes_back(
    sig, code, signals_not_ignored
):
    before = signal.getsignal(sig)
    with pytest.raises(RunInterrupted) as info, stop_on_signals():
        os.kill(os.getpid(), sig)
        time.sleep(5)  # interrupted long before this ends
    assert info.value.exit_code == code == 128 + sig
    assert str(info.value) == f"stopped by {sig.name}"
    assert signal.getsignal(sig) is before


def test_run_interrupted_is_not_swallowed_by_except_exception():
    assert not issubclass(RunInterrupted, Exception)
    with pytest.raises(RunInterrupted), stop_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Exception:  # what "never fail the run" code does  # noqa: BLE001
            pytest.fail("a stop signal was swallowed by except Exception")


def test_a_second_signal_does_not_cut_the_clean_up_short():
    cleaned = False
    with pytest.raises(RunInterrupted), stop_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # e.g. a supervisor repeating itself
            time.sleep(0.05)
            cleaned = True
    assert cleaned


def test_outside_the_main_thread_nothing_is_installed():
    seen = []

    def worker():
        with stop_on_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]


def test_the_cli_reports_an_interrupted_run_with_its_exit_code(monkeypatch, capsys):
    from sfsync import cli

    def stopped(*_args, **_kwargs):
        raise RunInterrupted("SIGTERM", ExitCode.SIGTERM)

    monkeypatch.setattr(cli.cli, "main", stopped)
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "nightly"])
    assert info.value.code == 143
    err = capsys.readouterr().err
    assert err.startswith("Error: stopped by SIGTERM (") and "Traceback" not in err
    assert not isinstance(RunInterrupted("SIGTERM", 143), SfsyncError)


def test_an_ignored_signal_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stop_on_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # nothing happens
    finally:
        signal.signal(signal.SIGINT, before)
