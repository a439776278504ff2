"""The state store: run ledger, score snapshots (stored as changes), signal ledger, quarantine,
run locks.

``open_store(url)`` returns a :class:`Store`; the functions below take it as first argument.
Every table lives on ``sfsync.state.db.metadata``; tables defined in any ``sfsync/state/*.py``
module are created automatically by ``open_store``.
"""

from sfsync.state.db import (
    MIGRATIONS,
    Migration,
    Store,
    StoreStatus,
    metadata,
    open_store,
    store_status,
)
from sfsync.state.lock import LockedError, RunLock, run_lock
from sfsync.state.quarantine import quarantine_counts, quarantined_rows, record_quarantine
from sfsync.state.runs import RunRecord, finish_run, get_run, last_runs, start_run
from sfsync.state.signals import SignalChanges, active_signals, sync_signals
from sfsync.state.snapshots import history, previous_scores, save_snapshots, snapshot_dates

__all__ = [
    "MIGRATIONS",
    "LockedError",
    "Migration",
    "RunLock",
    "RunRecord",
    "SignalChanges",
    "Store",
    "StoreStatus",
    "active_signals",
    "finish_run",
    "get_run",
    "history",
    "last_runs",
    "metadata",
    "open_store",
    "previous_scores",
    "quarantine_counts",
    "quarantined_rows",
    "record_quarantine",
    "run_lock",
    "save_snapshots",
    "snapshot_dates",
    "start_run",
    "store_status",
    "sync_signals",
]
