"""Benchmark the sandbox org itself: how fast it starts and answers at benchmark sizes.

For N accounts (default 10,000) it prints the records loaded, the seconds to start fresh and
to restart from the data dir, and for a full read of the accounts (REST query pages and a
Bulk 2.0 query job) and for writes (sObject Collections of 200 and one Bulk 2.0 job) the API
calls the org counted and the seconds they took.

    python bench/bench_sandbox.py                  # 10,000 accounts
    python bench/bench_sandbox.py --accounts 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sfsync_sandbox import Sandbox  # noqa: E402


def _timed(label: str, func):
    start = time.perf_counter()
    result = func()
    print(f"{label:<48} {time.perf_counter() - start:8.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=2_000, help="records to write each way")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="sfsync-bench-sandbox-"))
    as_of = date(2025, 3, 15)
    sb = _timed(f"fresh start ({args.accounts} accounts)",
                lambda: Sandbox(data_dir=data_dir, accounts=args.accounts, as_of=as_of).start())  # fmt: skip
    org = sb.salesforce_app.org
    print(
        "records loaded: "
        + ", ".join(
            f"{name} {len(org.tables[name])}" for name in ("Account", "User", "Task", "Event")
        )
    )
    sf = sb.simple_salesforce()

    sb.admin.reset_counters()
    rows = _timed("REST query_all of every account", lambda: sf.query_all(
        "SELECT Id, Name, OwnerId, Owner.Email, ARR__c, Tenant_Id__c FROM Account")["records"])  # fmt: skip
    print(f"  rows {len(rows)}, API calls {sb.admin.counters()['api_calls']}")

    sb.admin.reset_counters()
    pages = _timed("Bulk 2.0 query of every account", lambda: list(sf.bulk2.Account.query(
        "SELECT Id, Name, OwnerId, ARR__c FROM Account", wait=0.1)))  # fmt: skip
    print(f"  pages {len(pages)}, API calls {sb.admin.counters()['api_calls']}")

    ids = [r["Id"] for r in rows[: args.writes]]
    sb.admin.reset_counters()

    def collections() -> None:
        for i in range(0, len(ids), 200):
            batch = [
                {"attributes": {"type": "Account"}, "Id": x, "Health_Score__c": 50}
                for x in ids[i : i + 200]
            ]
            sf.restful(
                "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": batch}
            )

    _timed(f"Collections update of {len(ids)} accounts", collections)
    counters = sb.admin.counters()
    print(f"  API calls {counters['api_calls']}, records written {counters['records_written']}")

    sb.admin.reset_counters()
    _timed(f"Bulk 2.0 update of {len(ids)} accounts", lambda: sf.bulk2.Account.update(
        records=[{"Id": x, "Health_Band__c": "green"} for x in ids], wait=0.1))  # fmt: skip
    counters = sb.admin.counters()
    print(f"  API calls {counters['api_calls']}, records written {counters['records_written']}")

    _timed("stop (journal flushed)", sb.stop)
    again = _timed("restart from the data dir", lambda: Sandbox(data_dir=data_dir).start())
    again.stop()


if __name__ == "__main__":
    main()
