"""The plan stage and the daily Task limit by columns (issue 14 item 6) give exactly what the
row-by-row versions gave (``tests/perf/reference_plan.py``): the same Task changes in the same
order, hygiene decisions, resolved retries, Task reads, rankings, splits and deferrals, on
odd values (closed Tasks, Tasks edited by someone else, deleted copies, missing columns,
None/NaN/blank text, Japanese text, duplicate keys, the limit's boundary) and on a sample
book's same-date re-run (``tests/perf/plan_book.py``)."""

from __future__ import annotations

import random
import re
import sys
from datetime import date
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sfsync import pipeline
from sfsync.automation import task_limit
from sfsync.plan import TASK_KEY_FIELD, PendingWrite, Plan, TaskChange
from sfsync.salesforce import diff, reader
from sfsync.salesforce.planner import LoopContext, load_sync_config, loop_escalations
from sfsync.salesforce.tasks import parse_signal_key
from tests.perf import reference_plan as ref
from tests.perf.book import PLAYBOOK
from tests.perf.plan_book import CSM, ME, plan_book

ME15 = ME[:15]
A1, A2, A3 = "0015g00000000A1AAA", "0015g00000000A2AAA", "0015g00000000A3AAA"
ODD_KEYS = [
    "signal:usage_drop:001A:2025-03",
    "signal:usage_drop:001A:2025-03\n",
    "signal:usage\ndrop:001A:2025-03",
    "signal::001A:2025-03",
    "signal:usage_drop:001A:",
    "signal:usage_drop:001A:2025-03:x",
    "signal:usage_drop:001A",
    "Signal:usage_drop:001A:2025-03",
    "signal:解約リスク:取引先:2025-03",
    "qbr:001A:2025-04-01",
    "renewal:001A",
    "nocolon",
    ":",
    "",
    "signal:x:",
]


def close_description(task: dict[str, Any], code: str) -> str:
    return f"{task.get('Description')!r} / {code} / {sorted(task)}"


def _desired(dtype: str | None = None) -> pd.DataFrame:
    keys = [
        "signal:usage_drop:A1:2025-03",  # new
        "signal:usage_drop:A1:2025-03",  # the same key twice: the first row counts
        "signal:red_band:A1:2025-03",  # unchanged
        "signal:no_login:A1:2025-03",  # subject changed
        "signal:competitor:A2:2025-03",  # closed by the CSM
        "signal:competitor2:A2:2025-03",  # edited by someone else
        "signal:deleted:A2:2025-03",  # deleted (in the recycle bin)
        "signal:both:A2:2025-03",  # a deleted copy and a live Task
        "signal:alldeleted:A2:2025-03",  # two deleted copies
        "signal:held:A3:2025-03",  # an earlier month's Task is open
        "qbr:A3:2025-04-01",  # follow-up, Japanese text, blank subject
        "renewal:A3:2025-06",  # NaN fields
        "touch:A3:2025-03",  # whitespace-only fields (ideographic space)
        "closedstatus:A3",  # closed through its Status only
        "nan-subject:A3",  # the org's Subject is missing
        "priority-only:A3",  # only the priority changed
    ]
    n = len(keys)
    frame = pd.DataFrame(
        {
            "sync_key": keys,
            "account_id": [A1, A1, A1, A1, A2, A2, A2, A2, A2, A3, A3, None, "  ", A3, A3, A3],
            "owner_id": [ME, ME, ME, ME, ME, ME, ME, ME, ME, ME, None, np.nan, ME, ME, ME, CSM],
            "subject": [
                "件名",
                "別",
                "S",
                "新しい件名",
                "S",
                "S",
                "S",
                "S",
                "S",
                "S",
                "",
                np.nan,
                "\u3000",
                "S",
                "S",
                "S",
            ],  # fmt: skip
            "description": ["説明\n二行目"] * (n - 2) + [None, "D"],
            "priority": [
                "High",
                "High",
                "High",
                "Normal",
                "High",
                "Low",
                "High",
                "High",
                "High",
                "High",
                "Normal",
                np.nan,
                " ",
                "High",
                "High",
                "Low",
            ],  # fmt: skip
            "activity_date": [
                date(2025, 3, 17),
                pd.Timestamp("2025-03-18"),
                "2025-03-19",
                None,
                np.nan,
                date(2025, 3, 17),
                date(2025, 3, 17),
                date(2025, 3, 17),
                date(2025, 3, 17),
                date(2025, 3, 17),
                pd.Timestamp("2025-04-01 09:30"),
                pd.NaT,
                "",
                "x",
                None,
                date(2025, 3, 17),
            ],  # fmt: skip
            "status": ["Not Started", None, "", " ", "In Progress"] + [None] * (n - 5),
            "rule": "r",
        }
    )
    frame["sync_key"] = frame["sync_key"].str.replace("A1", A1).str.replace("A2", A2)
    frame["sync_key"] = frame["sync_key"].str.replace("A3", A3)
    if dtype is not None:
        for column in ("sync_key", "account_id", "owner_id", "subject", "priority"):
            frame[column] = frame[column].astype(dtype)
    return frame


