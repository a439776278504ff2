"""The per-owner daily limit of new Tasks. Pure.

A first run (or a run after a long gap) can owe one CSM dozens of Tasks at once. The playbook's
``task_limit.per_owner_per_day`` caps the Tasks created for one owner on one as-of day; the
Tasks created earlier that day (an earlier run, a re-run) count against it. The new Tasks of
an owner are ranked — most severe first (a signal's severity, else the Task's priority),
then segment S > A > B > C, then ARR, highest first — and those beyond the limit are
*deferred*: left out of this run's writes. They keep their keys, so a later night that still
wants them creates them then, and nothing is ever created twice.

With ``exempt_urgent`` the High-priority signal Tasks of S-segment accounts (the 48-hour rule
for the most valuable customers) are always created; they still count against the limit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sfsync.catalogue import SEGMENTS, default_severity
from sfsync.frames import isin
from sfsync.plan import DEFERRED_REASON, NEW_TASK_COLUMNS, Plan, TaskChange, gc_paused

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
PRIORITY_SEVERITY = {"High": "high", "Normal": "medium", "Low": "low"}
SEGMENT_RANK = {s: i for i, s in enumerate(SEGMENTS)}


@dataclass(frozen=True)
class LimitResult:
    """``kept``/``deferred``: the new Tasks (NEW_TASK_COLUMNS plus severity, segment, arr,
    exempt), ranked."""

    kept: pd.DataFrame
    deferred: pd.DataFrame


def _signal_code(sync_key: str) -> str | None:
    parts = str(sync_key).split(":")
    return parts[1] if len(parts) >= 3 and parts[0] == "signal" else None


def _signal_codes(sync_keys: list[str]) -> np.ndarray:
    """:func:`_signal_code` of each key (text), from one split of the whole column: the
    second part of a key of three parts or more whose first part is ``signal``; else None."""
    if not sync_keys:
        return np.empty(0, dtype=object)
    parts = pc.split_pattern(pa.array(sync_keys, type=pa.string()), ":", max_splits=2)
    signal = pc.and_(
        pc.equal(pc.list_value_length(parts), 3),
        pc.equal(pc.list_element(parts, 0), "signal"),
    )
    out = np.empty(len(sync_keys), dtype=object)
    chosen = np.asarray(signal, dtype=bool)
    out[chosen] = pc.list_element(parts.filter(signal), 1).to_pylist()
    return out


def task_severity(sync_key: str, priority: str | None) -> str:
    """A signal Task's signal severity, else the severity its priority stands for."""
    code = _signal_code(sync_key)
    if code is not None:
        return str(default_severity(code))
    return PRIORITY_SEVERITY.get(str(priority), "low")


def _severities(codes: np.ndarray, priorities: pd.Series) -> np.ndarray:
    """:func:`task_severity` of each Task from its signal code (or None) and priority, once
    per distinct code and priority."""
    by_code = {c: str(default_severity(c)) for c in set(codes.tolist()) if c is not None}
    texts = [str(p) for p in priorities.tolist()]
    by_priority = {p: PRIORITY_SEVERITY.get(p, "low") for p in set(texts)}
    return np.array(
        [
            by_priority[p] if c is None else by_code[c]
            for c, p in zip(codes.tolist(), texts, strict=True)
        ],
        dtype=object,
    )


@gc_paused()
def new_tasks(plan: Plan) -> pd.DataFrame:
    """The Tasks ``plan`` creates (NEW_TASK_COLUMNS), in plan order."""
    created = [t for t in plan.tasks if t.action == "create"]
    columns = {
        "sync_key": [t.sync_key for t in created],
        "account_id": [t.account_id or t.fields.get("WhatId") for t in created],
        "owner_id": [t.fields.get("OwnerId") for t in created],
        "subject": [t.fields.get("Subject") for t in created],
        "priority": [t.fields.get("Priority") for t in created],
    }
    if not created:
        return pd.DataFrame(columns=NEW_TASK_COLUMNS)
    return pd.DataFrame(columns)


