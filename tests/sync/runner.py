"""One sync run against an org, the way the pipeline composes it (tests and benchmark)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from sfsync.plan import Plan
from sfsync.salesforce.bulk_upload import UploadLimits
from sfsync.salesforce.planner import (
    desired_account_fields,
    load_sync_config,
    plan_sync,
    signal_tasks,
)
from sfsync.salesforce.reader import read_owner_frames
from sfsync.salesforce.writer import ApplyResult, LockRetry, apply_plan

MAPPINGS = Path(__file__).parents[2] / "mappings"


@dataclass
class SyncRun:
    plan: Plan
    result: ApplyResult | None


def owner_frames(client: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All accounts (id, name, owner) and users of the org."""
    return read_owner_frames(client)


def sync_once(
    client: Any,
    scores: pd.DataFrame,
    signals: pd.DataFrame,
    accounts: pd.DataFrame,
    users: pd.DataFrame,
    *,
    as_of: date,
    store: Any = None,
    dry_run: bool = False,
    bulk_threshold: int | None = None,
    language: str = "ja",
    lock_retry: LockRetry | None = None,
    upload_limits: UploadLimits | None = None,
) -> SyncRun:
    """Plan (and unless ``dry_run`` apply) one sync of ``scores`` and their signal Tasks."""
    from sfsync.state.failures import pending_writes

    config = load_sync_config(MAPPINGS, language=language)
    desired = desired_account_fields(scores, as_of)
    tasks = signal_tasks(config, signals, accounts, users, as_of=as_of, scores=scores)
    pending = pending_writes(store) if store is not None else ()
    plan = plan_sync(client, config, desired, tasks, pending=pending, meta={"as_of": str(as_of)})
    if dry_run:
        return SyncRun(plan, None)
    result = apply_plan(
        client,
        plan,
        store,
        None,
        bulk_threshold=bulk_threshold,
        lock_retry=lock_retry or LockRetry(attempts=6, initial_wait=0.01, max_wait=0.05),
        upload_limits=upload_limits,
    )
    return SyncRun(plan, result)
