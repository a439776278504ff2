"""Helper process for the lock tests: python lock_holder.py URL JOB TTL HOLD MODE.

Prints "won" or "locked: <message>" on stdout (then, in "crash_run", the run id). MODE "hold"
keeps the lock HOLD seconds and releases it; MODE "crash" exits hard right after taking it (no
release, no heartbeat); MODE "crash_run" also records a run in the ledger (left ``running``)
before exiting hard.
"""

import os
import sys
import time
from datetime import date

from sfsync.errors import LockedError
from sfsync.log import configure_logging
from sfsync.state import open_store, run_lock, start_run

url, job, ttl, hold, mode = (
    sys.argv[1],
    sys.argv[2],
    float(sys.argv[3]),
    float(sys.argv[4]),
    sys.argv[5],
)
configure_logging("json", 0)  # logs to stderr, results on stdout
store = open_store(url)
start_at = float(os.environ.get("START_AT", "0"))
while time.time() < start_at:
    time.sleep(0.001)
try:
    with run_lock(store, job, ttl_seconds=ttl, heartbeat_interval=0.2):
        print("won", flush=True)
        if mode == "crash_run":
            print(start_run(store, job, date(2025, 3, 15)), flush=True)
        if mode in ("crash", "crash_run"):
            os._exit(0)
        time.sleep(hold)
except LockedError as exc:
    print(f"locked: {exc}", flush=True)
