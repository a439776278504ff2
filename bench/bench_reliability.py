"""Reliability benchmark: kill -9 at random points of a run, and the fault matrix, against a
clean run's end state. Prints, per trial, the exit codes and the differences, then the totals:
trials that ended in the clean end state, duplicate Tasks, duplicate and lost Slack alerts.

    python bench/bench_reliability.py   # 20 kills over the run, 20 during Slack delivery, faults
    python bench/bench_reliability.py --kills 50 --accounts 150 --seed 3

Every trial runs the real CLI in child processes against a fresh sandbox built from the same
sample book; after a kill or a fault, the next scheduled run(s) follow until one exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.harness import FAULTS, Bench, kill_delays, totals  # noqa: E402


def _line(trial) -> str:
    c = trial.comparison
    diff = "same end state" if c.same else ", ".join(f"{k}={v}" for k, v in vars(c).items() if v)
    codes = " → ".join(str(code) for code in trial.exit_codes)
    note = f" ({trial.note})" if trial.note else ""
    return f"  {trial.name:<44} exits {codes:<14} {diff}{note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="kill -9 trials")
    parser.add_argument("--accounts", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill points")
    parser.add_argument("--no-faults", action="store_true", help="skip the fault matrix")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sfsync-bench-reliability-") as workdir:
        bench = Bench(Path(workdir), accounts=args.accounts)
        reference, duration = bench.reference()
        print(f"clean run: {duration:.2f} s, {len(reference.accounts)} accounts, "
              f"{len(reference.tasks)} keyed Tasks, {sum(reference.alerts.values())} Slack alerts")  # fmt: skip
        print(f"\nkill -9 at {args.kills} random points (seed {args.seed}):")
        kills = []
        for delay in kill_delays(duration, args.kills, args.seed):
            kills.append(bench.killed_trial(reference, delay))
            print(_line(kills[-1]), flush=True)
        print(f"\nkill -9 during Slack delivery ({args.kills} points after slack_enqueued):")
        for delay in kill_delays(1.5, args.kills, args.seed + 1):
            kills.append(bench.killed_trial(reference, delay - 0.2, after_event="slack_enqueued"))
            print(_line(kills[-1]), flush=True)
        faults = []
        if not args.no_faults:
            print("\nfault matrix:")
            for name, inject, clear in FAULTS:
                faults.append(bench.fault_trial(reference, name, inject, clear))
                print(_line(faults[-1]), flush=True)
    print("\ntotals")
    for label, trials in (("kill -9", kills), ("faults", faults)):
        if trials:
            figures = totals(trials)
            print(f"  {label:<8} " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
