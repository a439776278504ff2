"""A same-date re-run of the nightly plan stage on a sample book, as data: the desired Account
fields and Tasks of the book (``tests/perf/book.py``), what the org holds after a first run
that created each owner's first Tasks under the daily limit (read back as Salesforce text, with
some Tasks closed, edited or deleted by CSMs, some subjects changed, and open signal Tasks of an
earlier month, some held and some whose signal cleared), and the Task-limit inputs of that
day. For ``bench/bench_plan.py`` and the plan equivalence tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from sfsync.automation.followups import build_followups
from sfsync.automation.nightly import combine_tasks
from sfsync.automation.urgent import build_urgent_tasks
from sfsync.plan import TASK_KEY_FIELD, PendingWrite
from sfsync.salesforce.mapping import ObjectMapping
from sfsync.salesforce.planner import desired_account_fields, load_sync_config
from sfsync.salesforce.reader import TASK_READ_FIELDS
from sfsync.salesforce.tasks import TaskSettings, build_signal_tasks, parse_signal_key
from sfsync.salesforce.upsell import build_upsell_tasks
from tests.perf.book import PLAYBOOK, TEMPLATES, Book, sample_book

ME = "005000000000001AAA"  # the integration user
CSM = "005000000000999AAA"


@dataclass(frozen=True)
class PlanBook:
    """The plan stage's inputs of a same-date re-run, and the Task limit's."""

    book: Book
    mapping: ObjectMapping
    desired_fields: pd.DataFrame
    current: pd.DataFrame
    desired_tasks: pd.DataFrame
    existing: pd.DataFrame  # the existing Tasks of this run's keys, as read
    open_signal: pd.DataFrame  # the org's open signal Tasks, as read
    pending: tuple[PendingWrite, ...]
    limit_info: pd.DataFrame  # account_id, arr, segment
    created_today: dict[str, int]
    counted: set[str]


def _text(values: Any) -> pd.Series:
    return pd.Series(pd.array(list(values), dtype="str"))


def task_rows(tasks: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """``tasks`` (desired-Task frame) as the org's Task rows read back (text columns)."""
    day = tasks["activity_date"].map(lambda d: None if d is None else str(d)[:10])
    frame = pd.DataFrame(
        {
            "Id": ids,
            TASK_KEY_FIELD: tasks["sync_key"].astype(str).to_numpy(),
            "IsClosed": "false",
            "Status": "Not Started",
            "Subject": tasks["subject"].to_numpy(),
            "Description": tasks["description"].to_numpy(),
            "Priority": tasks["priority"].to_numpy(),
            "OwnerId": tasks["owner_id"].to_numpy(),
            "WhatId": tasks["account_id"].to_numpy(),
            "ActivityDate": day.to_numpy(),
            "CreatedById": ME,
            "LastModifiedById": ME,
            "IsDeleted": "false",
        }
    )
    return pd.DataFrame({c: _text(frame[c]) for c in TASK_READ_FIELDS})


def desired_tasks_of(book: Book) -> pd.DataFrame:
    """The book's desired signal, urgent, upsell and follow-up Tasks (``combine_tasks``)."""
    settings = TaskSettings()
    signal = build_signal_tasks(
        book.signals,
        book.accounts,
        book.users,
        as_of=book.as_of,
        settings=settings,
        templates=TEMPLATES,
        scores=book.scores,
    )
    urgent = build_urgent_tasks(
        book.signals,
        book.scores,
        book.accounts,
        book.users,
        as_of=book.as_of,
        playbook=PLAYBOOK,
        templates=TEMPLATES,
        previous=book.previous,
    )
    upsell = build_upsell_tasks(
        book.signals, book.accounts, book.users, as_of=book.as_of, templates=TEMPLATES,
        scores=book.scores,
    )  # fmt: skip
    followup = build_followups(
        book.accounts,
        as_of=book.as_of,
        playbook=PLAYBOOK,
        templates=TEMPLATES,
        usage=book.usage,
        activities=book.activities,
        scores=book.scores,
        signals=book.signals,
        previous=book.previous,
        users=book.users,
    )
    combined = combine_tasks(signal, urgent, upsell, followup)
    assert combined is not None
    return combined


