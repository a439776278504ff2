"""Benchmark Slack on a first nightly run (counts, not timings).

Runs the real nightly job (``sfsync run nightly`` in a child process, as a scheduler would)
against a practice org of N accounts (default 10,000) with its Slack Web API, then the next
night, and prints per run: Slack API calls by method (from the sandbox's Slack counters),
messages posted, the new signals they cover, owners, the owners whose digest carried their
worklist (today's top accounts; ``--worklist`` sets the playbook's
``touch_model.worklist_in_digest``), the Tasks created and deferred by the per-owner daily
limit, and the seconds the pacing waited (``slack.pace_seconds``, default 1).

    python bench/bench_slack.py                  # 10,000 accounts
    python bench/bench_slack.py --accounts 2000 --pace 0
    python bench/bench_slack.py --worklist with_signals
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = date(2025, 3, 15)
NIGHTS = ("2025-03-15", "2025-03-16")


def _figure(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    return int(found.group(1).replace(",", "")) if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pace", type=float, default=1.0, help="slack.pace_seconds")
    parser.add_argument(
        "--worklist",
        choices=("always", "with_signals", "never"),
        default="always",
        help="the playbook's touch_model.worklist_in_digest",
    )
    args = parser.parse_args(argv)

    from sfsync_sandbox import Sandbox

    from tests.cli_process import add_settings, make_project, run_sfsync

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        with Sandbox(
            data_dir=tmp_path / "org",
            accounts=args.accounts,
            seed=args.seed,
            as_of=AS_OF,
            credentials_dir=tmp_path / "credentials",
        ) as sb:
            os.environ["REQUESTS_CA_BUNDLE"] = sb.ca_bundle
            config = make_project(tmp_path / "project")
            add_settings(config, {"slack": {"pace_seconds": args.pace}})
            playbook = config.parent / "mappings" / "playbook.yaml"
            text = playbook.read_text(encoding="utf-8")
            assert "worklist_in_digest: always" in text, "the shipped playbook's setting moved"
            playbook.write_text(
                text.replace("worklist_in_digest: always", f"worklist_in_digest: {args.worklist}"),
                encoding="utf-8",
            )
            owners = len({a["OwnerId"] for a in sb.admin.records("Account")})
            print(
                f"sfsync Slack benchmark: {args.accounts:,} accounts, {owners} owners, "
                f"pace {args.pace} s per channel, worklist in digest: {args.worklist}"
            )
            for night in NIGHTS:
                before = dict(sb.admin.slack_counters())
                posted_before = len(sb.admin.slack_messages())
                started = time.monotonic()
                proc = run_sfsync(config, sb, "run", "nightly", "--as-of", night)
                seconds = time.monotonic() - started
                if proc.returncode not in (0, 3):
                    print(proc.stdout[-3000:], proc.stderr[-3000:])
                    return 1
                out = proc.stdout
                after = sb.admin.slack_counters()
                calls = {
                    k: after[k] - before.get(k, 0)
                    for k in after
                    if "." in k and after[k] - before.get(k, 0)
                }
                posted = len(sb.admin.slack_messages()) - posted_before
                signals = _figure(r"alerted\s+([\d,]+) new signals", out)
                created = _figure(r"([\d,]+) tasks created", out)
                deferred = _figure(r"deferred\s+([\d,]+) new tasks", out)
                listed = _figure(r"worklists\s+([\d,]+) owners?", out)
                detail = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
                print(
                    f"  night {night}: {sum(calls.values())} Slack calls ({detail}); "
                    f"{posted} messages for {signals:,} new signals "
                    f"(one per signal would be {signals:,}+); {listed:,} owners got their "
                    "worklist; "
                    f"{created:,} Tasks created, {deferred:,} deferred; run took {seconds:.0f} s"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