def _existing(desired: pd.DataFrame, dtype: str | None = None) -> pd.DataFrame:
    key = dict(enumerate(desired["sync_key"].astype(str)))

    def row(i: int, **changes: Any) -> dict[str, Any]:
        base = {
            "Id": f"00T00000000000{i:02d}AAA",
            TASK_KEY_FIELD: key[i],
            "IsClosed": "false",
            "Status": "Not Started",
            "Subject": desired["subject"].iloc[i],
            "Description": "old",
            "Priority": desired["priority"].iloc[i],
            "OwnerId": desired["owner_id"].iloc[i],
            "WhatId": desired["account_id"].iloc[i],
            "ActivityDate": "2025-03-17",
            "CreatedById": ME,
            "LastModifiedById": ME15,
            "IsDeleted": "false",
        }
        return {**base, **changes}

    rows = [
        row(2),
        row(3, Subject="古い件名"),
        row(4, IsClosed="true", Status="Completed", LastModifiedById=CSM),
        row(5, LastModifiedById=CSM[:15], Subject="CSM の件名"),
        row(6, IsDeleted="TRUE "),
        row(7, IsDeleted=True, IsClosed=True),
        row(7, IsDeleted=False, Subject="x"),
        row(7, Id="00Tlater", IsDeleted="false"),
        row(8, IsDeleted="true", Id="00Tfirst"),
        row(8, IsDeleted="true", Id="00Tsecond"),
        row(10, Subject="旧", OwnerId=ME, Priority=None),
        row(11, Subject=None, Priority=np.nan, OwnerId=None, WhatId=None),
        row(12, Subject=" "),
        row(13, IsClosed=None, Status="completed"),
        row(14, Subject=np.nan),
        row(15, Priority="High", CreatedById=None, LastModifiedById=None),
        row(2, **{TASK_KEY_FIELD: "not-desired"}),
        row(2, **{TASK_KEY_FIELD: None}),
    ]
    frame = pd.DataFrame(rows)
    if dtype is not None:
        frame = frame.astype(
            {c: dtype for c in frame.columns if c not in ("IsDeleted", "IsClosed")}
        )
    return frame


def _open_signal(dtype: str | None = None) -> pd.DataFrame:
    def task(key: str, **changes: Any) -> dict[str, Any]:
        return {
            "Id": f"00T{abs(hash(key)) % 10**12:012d}",
            TASK_KEY_FIELD: key,
            "IsClosed": "false",
            "Status": "Not Started",
            "Subject": "前月",
            "Description": "説明",
            "Priority": "High",
            "OwnerId": ME,
            "WhatId": A1,
            "ActivityDate": "2025-02-20",
            "CreatedById": ME,
            "LastModifiedById": ME,
            "IsDeleted": "false",
            **changes,
        }

    rows = [
        task(f"signal:held:{A3}:2025-02"),  # holds this month's Task
        task(f"signal:held:{A3}:2025-04"),  # a later month: neither held nor closed
        task(f"signal:usage_drop:{A1}:2025-03"),  # desired this run: left alone
        task(f"signal:gone:{A1}:2025-02"),  # cleared: closed
        task(f"signal:gone:{A1}:2025-01", Description=None),  # cleared: closed
        task(f"signal:gone:{A2}:2025-02", LastModifiedById=CSM),  # edited: left alone
        task(f"signal:gone:{A2}:2025-01", LastModifiedById=CSM, CreatedById=CSM),  # theirs
        task(f"signal:gone:{A3}:2025-02", IsClosed="true"),  # closed meanwhile
        task(f"signal:gone2:{A3}:2025-02", IsDeleted=True),  # deleted
        task("signal:gone:OUT:2025-02"),  # an account outside this run's scope
        task("signal:gone::2025-02"),  # not a signal key
        task(f"signal:gone:{A3}:2025-02:extra"),  # not a signal key
        task(f"signal:gone3:{A3}:2025-02", IsClosed=None, Status="Completed"),
        task(f"signal:gone4:{A3}:2025-02", IsClosed=None, Status=None),  # closed: no, open
        task(f"signal:gone5:{A3}:2025-02", Id=None),
    ]
    frame = pd.DataFrame(rows)
    if dtype is not None:
        frame = frame.astype({c: dtype for c in frame.columns if c not in ("IsDeleted",)})
    return frame


