"""Benchmark: the engagement signals' share of ``score_accounts`` on N synthetic accounts.

    python bench/bench_engagement.py                   # 200,000 accounts, 13 months of usage
    python bench/bench_engagement.py --accounts 1000000

Builds usage rows with the engagement columns (``video_views``, ``document_views``,
``email_opens``, ``email_clicks``, ``tutorial_completed_at``), then prints the usage row count,
the wall time of ``score_accounts`` with and without those columns (median of ``--repeat``
runs; the machine is shared), the time of :func:`engagement_signals` alone, and how many
accounts each engagement signal flags.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sfsync.scoring import load_scorecard, score_accounts  # noqa: E402
from sfsync.scoring.engagement_signals import engagement_signals  # noqa: E402
from sfsync.scoring.features import build_features  # noqa: E402
from sfsync.scoring.rules import SignalRules  # noqa: E402
from sfsync.templates import load_templates  # noqa: E402

ENGAGEMENT = ["video_views", "document_views", "email_opens", "email_clicks"]


def frames(n: int, months: int, as_of: date, seed: int):
    rng = np.random.default_rng(seed)
    ids = np.char.add("001", np.char.zfill(np.arange(n).astype(str), 15))
    tenants = np.char.add("t", np.arange(n).astype(str))
    start = pd.Timestamp(as_of) - pd.to_timedelta(rng.integers(7, 1500, n), unit="D")
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "name": "x",
            "owner_id": np.char.add("005", (np.arange(n) % 200).astype(str)),
            "arr": rng.integers(1, 80, n) * 100_000.0,
            "is_enterprise": pd.array(rng.random(n) < 0.05, dtype="boolean"),
            "contract_start": start,
            "renewal_date": start + pd.DateOffset(years=2),
            "industry": "Technology",
            "tenant_id": pd.array(tenants, dtype="string"),
            "competitor_evaluation": pd.array(np.zeros(n, bool), dtype="boolean"),
        }
    )
    month_list = pd.period_range(end=pd.Period(as_of, "M") - 1, periods=months, freq="M")
    rows = n * months
    usage = pd.DataFrame(
        {
            "tenant_id": pd.array(np.repeat(tenants, months), dtype="string"),
            "month": pd.array(np.tile(month_list.strftime("%Y-%m"), n), dtype="string"),
            "deliveries": rng.poisson(3, rows).astype(float),
            "login_days": rng.poisson(6, rows).astype(float),
            "last_login_date": pd.Timestamp(as_of)
            - pd.to_timedelta(rng.integers(1, 90, rows), "D"),
            "pipeline_conversion_rate": rng.random(rows),
            "plan_usage_ratio": rng.random(rows),
            "support_tickets": rng.poisson(1, rows).astype(float),
        }
    )
    engaged = usage.copy()
    for column, mean in zip(ENGAGEMENT, (12, 4, 8, 2), strict=True):
        engaged[column] = rng.poisson(mean, rows).astype(float)
    done = rng.random(n) < 0.8
    at = np.where(done, (start + pd.to_timedelta(rng.integers(1, 60, n), "D")).to_numpy(), None)
    engaged["tutorial_completed_at"] = pd.to_datetime(np.repeat(at, months))
    activities = pd.DataFrame(
        {
            "account_id": ids[:1],
            "date": [pd.Timestamp(as_of)],
            "type": ["call"],
            "completed": pd.array([True], dtype="boolean"),
        }
    )
    return accounts, usage, engaged, activities


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    as_of = date(2025, 3, 15)
    accounts, usage, engaged, activities = frames(args.accounts, args.months, as_of, args.seed)
    card = load_scorecard("mappings/scorecards/default.yaml")
    templates = load_templates("mappings/templates", "ja")

    def score(u):
        return lambda: score_accounts(
            accounts, u, activities, as_of=as_of, scorecard=card, templates=templates
        )

    print(f"accounts {args.accounts:,}  usage rows {len(engaged):,}")
    plain, _ = timed(score(usage), args.repeat)
    full, result = timed(score(engaged), args.repeat)
    feats = build_features(accounts, engaged, activities, as_of=as_of)
    alone, _ = timed(
        lambda: engagement_signals(
            feats.frame,
            accounts["tenant_id"],
            engaged,
            feats.linked,
            as_of=as_of,
            rules=SignalRules(),
        ),
        args.repeat,
    )
    print(f"score_accounts without engagement columns  {plain:8.2f} s")
    print(f"score_accounts with engagement columns     {full:8.2f} s")
    print(f"engagement_signals alone                   {alone:8.2f} s")
    counts = result.signals["code"].value_counts()
    for code in ("tutorial_not_completed", "onboarding_videos_unwatched",
                 "email_engagement_falling", "content_interest_rising"):  # fmt: skip
        print(f"  {code:<30} {int(counts.get(code, 0)):>10,} accounts")


if __name__ == "__main__":
    main()
