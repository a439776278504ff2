"""CPU of the plan stage and the daily Task limit against the row-by-row implementations they
replaced (issue 14 item 6; the references are kept in ``tests/perf/reference_plan.py``).

On a same-date re-run of the sample book of N accounts (default 100,000;
``tests/perf/plan_book.py``: the desired Account fields and Tasks of ``tests/perf/book.py``,
the org's Tasks after a first run that created each owner's first Tasks under the daily limit,
with some closed, edited or deleted by CSMs and open signal Tasks of an earlier month) it
times, in this process, with the current code and with the reference:

- ``build_plan`` (the Account diff, the signal hygiene and the Task diff), and within it
  ``signal_task_hygiene`` and ``diff_tasks`` alone;
- ``read_task_state``'s local work (a stand-in client answers from the frames in memory);
- the Task limit (``pipeline.limit_new_tasks``: new Tasks, ranking, split, deferral) with the
  first run's Tasks counted for the day (every new Task deferred) and with fewer counted;
- ``loop_escalations``' key matching,

checks that both give the same result and prints process CPU seconds (the best of
``--repeat`` runs) and the speed-up.

    python bench/bench_plan.py                        # 100,000 accounts
    python bench/bench_plan.py --accounts 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from old_vs_new import best_cpu, same_frames  # noqa: E402  (bench/, beside this script)


def _same(a, b) -> bool:
    import pandas as pd

    if isinstance(a, pd.DataFrame):
        return same_frames(a, b)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "deferred") and hasattr(a, "plan"):  # pipeline.Limited
        return (
            a.plan == b.plan
            and a.limit == b.limit
            and _same(a.new, b.new)
            and _same(a.deferred, b.deferred)
        )
    return a == b


class StandIn:
    """A client answering ``read_task_state``'s queries from frames in memory: the wide-period
    query with ``existing``, the open-signal query with ``others`` (the open signal Tasks of
    other periods), a key ``IN`` list with the rows of ``existing`` it names."""

    def __init__(self, existing, others) -> None:
        from sfsync.plan import TASK_KEY_FIELD

        self.existing, self.others = existing, others
        self.by_key: dict[str, list[dict[str, Any]]] = {}
        for row in existing.to_dict(orient="records"):
            self.by_key.setdefault(str(row[TASK_KEY_FIELD]), []).append(row)

    def query_frame(self, soql: str, include_deleted: bool = False):
        return self.existing if include_deleted else self.others

    def query(self, soql: str, include_deleted: bool = False):
        keys = re.findall(r"'((?:[^'\\]|\\.)*)'", soql.split(" IN ", 1)[-1])
        return [row for key in keys for row in self.by_key.get(key, [])]


def cases(pb):
    """(label, current, reference) per step, each a call without arguments."""
    from sfsync import pipeline
    from sfsync.automation.task_limit import DEFERRED_REASON
    from sfsync.plan import TASK_KEY_FIELD
    from sfsync.salesforce import diff, reader
    from sfsync.salesforce.planner import LoopContext, load_sync_config, loop_escalations
    from tests.perf import reference_plan as ref
    from tests.perf.book import PLAYBOOK
    from tests.perf.plan_book import ME

    def close_description(task, code):
        return f"{task.get('Description')}\nclosed: {code}"

    plan_args = (pb.desired_fields, pb.current, pb.desired_tasks, pb.existing, pb.mapping)
    plan_kwargs = dict(
        integration_user_id=ME,
        pending=pb.pending,
        open_signal_tasks=pb.open_signal,
        close_description=close_description,
    )
    scope = set(pb.desired_fields["account_id"].dropna().astype(str))
    hygiene_kwargs = dict(
        scope_accounts=scope, integration_user_id=ME, close_description=close_description
    )
    held, _ = diff.signal_task_hygiene(pb.desired_tasks, pb.open_signal, **hygiene_kwargs)
    task_kwargs = dict(integration_user_id=ME, pending=pb.pending, held=held)
    plan = diff.build_plan(*plan_args, **plan_kwargs)
    computed = SimpleNamespace(scores=SimpleNamespace(scores=pb.book.scores))
    fewer = {owner: max(0, n - 4) for owner, n in pb.created_today.items()}
    partly = set(sorted(pb.counted)[::5])
    keys = [*pb.desired_tasks["sync_key"].astype(str), *(p.key for p in pb.pending)]
    month = pb.existing[TASK_KEY_FIELD].str.rsplit(":", n=1).str[-1]
    wide = pb.existing[month.isin(month.value_counts()[lambda c: c > 200].index).to_numpy()]
    others = pb.open_signal[~pb.open_signal["Id"].isin(wide["Id"]).to_numpy()]
    client = StandIn(wide, others.reset_index(drop=True))
    config = load_sync_config("mappings")
    loop = LoopContext(users=None, account_names={})

    def limit(module, created_today, counted):
        return module.limit_new_tasks(
            plan, computed, pb.book.accounts, PLAYBOOK, created_today, counted
        )

    def escalations(function):
        # the key matching only: no open signal Task is overdue, so none escalates
        return function(
            pb.open_signal, pb.desired_tasks, loop, config, as_of=pb.book.as_of, scope=[]
        )

    assert DEFERRED_REASON == ref.DEFERRED_REASON
    return [
        (
            "build_plan",
            lambda: diff.build_plan(*plan_args, **plan_kwargs),
            lambda: ref.build_plan(*plan_args, **plan_kwargs),
        ),
        (
            "  signal_task_hygiene",
            lambda: diff.signal_task_hygiene(pb.desired_tasks, pb.open_signal, **hygiene_kwargs),
            lambda: ref.signal_task_hygiene(pb.desired_tasks, pb.open_signal, **hygiene_kwargs),
        ),
        (
            "  diff_tasks",
            lambda: diff.diff_tasks(pb.desired_tasks, pb.existing, **task_kwargs),
            lambda: ref.diff_tasks(pb.desired_tasks, pb.existing, **task_kwargs),
        ),
        (
            "read_task_state (local)",
            lambda: reader.read_task_state(client, keys, open_signals=True),
            lambda: ref.read_task_state(client, keys, open_signals=True),
        ),
        (
            "Task limit, all deferred",
            lambda: limit(pipeline, pb.created_today, pb.counted),
            lambda: limit(ref, pb.created_today, pb.counted),
        ),
        (
            "Task limit, some kept",
            lambda: limit(pipeline, fewer, partly),
            lambda: limit(ref, fewer, partly),
        ),
        (
            "loop_escalations",
            lambda: escalations(loop_escalations),
            lambda: escalations(ref.loop_escalations),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", default="", help="a substring of the step names to time")
    args = parser.parse_args(argv)

    from tests.perf.plan_book import plan_book

    started = time.process_time()
    pb = plan_book(args.accounts)
    print(
        f"sample book: {len(pb.desired_fields)} accounts, {len(pb.desired_tasks)} desired "
        f"Tasks, {len(pb.existing)} existing, {len(pb.open_signal)} open signal Tasks "
        f"({time.process_time() - started:.1f} s CPU to build)"
    )
    print(f"  {'step':<26} {'current':>9} {'reference':>10} {'speed-up':>9}  same")
    failed = []
    for label, current, reference in cases(pb):
        if args.only and args.only not in label:
            continue
        new, new_s = best_cpu(current, args.repeat)
        old, old_s = best_cpu(reference, args.repeat)
        same = _same(new, old)
        if not same:
            failed.append(label.strip())
        print(
            f"  {label:<26} {new_s:8.3f}s {old_s:9.3f}s {old_s / max(new_s, 1e-9):8.1f}x  {same}",
            flush=True,
        )
    assert not failed, f"different results: {', '.join(failed)}"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
