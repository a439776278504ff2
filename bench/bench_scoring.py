"""Benchmark: score N synthetic accounts with 13 months of usage, vectorised vs per-row.

    python bench/bench_scoring.py                     # 1,000,000 accounts (~12M usage rows)
    python bench/bench_scoring.py --accounts 100000 --sample 5000

Prints the wall time and memory of ``score_accounts`` on the whole set, the time of the
straightforward per-row reference (tests/scoring/reference.py) on a random sample of accounts
extrapolated to N, checks that both agree on every sampled account, and prints the ratio.

Timing: ``score_accounts`` runs ``--repeat`` times (default 3); the median is compared with
the per-row run (the machine is shared, so single runs are noisy).

Memory (first run): the peak resident set size (RSS, from /proc/self/statm, sampled every 5 ms by a
thread) while ``score_accounts`` runs, and its increase over the RSS just before the call
(the input frames are already in memory then; freed heap is returned with malloc_trim first). ``resource.getrusage().ru_maxrss`` (the
process-lifetime peak, including data generation) is printed as a cross-check.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sfsync.calendar import shift_months_clamped  # noqa: E402
from sfsync.scoring import load_scorecard, score_accounts  # noqa: E402
from tests.scoring.reference import score_rows  # noqa: E402

COMPARED = [
    "health_score", "health_band", "usage_points", "engagement_points", "outcome_points",
    "contract_points", "segment", "lifecycle_phase", "signals",
]  # fmt: skip
INDUSTRIES = np.array(["Technology", "Manufacturing", "Finance", "Retail", "Healthcare",
                       "Education", "Media", "Consulting", "Other", ""], dtype=object)  # fmt: skip
PAGE = os.sysconf("SC_PAGE_SIZE")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    return prefix + pd.Series(numbers).astype("str").str.zfill(width)


def generate(n: int, months: int, seed: int, as_of: date):
    """Canonical accounts, usage (``months`` months, ~10 % idle tenant-months omitted) and
    activities (~3 per account) frames."""
    rng = np.random.default_rng(seed)
    as_of_d = np.datetime64(as_of, "D")
    account_ids = _ids("001", np.arange(n), 15)
    tenant_ids = _ids("T", np.arange(n), 8)
    linked = rng.random(n) > 0.03
    start = as_of_d - rng.integers(0, 2000, n).astype("timedelta64[D]")
    start = np.where(rng.random(n) < 0.01, np.datetime64("NaT"), start)
    renewal = as_of_d + rng.integers(-30, 400, n).astype("timedelta64[D]")
    accounts = pd.DataFrame(
        {
            "account_id": account_ids,
            "name": "Customer",
            "owner_id": "005000000000001AAA",
            "arr": np.round(rng.lognormal(13.8, 1.0, n), -3),
            "is_enterprise": pd.array(rng.random(n) < 0.02, dtype="boolean"),
            "contract_start": pd.to_datetime(start),
            "renewal_date": pd.to_datetime(renewal),
            "industry": pd.Series(INDUSTRIES[rng.integers(0, len(INDUSTRIES), n)]).replace(
                "", None
            ),
            "tenant_id": tenant_ids.where(linked),
            "competitor_evaluation": pd.array(rng.random(n) < 0.01, dtype="boolean"),
        }
    )
    first = date(as_of.year, as_of.month, 1)
    month_starts = [shift_months_clamped(first, -k) for k in range(months, 0, -1)]
    labels = np.array([f"{m:%Y-%m}" for m in month_starts], dtype=object)
    tenant_pos = np.flatnonzero(linked)
    rows_tenant = np.tile(tenant_pos, months)
    rows_month = np.repeat(np.arange(months), len(tenant_pos))
    keep = rng.random(len(rows_tenant)) > 0.10  # idle tenants are omitted by usage queries
    rows_tenant, rows_month = rows_tenant[keep], rows_month[keep]
    m = len(rows_tenant)
    month_start_days = np.array(month_starts, dtype="datetime64[D]")[rows_month]
    activity_level = rng.gamma(2.0, 1.0, n)[rows_tenant]
    usage = pd.DataFrame(
        {
            "tenant_id": tenant_ids.to_numpy()[rows_tenant],
            "month": pd.Series(labels[rows_month], dtype="str"),
            "deliveries": rng.poisson(activity_level).astype("float64"),
            "login_days": np.minimum(rng.poisson(activity_level * 3), 28).astype("float64"),
            "last_login_date": pd.to_datetime(
                month_start_days + rng.integers(0, 28, m).astype("timedelta64[D]")
            ),
            "pipeline_conversion_rate": np.round(rng.beta(2, 8, m), 4),
            "plan_usage_ratio": np.round(rng.beta(3, 4, m), 3),
            "support_tickets": rng.poisson(0.6, m).astype("float64"),
        }
    )
    usage["tenant_id"] = usage["tenant_id"].astype("str")
    k = 3 * n
    activities = pd.DataFrame(
        {
            "account_id": account_ids.to_numpy()[rng.integers(0, n, k)],
            "date": pd.to_datetime(as_of_d - rng.integers(-20, 200, k).astype("timedelta64[D]")),
            "type": pd.Series(
                np.array(["call", "email", "meeting", "qbr"], dtype=object)[
                    rng.choice(4, k, p=[0.3, 0.4, 0.25, 0.05])
                ],
                dtype="str",
            ),
            "completed": pd.array(rng.random(k) < 0.85, dtype="boolean"),
        }
    )
    activities["account_id"] = activities["account_id"].astype("str")
    previous = pd.DataFrame(
        {"account_id": account_ids, "health_score": rng.integers(0, 101, n), "health_band": "x"}
    )
    return accounts, usage, activities, previous


class PeakRss:
    """Samples this process's RSS in a thread; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.peak = self.start = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def _release_free_memory() -> None:
    """Return freed heap pages to the OS (glibc), so that the RSS before scoring is the
    input frames, not garbage left over from generating them."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _plain(value):
    return None if value is None or pd.isna(value) else value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--sample", type=int, default=10_000, help="accounts run per-row")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of score_accounts")
    parser.add_argument("--as-of", default="2025-03-15")
    args = parser.parse_args(argv)
    as_of = date.fromisoformat(args.as_of)
    card = load_scorecard(Path(__file__).resolve().parents[1] / "mappings/scorecards/default.yaml")

    t0 = time.perf_counter()
    accounts, usage, activities, previous = generate(args.accounts, args.months, args.seed, as_of)
    print(
        f"generated {len(accounts):,} accounts, {len(usage):,} usage rows, "
        f"{len(activities):,} activities in {time.perf_counter() - t0:.1f} s"
    )
    gc.collect()
    _release_free_memory()
    with PeakRss() as mem:
        t0 = time.perf_counter()
        result = score_accounts(
            accounts, usage, activities, as_of=as_of, scorecard=card, previous=previous
        )
        times = [time.perf_counter() - t0]
    for _ in range(args.repeat - 1):  # the machine is shared: repeat, report min and median
        del result
        gc.collect()
        t0 = time.perf_counter()
        result = score_accounts(
            accounts, usage, activities, as_of=as_of, scorecard=card, previous=previous
        )
        times.append(time.perf_counter() - t0)
    vector_s = float(np.median(times))
    gib = 1024**3
    print(
        f"vectorised score_accounts: median {vector_s:.2f} s, best {min(times):.2f} s "
        f"over {len(times)} runs ({', '.join(f'{t:.2f}' for t in times)}) "
        f"for {len(result.scores):,} accounts; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"memory: peak RSS during scoring {mem.peak / gib:.2f} GiB "
        f"(+{(mem.peak - mem.start) / gib:.2f} GiB over the {mem.start / gib:.2f} GiB held "
        f"before the call); ru_maxrss of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB"
    )
    print("bands:", result.scores["health_band"].value_counts().to_dict())

    rng = np.random.default_rng(args.seed + 1)
    sample_idx = np.sort(rng.choice(len(accounts), min(args.sample, len(accounts)), replace=False))
    s_accounts = accounts.iloc[sample_idx].reset_index(drop=True)
    s_usage = usage[usage["tenant_id"].isin(s_accounts["tenant_id"].dropna())]
    s_acts = activities[activities["account_id"].isin(s_accounts["account_id"])]
    s_prev = dict(
        zip(
            previous["account_id"].iloc[sample_idx],
            previous["health_score"].iloc[sample_idx],
            strict=True,
        )
    )
    t0 = time.perf_counter()
    expected = score_rows(
        s_accounts, s_usage, s_acts, as_of, benchmarks=card.benchmark_table, previous=s_prev
    )
    row_s = time.perf_counter() - t0
    per_row_total = row_s * len(accounts) / len(s_accounts)
    print(
        f"per-row reference: {row_s:.2f} s for {len(s_accounts):,} sampled accounts "
        f"-> {per_row_total:.0f} s extrapolated to {len(accounts):,}"
    )
    got = result.scores.iloc[sample_idx][["account_id", *COMPARED]].to_dict("records")
    mismatches = [
        (g["account_id"], {c: (_plain(g[c]), e[c]) for c in COMPARED if _plain(g[c]) != e[c]})
        for g, e in zip(got, expected, strict=True)
        if any(_plain(g[c]) != e[c] for c in COMPARED)
    ]
    print(
        f"agreement on the sample: {len(got) - len(mismatches):,}/{len(got):,} accounts identical"
    )
    for account_id, diff in mismatches[:5]:
        print("  mismatch", account_id, diff)
    print(
        f"speed-up: {per_row_total / vector_s:.0f}x faster than per-row (median run; "
        f"{per_row_total / min(times):.0f}x with the best run)"
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