PENDING = (
    PendingWrite("Task", f"signal:usage_drop:{A1}:2025-03", ("Subject",)),  # a create
    PendingWrite("Task", f"signal:red_band:{A1}:2025-03", ()),  # unchanged: resolved
    PendingWrite("Task", f"signal:no_login:{A1}:2025-03", ()),  # an update
    PendingWrite("Task", f"signal:held:{A3}:2025-03", ()),  # held: resolved
    PendingWrite("Task", f"signal:deleted:{A2}:2025-03", ()),
    PendingWrite("Task", "gone-for-good", ()),  # not desired any more: resolved
    PendingWrite("Account", A1, ()),
)


def _hygiene(module, desired, open_signal, user=ME):
    return module.signal_task_hygiene(
        desired,
        open_signal,
        scope_accounts=[A1, A2, A3],
        integration_user_id=user,
        close_description=close_description,
    )


@pytest.mark.parametrize("dtype", [None, "str", "string"])
@pytest.mark.parametrize("user", [ME, ME15, None])
def test_odd_tasks_give_the_same_decisions_as_the_row_by_row_diff(dtype, user):
    desired = _desired(dtype)
    existing = _existing(desired, dtype)
    open_signal = _open_signal(dtype)
    new_held, new_closes = _hygiene(diff, desired, open_signal, user)
    old_held, old_closes = _hygiene(ref, desired, open_signal, user)
    assert (new_held, new_closes) == (old_held, old_closes)
    new = diff.diff_tasks(desired, existing, integration_user_id=user, pending=PENDING,
                          held=new_held)  # fmt: skip
    old = ref.diff_tasks(desired, existing, integration_user_id=user, pending=PENDING,
                         held=old_held)  # fmt: skip
    assert new == old
    changes, resolved = new
    # every decision is exercised, not vacuous
    assert {(t.action, t.reason) for t in changes} >= {
        ("create", "new"),
        ("update", "changed"),
        ("skip", "unchanged"),
        ("skip", "completed_by_csm"),
        ("skip", "deleted_by_csm"),
        ("skip", "open_earlier_month"),
    }
    assert user is None or ("skip", "edited_by_csm") in {(t.action, t.reason) for t in changes}
    assert new_held == {f"signal:held:{A3}:2025-03"} and len(new_closes) >= 3
    assert resolved and any(t.retry for t in changes)


@pytest.mark.parametrize("dtype", [None, "str"])
def test_build_plan_with_hygiene_is_the_row_by_row_plan(dtype):
    desired = _desired(dtype)
    fields = pd.DataFrame({"account_id": [A1, A2, A3], "health_score": [1.0, 2.0, 3.0]})
    current = pd.DataFrame({"Id": [A1, A2, A3], "Health_Score__c": ["1.0", "2.5", None]})
    mapping = load_sync_config("mappings").mapping
    mapping = type(mapping)(
        sobject="Account",
        match=mapping.match,
        fields={"health_score": mapping.fields["health_score"]},
    )
    args = (fields, current, desired, _existing(desired, dtype), mapping)
    kwargs = dict(
        integration_user_id=ME,
        pending=PENDING,
        open_signal_tasks=_open_signal(dtype),
        close_description=close_description,
    )
    new, old = diff.build_plan(*args, **kwargs), ref.build_plan(*args, **kwargs)
    assert new == old
    assert new.records and new.tasks and new.resolved


