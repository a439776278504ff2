"""CPU of the compute stage's Task and field builders against the row-by-row implementations
they replaced (issue 14, compute stage; the references are kept in ``tests/perf/``).

On the sample book of N accounts (default 20,000; ``tests/perf/book.py``: the canonical frames
in the extract stage's dtypes, scored with the default scorecard, and a previous snapshot that
differs from this run) it times, in this process, each function the nightly job's
``compute_scores`` calls with the current code and with the reference, checks that both give
the same result, and prints process CPU seconds (the best of ``--repeat`` runs) and the
speed-up.

    python bench/bench_compute.py                   # 20,000 accounts
    python bench/bench_compute.py --accounts 100000 --repeat 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from old_vs_new import best_cpu, same_frames  # noqa: E402  (bench/, beside this script)


def _same(a, b) -> bool:
    import pandas as pd

    if isinstance(a, pd.DataFrame):
        return same_frames(a, b)
    if hasattr(a, "columns") and hasattr(a, "task_signals"):  # TouchResult
        return _same(a.columns, b.columns) and _same(a.task_signals, b.task_signals)
    return a == b and list(a) == list(b)


def cases(book):
    """(label, current, reference) per function, each a call without arguments."""
    from sfsync.automation import closures, followups, touch, trigger_fields, urgent
    from sfsync.automation.touch import TouchModelPolicy
    from sfsync.salesforce import tasks, upsell
    from tests.perf import (
        reference_closures,
        reference_followups,
        reference_signal_tasks,
        reference_touch,
        reference_trigger_fields,
        reference_upsell,
        reference_urgent,
    )
    from tests.perf.book import PLAYBOOK, TEMPLATES

    b = book
    settings = tasks.TaskSettings()
    followup_args = dict(
        as_of=b.as_of,
        playbook=PLAYBOOK,
        templates=TEMPLATES,
        usage=b.usage,
        activities=b.activities,
        scores=b.scores,
        signals=b.signals,
        previous=b.previous,
        users=b.users,
    )
    closure_args = dict(as_of=b.as_of, playbook=PLAYBOOK, activities=b.activities, usage=b.usage)
    trigger_args = dict(
        as_of=b.as_of,
        onboarding=PLAYBOOK.onboarding,
        renewal_lead_months=PLAYBOOK.renewal.lead_months,
        usage=b.usage,
        activities=b.activities,
    )
    policy = TouchModelPolicy()
    urgent_args = dict(as_of=b.as_of, playbook=PLAYBOOK, templates=TEMPLATES, previous=b.previous)
    task_args = dict(as_of=b.as_of, settings=settings, templates=TEMPLATES, scores=b.scores)
    upsell_args = dict(as_of=b.as_of, templates=TEMPLATES, scores=b.scores)
    ids = b.scores["account_id"]
    return [
        (
            "build_followups",
            lambda: followups.build_followups(b.accounts, **followup_args),
            lambda: reference_followups.build_followups(b.accounts, **followup_args),
        ),
        (
            "closable_followups",
            lambda: closures.closable_followups(b.accounts, **closure_args),
            lambda: reference_closures.closable_followups(b.accounts, **closure_args),
        ),
        (
            "trigger_columns",
            lambda: trigger_fields.trigger_columns(ids, b.accounts, **trigger_args),
            lambda: reference_trigger_fields.trigger_columns(ids, b.accounts, **trigger_args),
        ),
        (
            "touch_columns",
            lambda: touch.touch_columns(
                b.scores, b.signals, b.accounts, as_of=b.as_of, policy=policy
            ),
            lambda: reference_touch.touch_columns(
                b.scores, b.signals, b.accounts, as_of=b.as_of, policy=policy
            ),
        ),
        (
            "build_urgent_tasks",
            lambda: urgent.build_urgent_tasks(
                b.signals, b.scores, b.accounts, b.users, **urgent_args
            ),
            lambda: reference_urgent.build_urgent_tasks(
                b.signals, b.scores, b.accounts, b.users, **urgent_args
            ),
        ),
        (
            "build_signal_tasks",
            lambda: tasks.build_signal_tasks(b.signals, b.accounts, b.users, **task_args),
            lambda: reference_signal_tasks.build_signal_tasks(
                b.signals, b.accounts, b.users, **task_args
            ),
        ),
        (
            "build_upsell_tasks",
            lambda: upsell.build_upsell_tasks(b.signals, b.accounts, b.users, **upsell_args),
            lambda: reference_upsell.build_upsell_tasks(
                b.signals, b.accounts, b.users, **upsell_args
            ),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="a substring of the function names to time")
    args = parser.parse_args(argv)

    from tests.perf.book import sample_book

    started = time.process_time()
    book = sample_book(args.accounts)
    print(
        f"sample book: {len(book.accounts)} accounts, {len(book.usage)} usage rows, "
        f"{len(book.signals)} signals ({time.process_time() - started:.1f} s CPU to build)"
    )
    print(f"  {'function':<22} {'current':>9} {'reference':>10} {'speed-up':>9}  same")
    total_new = total_old = 0.0
    for label, current, reference in cases(book):
        if args.only and args.only not in label:
            continue
        new, new_s = best_cpu(current, args.repeat)
        old, old_s = best_cpu(reference, args.repeat)
        total_new, total_old = total_new + new_s, total_old + old_s
        same = _same(new, old)
        print(
            f"  {label:<22} {new_s:8.3f}s {old_s:9.3f}s {old_s / max(new_s, 1e-9):8.1f}x  {same}",
            flush=True,
        )
    print(f"  {'total':<22} {total_new:8.3f}s {total_old:9.3f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
