"""The state store: run ledger, score snapshots, signal ledger, quarantine, run locks.

``open_store(url)`` returns a :class:`Store`; the functions below take it as first argument.
Every table lives on ``sfsync.state.db.metadata``.
"""

from sfsync.state.db import MIGRATIONS, Migration, Store, metadata, open_store
from sfsync.state.lock import RunLock, run_lock
from sfsync.state.runs import RunRecord, finish_run, get_run, last_runs, start_run

__all__ = [
    "MIGRATIONS",
    "Migration",
    "RunLock",
    "RunRecord",
    "Store",
    "finish_run",
    "get_run",
    "last_runs",
    "metadata",
    "open_store",
    "run_lock",
    "start_run",
]
