"""Stop a command cleanly on SIGTERM and SIGINT.

``timeout``, systemd, Kubernetes and ``docker stop`` send SIGTERM (then SIGKILL after a grace
period); a person presses Ctrl-C (SIGINT). Inside :func:`stop_on_signals` either signal raises
:class:`~sfsync.errors.RunInterrupted` in the main thread, wherever it is (a blocking socket
read included), so the run's own ``except``/``finally`` paths do what they do for any failure:
the run is recorded as failed with "stopped by SIGTERM", the failure alert goes out, the run
lock is released. The CLI then exits with 128 + the signal number (143, 130).

A second signal while the run is already stopping is ignored, so it cannot cut the clean-up
short; SIGKILL still ends the process, and the next run on the same host then takes the lock
over at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from sfsync.errors import RunInterrupted

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Turn ``signals`` into :class:`RunInterrupted` for the block; restore the old handlers.

    Outside the main thread (where Python cannot install handlers) it does nothing; a signal
    the process was started with ignored (``nohup``, a background job of a shell) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return  # already stopping: let the clean-up finish
        stopping = True
        raise RunInterrupted(signal.Signals(signum).name, 128 + signum)

    previous = {
        sig: signal.signal(sig, handler)
        for sig in signals
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
