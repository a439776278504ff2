"""Benchmark the sync engine's API use against the sandbox org (counts, not timings).

For N accounts (default 10,000) it prints the API calls of

- a naive simple-salesforce loop (one ``Account.update`` per account, one ``Task.create``
  per signal Task) over the same data, on a second sandbox with the same seed;
- sfsync's first run (target: at most 1 % of the naive loop's calls);
- a second run on unchanged inputs (target: 0 write calls; reads in pages of 2,000 records
  or Bulk 2.0 query jobs);
- a run where 1 % of the accounts change (only those are written).

Counts come from the sandbox admin counters (every API call the org received).

    python bench/bench_sync.py                # 10,000 accounts
    python bench/bench_sync.py --accounts 2000 --naive-sample 500
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = date(2025, 3, 15)


def _client(sb):
    from sfsync.config import load_settings
    from sfsync.salesforce.client import connect

    settings = load_settings(None, env=sb.env())
    return connect(settings.salesforce, verify=sb.ca_bundle)


def _write_calls(counters: dict) -> int:
    return sum(
        n
        for endpoint, n in counters["calls"].items()
        if endpoint.split(" ")[0] in ("PATCH", "POST", "PUT", "DELETE") and "query" not in endpoint
    )


def _phase(sb, label: str, fn):
    sb.admin.reset_counters()
    started = time.monotonic()
    outcome = fn()
    counters = sb.admin.counters()
    return {
        "label": label,
        "api_calls": counters["api_calls"],
        "write_calls": _write_calls(counters),
        "records_written": counters["records_written"],
        "calls": counters["calls"],
        "seconds": time.monotonic() - started,
        "outcome": outcome,
    }


def _naive(sb, scores, signals, accounts, users, sample: int | None):
    """One update per account and one create per Task, with simple-salesforce directly."""
    from sfsync.salesforce.diff import build_plan
    from sfsync.salesforce.mapping import load_mapping
    from sfsync.salesforce.planner import desired_account_fields, load_sync_config, signal_tasks
    from tests.sync.runner import MAPPINGS

    client = _client(sb)
    config = load_sync_config(MAPPINGS)
    mapping = load_mapping(MAPPINGS / "account_fields.yaml")
    desired = desired_account_fields(scores, AS_OF)
    tasks = signal_tasks(config, signals, accounts, users, as_of=AS_OF, scores=scores)
    # the same values sfsync writes, computed offline against an empty org view
    empty = desired[["account_id"]].rename(columns={"account_id": "Id"})
    plan = build_plan(desired, empty, tasks, None, mapping)
    records, task_rows = list(plan.records), list(plan.task_writes)
    if sample:
        records, task_rows = (
            records[:sample],
            task_rows[: max(1, sample * len(task_rows) // len(plan.records))],
        )
    sf = client.sf
    for record in records:
        sf.Account.update(record.key, record.values())
    for task in task_rows:
        sf.Task.create(dict(task.fields))
    return {
        "accounts": len(plan.records),
        "tasks": len(plan.task_writes),
        "sampled_accounts": len(records),
        "sampled_tasks": len(task_rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=0,
        help="run the naive loop on this many accounts only and extrapolate (0: all)",
    )
    args = parser.parse_args(argv)

    from sfsync_sandbox import Sandbox

    from sfsync.state.db import open_store
    from tests.sync.runner import owner_frames, sync_once
    from tests.sync.synthetic import synthetic_result

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        credentials = tmp_path / "credentials"  # one CA for both sandboxes
        org = {
            "accounts": args.accounts,
            "seed": args.seed,
            "as_of": AS_OF,
            "credentials_dir": credentials,
        }
        with (
            Sandbox(data_dir=tmp_path / "sfsync", **org) as sb,
            Sandbox(data_dir=tmp_path / "naive", **org) as naive_sb,
        ):
            # requests lets REQUESTS_CA_BUNDLE override Session.verify: point it at the CA
            os.environ["REQUESTS_CA_BUNDLE"] = sb.ca_bundle
            client = _client(sb)
            accounts, users = owner_frames(client)
            ids = sorted(accounts["account_id"])
            scores, signals = synthetic_result(ids)
            store = open_store(f"sqlite:///{tmp_path / 'state.db'}")

            n_accounts = len(ids)
            naive = _phase(
                naive_sb,
                "naive loop",
                lambda: _naive(
                    naive_sb, scores, signals, accounts, users, args.naive_sample or None
                ),
            )
            info = naive["outcome"]
            naive_calls = naive["api_calls"]
            if args.naive_sample:
                per_write = naive_calls / max(1, info["sampled_accounts"] + info["sampled_tasks"])
                naive_calls = round(per_write * (info["accounts"] + info["tasks"]))

            def run(scores_frame, signals_frame):
                return sync_once(
                    client, scores_frame, signals_frame, accounts, users, as_of=AS_OF, store=store
                )

            first = _phase(sb, "first run", lambda: run(scores, signals))
            second = _phase(sb, "second run (unchanged)", lambda: run(scores, signals))
            changed = set(ids[::100])
            scores_c, signals_c = synthetic_result(ids, changed=changed)
            third = _phase(sb, "1 % changed", lambda: run(scores_c, signals_c))

    print(
        f"sfsync sync benchmark: {n_accounts} accounts, {len(signals)} signal Tasks, as of {AS_OF}"
    )
    naive_note = " (extrapolated from a sample)" if args.naive_sample else ""
    print(
        f"  naive simple-salesforce loop : {naive_calls:>7} API calls{naive_note} "
        f"({info['accounts']} updates + {info['tasks']} creates)"
    )
    for phase in (first, second, third):
        plan = phase["outcome"].plan
        print(
            f"  {phase['label']:<29}: {phase['api_calls']:>7} API calls, "
            f"{phase['write_calls']} write calls, {phase['records_written']} records written "
            f"(plan: {len(plan.records)} accounts, {len(plan.task_writes)} Tasks) "
            f"[{phase['seconds']:.1f} s]"
        )
    ratio = first["api_calls"] / naive_calls if naive_calls else float("nan")
    reads = second["api_calls"]
    pages = math.ceil(n_accounts / 2000)
    print(f"  first run / naive            : {ratio:.2%} (target <= 1 %)")
    print(
        f"  second run reads             : {reads} calls (ceil({n_accounts}/2000) = {pages} "
        f"pages + a handful); writes {second['write_calls']} (target 0)"
    )
    print(
        f"  1 % changed                  : {len(changed)} accounts changed, "
        f"{third['outcome'].plan.records.__len__()} planned, "
        f"{third['records_written']} records written"
    )
    for phase in (first, second, third):
        detail = ", ".join(f"{k} {v}" for k, v in sorted(phase["calls"].items()))
        print(f"    {phase['label']}: {detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
