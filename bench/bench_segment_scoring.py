"""Benchmark: a scorecard per segment (``compute.scorecards``) against one scorecard.

    python bench/bench_segment_scoring.py                    # 200,000 accounts
    python bench/bench_segment_scoring.py --accounts 1000000

Generates the synthetic book of ``bench_scoring.py`` plus the seed-000 inputs (adoption
checklists and market fields) on every account, then prints, for ``score_accounts`` with the
default scorecard and for ``score_by_segment`` with S and A scored by seed000: the median wall
time of ``--repeat`` runs, the accounts each scorecard scored, the band counts, and whether the
accounts left to the default scorecard kept exactly the figures of the one-scorecard run.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scoring import generate  # noqa: E402

from sfsync.scoring import load_scorecard, score_accounts  # noqa: E402
from sfsync.scoring.segmented import score_by_segment  # noqa: E402
from sfsync.templates import load_templates  # noqa: E402

EMPLOYMENT = np.array(["part-time", "contract", "full-time", "outsourcing", None], dtype=object)


def with_seed000_inputs(accounts: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The accounts with the seed-000 inputs: steps done in order, market fields at random."""
    rng = np.random.default_rng([seed, 17])
    n = len(accounts)
    columns = {}
    for area, steps in (("postings", 5), ("management", 5), ("paid_ads", 4)):
        done = rng.integers(0, steps + 1, n)
        for step in range(1, steps + 1):
            columns[f"adoption_{area}_step{step}"] = pd.array(done >= step, dtype="boolean")
    columns["employment_type"] = pd.Series(EMPLOYMENT[rng.integers(0, 5, n)], dtype="string")
    columns["recruiting_area_count"] = rng.integers(1, 9, n).astype("float64")
    columns["annual_media_spend_jpy"] = np.round(rng.lognormal(15.4, 0.5, n), -4)
    return pd.concat([accounts, pd.DataFrame(columns, index=accounts.index)], axis=1)


def _timed(run, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return result, statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--as-of", default="2025-03-15")
    args = parser.parse_args(argv)
    as_of = date.fromisoformat(args.as_of)
    default = load_scorecard(ROOT / "mappings/scorecards/default.yaml")
    seed000 = load_scorecard(ROOT / "mappings/scorecards/seed000.yaml")
    templates = load_templates(ROOT / "mappings/templates", "ja")

    accounts, usage, activities, _ = generate(args.accounts, args.months, args.seed, as_of)
    accounts = with_seed000_inputs(accounts, args.seed)
    print(f"{len(accounts):,} accounts, {len(usage):,} usage rows, {len(activities):,} activities")

    one, one_time = _timed(
        lambda: score_accounts(
            accounts, usage, activities, as_of=as_of, scorecard=default, templates=templates
        ),
        args.repeat,
    )
    mixed, mixed_time = _timed(
        lambda: score_by_segment(
            accounts, usage, activities, as_of=as_of, scorecard=default,
            by_segment={"S": seed000, "A": seed000}, templates=templates,
        ),
        args.repeat,
    )  # fmt: skip
    per_card = mixed.scores["scorecard"].value_counts().to_dict()
    print(f"one scorecard      {one_time:7.2f} s  (median of {args.repeat})")
    print(f"per segment (S, A) {mixed_time:7.2f} s  ({mixed_time / one_time:.2f}x)")
    print(f"scored by          {', '.join(f'{k} {v:,}' for k, v in per_card.items())}")
    for name, result in (("one scorecard", one), ("per segment", mixed)):
        bands = result.scores["health_band"].value_counts().to_dict()
        print(f"bands {name:13} {', '.join(f'{k} {v:,}' for k, v in bands.items())}")
    kept = (mixed.scores["scorecard"] == "default").to_numpy()
    columns = list(one.scores.columns)

    def plain(frame: pd.DataFrame) -> pd.DataFrame:  # categories differ, values must not
        frame = frame.loc[kept, columns].reset_index(drop=True)
        return frame.apply(lambda c: c.astype("string") if c.dtype == "category" else c)

    same = plain(one.scores).equals(plain(mixed.scores))
    print(f"default-scored accounts unchanged: {'yes' if same else 'NO'} ({int(kept.sum()):,})")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
