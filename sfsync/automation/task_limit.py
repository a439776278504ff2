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

import pandas as pd

from sfsync.catalogue import SEGMENTS, default_severity
from sfsync.plan import Plan

DEFERRED_REASON = "deferred_daily_limit"
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
PRIORITY_SEVERITY = {"High": "high", "Normal": "medium", "Low": "low"}
SEGMENT_RANK = {s: i for i, s in enumerate(SEGMENTS)}
NEW_TASK_COLUMNS = ["sync_key", "account_id", "owner_id", "subject", "priority"]


@dataclass(frozen=True)
class LimitResult:
    """``kept``/``deferred``: the new Tasks (NEW_TASK_COLUMNS plus severity, segment, arr,
    exempt), ranked."""

    kept: pd.DataFrame
    deferred: pd.DataFrame


def _signal_code(sync_key: str) -> str | None:
    parts = str(sync_key).split(":")
    return parts[1] if len(parts) >= 3 and parts[0] == "signal" else None


def task_severity(sync_key: str, priority: str | None) -> str:
    """A signal Task's signal severity, else the severity its priority stands for."""
    code = _signal_code(sync_key)
    if code is not None:
        return str(default_severity(code))
    return PRIORITY_SEVERITY.get(str(priority), "low")


def new_tasks(plan: Plan) -> pd.DataFrame:
    """The Tasks ``plan`` creates (NEW_TASK_COLUMNS), in plan order."""
    rows = [
        {
            "sync_key": t.sync_key,
            "account_id": t.account_id or t.fields.get("WhatId"),
            "owner_id": t.fields.get("OwnerId"),
            "subject": t.fields.get("Subject"),
            "priority": t.fields.get("Priority"),
        }
        for t in plan.tasks
        if t.action == "create"
    ]
    return pd.DataFrame(rows, columns=NEW_TASK_COLUMNS)


def rank_new_tasks(
    tasks: pd.DataFrame, accounts: pd.DataFrame | None, *, exempt_urgent: bool
) -> pd.DataFrame:
    """``tasks`` with severity, segment, arr and exempt, most important first.

    ``accounts``: account_id with segment and arr (either may be missing: unknown ranks last).
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
    out["severity"] = [
        task_severity(k, p) for k, p in zip(out["sync_key"], out["priority"], strict=True)
    ]
    is_signal = out["sync_key"].map(lambda k: _signal_code(k) is not None)
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
            "key": out["sync_key"].astype(str),
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
    finish): kept, and not counted twice."""
    if limit is None or ranked.empty:
        return LimitResult(ranked, ranked.iloc[0:0])
    counted = set(counted)
    used: dict[str, int] = {}
    keep = []
    for sync_key, owner, exempt in zip(
        ranked["sync_key"], ranked["owner_id"], ranked["exempt"], strict=True
    ):
        key = "" if owner is None or owner != owner else str(owner)
        count = used.get(key, int(created_today.get(key, 0)))
        if sync_key in counted:
            keep.append(True)
            used[key] = count
        elif exempt or count < limit:
            keep.append(True)
            used[key] = count + 1
        else:
            keep.append(False)
            used[key] = count
    mask = pd.Series(keep, index=ranked.index, dtype=bool)
    return LimitResult(ranked[mask].reset_index(drop=True), ranked[~mask].reset_index(drop=True))


def defer_in_plan(plan: Plan, deferred_keys: set[str]) -> Plan:
    """``plan`` with the creation of ``deferred_keys`` turned into skips (reason
    :data:`DEFERRED_REASON`)."""
    if not deferred_keys:
        return plan
    tasks = tuple(
        replace(t, action="skip", reason=DEFERRED_REASON)
        if t.action == "create" and t.sync_key in deferred_keys
        else t
        for t in plan.tasks
    )
    return replace(plan, tasks=tasks)