def rank_new_tasks(
    tasks: pd.DataFrame, accounts: pd.DataFrame | None, *, exempt_urgent: bool
) -> pd.DataFrame:
    """``tasks`` with severity, segment, arr and exempt, most important first.

    ``accounts``: account_id with segment and arr (either may be missing: unknown ranks last).
    Column operations: the signal codes from one split of the key column, each severity
    looked up once per distinct code and priority.
    """
    out = tasks.copy()
    info = pd.DataFrame(columns=["account_id", "segment", "arr"])
    if accounts is not None and not accounts.empty:
        cols = [c for c in ("account_id", "segment", "arr") if c in accounts]
        info = accounts[cols].drop_duplicates("account_id")
    out = out.merge(info, on="account_id", how="left")
    for column in ("segment", "arr"):
        if column not in out:
            out[column] = None
    keys = [str(k) for k in out["sync_key"].tolist()]
    codes = _signal_codes(keys)
    out["severity"] = _severities(codes, out["priority"])
    is_signal = pd.Series(codes != None, index=out.index)  # noqa: E711
    out["exempt"] = (
        bool(exempt_urgent) & is_signal & (out["priority"] == "High") & (out["segment"] == "S")
    )
    arr = pd.to_numeric(out["arr"], errors="coerce").fillna(0.0)
    order = pd.DataFrame(
        {
            "exempt": ~out["exempt"].astype(bool),
            "severity": out["severity"].map(SEVERITY_RANK).fillna(9),
            "segment": out["segment"].map(SEGMENT_RANK).fillna(9),
            "arr": -arr,
            "key": pd.Series(keys, index=out.index, dtype=object),
        }
    )
    ranked = order.sort_values(["exempt", "severity", "segment", "arr", "key"], kind="stable")
    return out.loc[ranked.index].reset_index(drop=True)


def apply_limit(
    ranked: pd.DataFrame,
    created_today: Mapping[str, int],
    limit: int | None,
    counted: Collection[str] = (),
) -> LimitResult:
    """Split ``ranked`` (from :func:`rank_new_tasks`) per owner: exempt Tasks always kept,
    then the others while the owner's count of the day (``created_today`` plus the kept ones)
    stays within ``limit``; None keeps everything. Tasks without an owner are one group.
    ``counted``: keys already in ``created_today`` (an earlier attempt of this day that did not
    finish): kept, and not counted twice.

    By columns: an owner's count only grows, so the Tasks kept under the limit are the first
    ones of the owner's ranked others; the k-th of them (from 0) is kept while the owner's
    count of the day, the exempt Tasks ranked above it and ``k`` stay below ``limit``.
    """
    if limit is None or ranked.empty:
        return LimitResult(ranked, ranked.iloc[0:0])
    owner_ids = ranked["owner_id"]
    if isinstance(owner_ids.dtype, pd.StringDtype):  # text: missing is the one owner-less group
        owners = pd.Series(owner_ids.fillna("").to_numpy(dtype=object), dtype=object)
    else:
        owners = pd.Series(
            ["" if o is None or o != o else str(o) for o in owner_ids.tolist()], dtype=object
        )
    known = (
        isin(ranked["sync_key"], list(counted)).to_numpy(dtype=bool)
        if counted
        else np.zeros(len(ranked), dtype=bool)
    )
    exempt = ranked["exempt"].to_numpy().astype(bool) & ~known
    other = ~exempt & ~known
    frame = pd.DataFrame({"owner": owners.to_numpy(), "exempt": exempt, "other": other})
    by_owner = frame.groupby("owner", sort=False)
    exempt_above = by_owner["exempt"].cumsum().to_numpy() - exempt
    others_above = by_owner["other"].cumsum().to_numpy() - other
    start = owners.map({o: int(created_today.get(o, 0)) for o in set(owners)}).to_numpy()
    keep = known | exempt | (other & (start + exempt_above + others_above < limit))
    mask = pd.Series(keep, index=ranked.index, dtype=bool)
    return LimitResult(ranked[mask].reset_index(drop=True), ranked[~mask].reset_index(drop=True))


@dataclass
class DailyLimit:
    """The daily limit as the plan applies it while it is built
    (``sfsync.salesforce.diff.diff_tasks``'s ``defer``): called with the Tasks the plan would
    create, it ranks and splits them and returns the keys to defer, so that the deferred Tasks'
    fields are never rendered (a first run defers most of its Tasks). The split it made stays
    in :attr:`split` (None until the plan had Tasks to create)."""

    accounts: pd.DataFrame | None  # account_id, segment, arr
    limit: int
    exempt_urgent: bool
    created_today: Mapping[str, int]
    counted: Collection[str] = ()
    split: LimitResult | None = None

    def __call__(self, created: pd.DataFrame) -> set[str]:
        ranked = rank_new_tasks(created, self.accounts, exempt_urgent=self.exempt_urgent)
        self.split = apply_limit(ranked, self.created_today, self.limit, self.counted)
        return set(self.split.deferred["sync_key"].tolist())


@gc_paused()
def defer_in_plan(plan: Plan, deferred_keys: set[str]) -> Plan:
    """``plan`` with the creation of ``deferred_keys`` turned into skips (reason
    :data:`DEFERRED_REASON`, without fields, as :class:`DailyLimit` leaves them while a plan
    is built); ``plan`` itself when nothing is deferred. Only the deferred Tasks are rebuilt."""
    if not deferred_keys:
        return plan
    tasks = [
        TaskChange(t.sync_key, "skip", DEFERRED_REASON, t.account_id, t.task_id)
        if t.action == "create" and t.sync_key in deferred_keys
        else t
        for t in plan.tasks
    ]  # fmt: skip
    return replace(plan, tasks=tuple(tasks))
