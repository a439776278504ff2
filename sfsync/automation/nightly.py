"""The playbook automation inside the nightly job: scheduled follow-up Tasks next to the signal
Tasks, and owner capacity for the run digest.

The pipeline (``sfsync.pipeline.compute_scores`` and ``notify``) calls these; they are pure:
the playbook and templates come from the job's bundle (``sfsync.project.JobBundle``).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import structlog

from sfsync.automation.capacity import owner_capacity
from sfsync.automation.followups import TASK_COLUMNS, build_followups, empty_tasks
from sfsync.automation.person_capacity import person_capacity, reassignment_suggestions
from sfsync.automation.playbook import Playbook
from sfsync.salesforce.tasks import resolve_owners
from sfsync.salesforce.upsell import UPSELL_KEY_PREFIX
from sfsync.templates import TemplateSet

log = structlog.get_logger(__name__)

SIGNAL_KEY_PREFIX = "signal:"


def is_signal_key(sync_key: str) -> bool:
    """True for a signal Task key (``signal:<code>:<account>:<month>``), False for follow-ups."""
    return str(sync_key).startswith(SIGNAL_KEY_PREFIX)


def scheduled_followups(
    playbook: Playbook,
    templates: TemplateSet,
    accounts: pd.DataFrame,
    *,
    as_of: date,
    usage: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    signals: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    status: str = "Not Started",
    fallback_owner: str | None = None,
    deliveries: pd.Series | None = None,
) -> pd.DataFrame:
    """The follow-up Tasks due as of ``as_of`` (desired-Task frame of docs/ARCHITECTURE.md).

    Owners are resolved like signal Tasks (``sfsync.salesforce.tasks.resolve_owners``): an
    inactive or missing owner gives the configured fallback user, else no owner (Salesforce
    then assigns the integration user). ``previous`` needs ``account_id`` and ``owner_id`` for
    the hand-over rule; ``deliveries``: the run's first deliveries per tenant
    (``sfsync.automation.followups.first_deliveries``, computed when not given).
    """
    tasks = build_followups(
        accounts,
        as_of=as_of,
        playbook=playbook,
        templates=templates,
        usage=usage,
        activities=activities,
        scores=scores,
        signals=signals,
        previous=previous,
        users=users,
        status=status,
        deliveries=deliveries,
    )
    if tasks.empty:
        return empty_tasks()
    if users is not None and not users.empty and "is_active" in users:
        tasks["owner_id"] = resolve_owners(tasks["owner_id"], users, fallback_owner).to_numpy()
    log.info("followups_computed", tasks=len(tasks), rules=tasks["rule"].value_counts().to_dict())
    return tasks


def combine_tasks(*frames: pd.DataFrame | None) -> pd.DataFrame | None:
    """One desired-Task frame from signal and follow-up Tasks (same columns; first key wins).

    None when every input is None (the job writes no Tasks at all).
    """
    present = [f for f in frames if f is not None]
    if not present:
        return None
    parts = []
    for frame in present:
        part = frame.assign(**{column: None for column in TASK_COLUMNS if column not in frame})
        parts.append(part[TASK_COLUMNS].astype("object"))
    combined = pd.concat(parts, ignore_index=True) if parts else empty_tasks()
    return combined.drop_duplicates("sync_key", keep="first").reset_index(drop=True)


def count_by_kind(sync_keys) -> tuple[int, int, int]:
    """(signal Tasks, upsell Tasks, follow-up Tasks) among ``sync_keys``."""
    keys = [str(k) for k in sync_keys]
    signal = sum(1 for k in keys if is_signal_key(k))
    upsell = sum(1 for k in keys if k.startswith(UPSELL_KEY_PREFIX))
    return signal, upsell, len(keys) - signal - upsell


def run_capacity(
    playbook: Playbook,
    accounts: pd.DataFrame,
    *,
    scores: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    as_of: date | None = None,
) -> pd.DataFrame:
    """Accounts per owner against the playbook's caps, for the run digest; with ``as_of``
    also each person's cap on that day and load (:func:`person_capacity`)."""
    if as_of is None:
        return owner_capacity(accounts, playbook, scores=scores, users=users)
    return person_capacity(accounts, playbook, as_of=as_of, scores=scores, users=users)


def run_reassignments(
    playbook: Playbook,
    accounts: pd.DataFrame,
    capacity: pd.DataFrame,
    *,
    scores: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
) -> list[dict[str, str]]:
    """Reassignment suggestions for the run digest (:func:`reassignment_suggestions`)."""
    return reassignment_suggestions(accounts, capacity, playbook, users, scores=scores)