def test_empty_and_missing_task_frames():
    desired = _desired()
    for existing in (None, desired.iloc[0:0], pd.DataFrame(columns=[TASK_KEY_FIELD])):
        assert diff.diff_tasks(desired, existing, pending=PENDING) == ref.diff_tasks(
            desired, existing, pending=PENDING
        )
    for frame in (None, desired.iloc[0:0]):
        assert diff.diff_tasks(frame, _existing(desired), pending=PENDING) == ref.diff_tasks(
            frame, _existing(desired), pending=PENDING
        )
        assert _hygiene(diff, frame, _open_signal()) == _hygiene(ref, frame, _open_signal())
    assert _hygiene(diff, desired, None) == _hygiene(ref, desired, None) == (set(), [])
    # only the key column: every other field missing
    keys_only = desired[["sync_key"]]
    existing = _existing(desired)[[TASK_KEY_FIELD, "Id"]]
    assert diff.diff_tasks(keys_only, existing) == ref.diff_tasks(keys_only, existing)
    thin = _open_signal()[[TASK_KEY_FIELD, "Id", "Description"]]
    assert _hygiene(diff, keys_only, thin) == _hygiene(ref, keys_only, thin)


@pytest.mark.parametrize("seed", range(8))
def test_random_task_frames_give_the_same_plan_as_the_row_by_row_diff(seed):
    rng = random.Random(seed)
    pick = rng.choice
    n = 400
    keys = [pick([f"signal:{c}:{a}:2025-0{m}" for c in "abc" for a in (A1, A2, "X") for m in (2, 3)]
                 + ["qbr:1:2025-04-01", "k1", "k2", None, np.nan, "signal::x:1"])
            for _ in range(n)]  # fmt: skip
    text = ["件名", "S", "", " ", "\u3000", None, np.nan, "Subject", "s\n"]
    distinct = list(dict.fromkeys(keys))
    rng.shuffle(distinct)
    desired = pd.DataFrame(
        {
            "sync_key": keys,
            "account_id": [pick([A1, A2, None, "", np.nan]) for _ in range(n)],
            "owner_id": [pick([ME, CSM, None, np.nan]) for _ in range(n)],
            "subject": [pick(text) for _ in range(n)],
            "description": [pick(text) for _ in range(n)],
            "priority": [pick(["High", "Normal", None, np.nan, ""]) for _ in range(n)],
            "activity_date": [
                pick([date(2025, 3, 17), pd.Timestamp("2025-03-18"), None, "2025-03-19", pd.NaT])
                for _ in range(n)
            ],  # fmt: skip
            "status": [pick(["Not Started", None, "", "Open"]) for _ in range(n)],
        }
    )
    existing = pd.DataFrame(
        {
            "Id": [pick([f"00T{i}", None]) for i in range(n)],
            TASK_KEY_FIELD: [pick(distinct[: len(distinct) // 2]) for _ in range(n)],
            "IsClosed": [pick(["true", "false", True, False, None, "TRUE"]) for _ in range(n)],
            "Status": [pick(["Completed", "Not Started", None, "completed"]) for _ in range(n)],
            "Subject": [pick(text) for _ in range(n)],
            "Priority": [pick(["High", "Normal", None, np.nan]) for _ in range(n)],
            "OwnerId": [pick([ME, CSM, None]) for _ in range(n)],
            "WhatId": [pick([A1, A2, None]) for _ in range(n)],
            "CreatedById": [pick([ME, CSM, None]) for _ in range(n)],
            "LastModifiedById": [pick([ME, ME15, CSM, None, np.nan]) for _ in range(n)],
            "IsDeleted": [pick(["false", "false", "true", True, None]) for _ in range(n)],
        }
    )
    if seed % 2:
        existing = existing.astype({c: "str" for c in existing if c not in ("IsClosed",)})
    open_signal = existing.sample(frac=0.5, random_state=seed).reset_index(drop=True)
    pending = [PendingWrite("Task", str(k), ()) for k in keys[::23]] + [
        PendingWrite("Task", "elsewhere", ())
    ]
    user = pick([ME, ME15, None])
    new_held, new_closes = _hygiene(diff, desired, open_signal, user)
    assert (new_held, new_closes) == _hygiene(ref, desired, open_signal, user)
    held = new_held | {str(k) for k in keys[::17]}
    new = diff.diff_tasks(desired, existing, integration_user_id=user, pending=pending, held=held)
    old = ref.diff_tasks(desired, existing, integration_user_id=user, pending=pending, held=held)
    assert new == old
    assert {t.action for t in new[0]} == {"create", "update", "skip"}


def test_column_parsers_agree_with_the_per_key_ones():
    keys = np.array(ODD_KEYS, dtype=object)
    columns = diff.signal_key_columns(keys)
    parsed = list(zip(*(columns[n].to_pylist() for n in ("code", "account", "month")), strict=True))
    assert parsed == [parse_signal_key(k) or (None, None, None) for k in ODD_KEYS]
    assert task_limit._signal_codes(ODD_KEYS).tolist() == [ref._signal_code(k) for k in ODD_KEYS]
    assert reader._periods(ODD_KEYS).tolist() == [ref._period(k) for k in ODD_KEYS]
    blanks = ["", " ", "\u3000", "\t\n", "\x1c", "\u200b", "a", " a ", "\u3000x"]
    every_space = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    blanks += [every_space, every_space + "x"]
    assert diff._blank(np.array(blanks, dtype=object)).tolist() == [b.strip() == "" for b in blanks]


# -- the sample book -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def book():
    return plan_book(600)


def _plan_args(pb):
    args = (pb.desired_fields, pb.current, pb.desired_tasks, pb.existing, pb.mapping)
    kwargs = dict(
        integration_user_id=ME,
        pending=pb.pending,
        open_signal_tasks=pb.open_signal,
        close_description=close_description,
    )
    return args, kwargs


def test_the_sample_books_plan_is_the_row_by_row_plan(book):
    args, kwargs = _plan_args(book)
    new = diff.build_plan(*args, **kwargs)
    assert new == ref.build_plan(*args, **kwargs)
    totals = new.totals()
    assert totals["tasks_to_create"] and totals["tasks_to_update"]
    assert set(totals["tasks_skipped"]) >= {"unchanged", "completed_by_csm", "edited_by_csm",
                                            "deleted_by_csm", "open_earlier_month"}  # fmt: skip


class StandIn:
    """Answers read_task_state's queries from frames: the period reads with ``wide``, the
    open-signal read with ``others``, a key ``IN`` list with the named rows of ``wide``."""

    def __init__(self, wide: pd.DataFrame, others: pd.DataFrame, narrow: pd.DataFrame) -> None:
        self.wide, self.others = wide, others
        self.rows = {str(r[TASK_KEY_FIELD]): r for r in narrow.to_dict(orient="records")}
        self.soql: list[str] = []

    def query_frame(self, soql: str, include_deleted: bool = False) -> pd.DataFrame:
        self.soql.append(soql)
        return self.wide if include_deleted else self.others

    def query(self, soql: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        self.soql.append(soql)
        keys = re.findall(r"'((?:[^'\\]|\\.)*)'", soql.split(" IN ", 1)[-1])
        return [self.rows[k] for k in keys if k in self.rows]


@pytest.mark.parametrize("in_list_max", [200, 5, 100_000])
def test_the_task_state_read_is_the_row_by_row_read(book, in_list_max):
    existing = book.existing
    wide = existing[existing[TASK_KEY_FIELD].str.startswith("signal:")].reset_index(drop=True)
    narrow = existing[~existing[TASK_KEY_FIELD].str.startswith("signal:")]
    keys = [*book.desired_tasks["sync_key"], "nocolon", "a:b:", None, "signal:x:y:2025-03"]
    results = []
    for module in (reader, ref):
        client = StandIn(wide, book.open_signal, narrow)
        got = module.read_task_state(client, keys, open_signals=True, in_list_max=in_list_max)
        results.append((got, client.soql))
    (new, new_soql), (old, old_soql) = results
    assert new_soql == old_soql
    pd.testing.assert_frame_equal(new[0], old[0])
    pd.testing.assert_frame_equal(new[1], old[1])
    assert len(new[0]) and len(new[1])
    mixed = pd.DataFrame({"IsClosed": [True, 1, 1.0, "TRUE ", None, np.nan, "false", 0],
                          "IsDeleted": [False] * 8, TASK_KEY_FIELD: ["signal:a"] * 8})  # fmt: skip
    pd.testing.assert_frame_equal(reader._open_signal_rows(mixed), ref._open_signal_rows(mixed))


def _limited(module, plan, pb, created_today, counted, playbook=PLAYBOOK):
    computed = SimpleNamespace(scores=SimpleNamespace(scores=pb.book.scores))
    return module.limit_new_tasks(
        plan, computed, pb.book.accounts, playbook, created_today, counted
    )


def _same_limited(new, old) -> None:
    assert new.plan == old.plan and new.limit == old.limit
    pd.testing.assert_frame_equal(new.new, old.new)
    pd.testing.assert_frame_equal(new.deferred, old.deferred)


@pytest.mark.parametrize("shift", [-11, -1, 0, 1, 3])
def test_the_task_limit_defers_as_the_row_by_row_limit(book, shift):
    """Around the boundary: owners whose earlier Tasks of the day leave room for none, one
    or a few of the new ones, with some keys counted already."""
    args, kwargs = _plan_args(book)
    plan = diff.build_plan(*args, **kwargs)
    today = {owner: max(0, n + shift) for owner, n in book.created_today.items()}
    today[""] = 9  # the owner-less group
    counted = set(sorted(book.counted)[:: 4 if shift else 1])
    counted |= {t.sync_key for t in plan.tasks[:40] if t.action == "create"}
    new = _limited(pipeline, plan, book, today, counted)
    old = _limited(ref, plan, book, today, counted)
    _same_limited(new, old)
    assert len(new.deferred) and (shift >= 0 or len(new.new))
    # the limit applied while the plan is built: the same plan and split, with no field of a
    # deferred Task rendered
    computed = SimpleNamespace(scores=SimpleNamespace(scores=book.book.scores))
    limit = pipeline.daily_limit(computed, book.book.accounts, PLAYBOOK, today, counted)
    during = pipeline.limited_plan(diff.build_plan(*args, **kwargs, defer=limit), limit)
    _same_limited(during, old)


def test_limit_edges_rank_and_split_as_the_row_by_row_limit():
    tasks = pd.DataFrame(
        {
            "sync_key": ["signal:no_login_60d:aS:2025-02", "signal:x:y", "signal::a:b", "qbr:aA:1",
                         "touch:aB:1", "signal:no_login_60d:aS2:2025-02", "renewal:none:1",
                         "renewal:none:2", "k", "signal:no_login_60d:aS:2025-03"],
            "account_id": ["aS", "aA", "aB", None, "aB", "aS", "zz", "zz", "aA", "aS"],
            "owner_id": ["u1", "u1", None, np.nan, "u2", "u1", None, "", "u2", "u1"],
            "subject": "s",
            "priority": ["High", "High", None, "Normal", np.nan, "High", "Low", "High", "x",
                         "High"],
        }
    )  # fmt: skip
    accounts = pd.DataFrame({"account_id": ["aS", "aA", "aB", "aS"], "segment": ["S", "A", None, "A"],
                             "arr": [1e6, np.nan, "12", 5.0]})  # fmt: skip
    for exempt in (True, False):
        for frame in (tasks, tasks.astype({"sync_key": "str", "owner_id": "str"})):
            for info in (accounts, None, accounts[["account_id"]]):
                new = task_limit.rank_new_tasks(frame, info, exempt_urgent=exempt)
                old = ref.rank_new_tasks(frame, info, exempt_urgent=exempt)
                pd.testing.assert_frame_equal(new, old)
                if info is not accounts:
                    continue
                for limit in (None, 1, 2):
                    for today in ({}, {"u1": 1, "": 2}):
                        for counted in (set(), {"signal:x:y", "renewal:none:2"}):
                            a = task_limit.apply_limit(new, today, limit, counted)
                            b = ref.apply_limit(old, today, limit, counted)
                            pd.testing.assert_frame_equal(a.kept, b.kept)
                            pd.testing.assert_frame_equal(a.deferred, b.deferred)


def test_nothing_deferred_keeps_the_plan_itself():
    plan = Plan("Account", "Id", tasks=(TaskChange("k", "create", "new", "a", fields={"a": 1}),))
    assert task_limit.defer_in_plan(plan, set()) is plan
    deferred = task_limit.defer_in_plan(plan, {"k"})
    assert deferred == ref.defer_in_plan(plan, {"k"}) and deferred.tasks[0].action == "skip"
    empty = Plan("Account", "Id")
    pd.testing.assert_frame_equal(task_limit.new_tasks(empty), ref.new_tasks(empty))


def test_escalation_matching_is_the_row_by_row_matching(book):
    config = load_sync_config("mappings")
    loop = LoopContext(users=book.book.users, account_names={})
    for desired in (book.desired_tasks, None, book.desired_tasks.iloc[0:0]):
        for open_signal in (book.open_signal, book.open_signal.iloc[0:0]):
            new = loop_escalations(open_signal, desired, loop, config, as_of=book.book.as_of,
                                   scope=[])  # fmt: skip
            old = ref.loop_escalations(open_signal, desired, loop, config,
                                       as_of=book.book.as_of, scope=[])  # fmt: skip
            pd.testing.assert_frame_equal(new, old)