def first_run_created(tasks: pd.DataFrame, info: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The desired Tasks a first run created: each owner's ``limit`` most important."""
    from sfsync.automation.task_limit import apply_limit, rank_new_tasks

    ranked = rank_new_tasks(tasks[["sync_key", "account_id", "owner_id", "subject", "priority"]],
                            info, exempt_urgent=True)  # fmt: skip
    kept = apply_limit(ranked, {}, limit).kept
    return tasks[tasks["sync_key"].isin(set(kept["sync_key"]))]


@cache
def plan_book(accounts: int = 600, seed: int = 7) -> PlanBook:
    """The same-date re-run of the sample book of ``accounts`` accounts (cached: read-only)."""
    book = sample_book(accounts, seed)
    rng = np.random.default_rng(seed)
    config = load_sync_config("mappings")
    mapping = config.mapping
    desired_fields = desired_account_fields(book.scores, book.as_of)
    current = pd.DataFrame({"Id": _text(desired_fields["account_id"])})
    for column, spec in mapping.fields.items():
        if column in desired_fields:
            values = desired_fields[column].map(lambda v: None if pd.isna(v) else str(v))
            current[spec.field] = _text(values)
        else:
            current[spec.field] = _text([None] * len(current))
    tasks = desired_tasks_of(book)
    info = book.accounts[["account_id", "arr"]].merge(
        book.scores[["account_id", "segment"]], on="account_id", how="left"
    )
    limit = PLAYBOOK.task_limit.per_owner_per_day or 10
    created = first_run_created(tasks, info, limit).reset_index(drop=True)
    existing = task_rows(created, [f"00T{i:015d}" for i in range(len(created))])
    n = len(existing)
    pick = rng.random(n)
    closed = pick < 0.03
    edited = (pick >= 0.03) & (pick < 0.05)
    deleted = (pick >= 0.05) & (pick < 0.06)
    renamed = (pick >= 0.06) & (pick < 0.08)
    existing.loc[closed, ["IsClosed", "Status", "LastModifiedById"]] = ["true", "Completed", CSM]
    existing.loc[edited, ["Subject", "LastModifiedById"]] = ["CSM の件名", CSM]
    existing.loc[deleted, "IsDeleted"] = "true"
    existing.loc[renamed, "Subject"] = existing.loc[renamed, "Subject"] + " (旧)"
    # open signal Tasks of last month: the ones whose signal is active this month hold it, the
    # others (signal cleared) are closed by sfsync when their account is in scope
    signal_keys = [k for k in tasks["sync_key"].astype(str) if parse_signal_key(k)]
    earlier = []
    for i, key in enumerate(signal_keys[:: max(1, len(signal_keys) // 200)]):
        code, account, _month = parse_signal_key(key)  # type: ignore[misc]
        earlier.append((f"signal:{code}:{account}:2025-01", account))
        earlier.append((f"signal:gone_{i % 3}:{account}:2025-01", account))
    old = pd.DataFrame(
        {
            "sync_key": [k for k, _ in earlier],
            "account_id": [a for _, a in earlier],
            "owner_id": ME,
            "subject": "先月のタスク",
            "description": "説明\n二行目",
            "priority": "High",
            "activity_date": "2025-02-20",
        }
    )
    open_signal = task_rows(old, [f"00T{n + i:015d}" for i in range(len(old))])
    open_signal.loc[open_signal.index % 7 == 3, "LastModifiedById"] = CSM
    open_old = existing[
        existing[TASK_KEY_FIELD].str.startswith("signal:")
        & (existing["IsClosed"] == "false")
        & (existing["IsDeleted"] == "false")
    ]
    open_signal = pd.concat([open_signal, open_old], ignore_index=True)
    keys = list(created["sync_key"].astype(str))
    pending = (
        *(PendingWrite("Task", k, ("Subject",)) for k in keys[::97]),
        PendingWrite("Task", "followup:gone:2025-03-01", ()),
        PendingWrite("Account", str(desired_fields["account_id"].iloc[0]), ()),
    )
    owners = created["owner_id"].map(lambda o: "" if o is None or o != o else str(o))
    return PlanBook(
        book=book,
        mapping=mapping,
        desired_fields=desired_fields,
        current=current,
        desired_tasks=tasks,
        existing=existing,
        open_signal=open_signal,
        pending=pending,
        limit_info=info,
        created_today=owners.value_counts().to_dict(),
        counted=set(keys),
    )
