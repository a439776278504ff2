"""What each owner's Slack digest says: their new signals, new Tasks and deferred Tasks, and
their ranked worklist. Pure.

A run posts one digest per owner with new signals instead of one message per signal (a first
run of 10,000 accounts would otherwise post thousands of messages); the owner's new and
deferred Tasks of the run are listed in it, and the owner's worklist (today's top accounts,
:mod:`sfsync.notify.worklist`) when one is given. :func:`owner_digests` groups the run's
new alerts, the Tasks it created and the Tasks the daily limit deferred by owner and ranks
each owner's accounts (most severe signal, then segment S > A > B > C, then the lowest score);
the digest lists the first ``top`` and counts the rest. With ``calm_owners`` an owner with no
new signal but a worklist gets a digest too (the worklist alone: a calm morning list).
:func:`escalation_items` lists the accounts the manager channel hears about (one batched
message per channel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sfsync.catalogue import SEGMENTS
from sfsync.notify.worklist import WorklistItem

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
SEGMENT_RANK = {s: i for i, s in enumerate(SEGMENTS)}
NO_OWNER = ""  # the group of accounts without an owner


@dataclass
class AccountItem:
    """One account in a digest: its new signal codes and what the digest shows of it."""

    account_id: str
    account_name: str | None
    segment: str | None
    score: Any
    band: str | None
    codes: list[str]
    severity: str | None

    def rank(self) -> tuple:
        score = (
            self.score if isinstance(self.score, int | float) and self.score == self.score else 999
        )
        return (
            SEVERITY_RANK.get(self.severity or "", 9),
            SEGMENT_RANK.get(self.segment or "", 9),
            score,
            str(self.account_name or self.account_id),
        )


@dataclass
class OwnerDigest:
    """One owner's digest: ``accounts`` ranked (all of them; the message shows the top),
    ``signal_count`` new signals, ``tasks`` created (subjects, ranked), ``deferred``
    Tasks the daily limit moved to a later night and the owner's ``worklist``."""

    owner_id: str
    owner_name: str | None
    owner_email: str | None
    accounts: list[AccountItem] = field(default_factory=list)
    signal_count: int = 0
    tasks: list[str] = field(default_factory=list)
    deferred: int = 0
    worklist: list[WorklistItem] = field(default_factory=list)

    @property
    def calm(self) -> bool:
        """No new signal: a digest only for the worklist (with ``calm_owners``)."""
        return not self.accounts


def _get(frame: pd.DataFrame, account_id: Any, column: str) -> Any:
    if column not in frame.columns or account_id not in frame.index:
        return None
    value = frame.at[account_id, column]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value


def _owner_key(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return NO_OWNER
    return str(value)


def owner_digests(
    alerts: pd.DataFrame,
    info: pd.DataFrame,
    *,
    tasks: pd.DataFrame | None = None,
    deferred: pd.DataFrame | None = None,
    worklists: dict[str, list[WorklistItem]] | None = None,
    calm_owners: bool = False,
) -> list[OwnerDigest]:
    """The digests of one run, one per owner with new signals (and with ``calm_owners`` one
    per owner with a worklist too), ordered by owner name.

    ``alerts``: account_id, code, severity (the new alerts); ``info``: per account (index)
    name, owner_id, health_score, health_band, segment, owner_name, owner_email; ``tasks``
    (created) and ``deferred``: account_id, owner_id, subject (a missing owner_id falls back
    to the account's owner); ``worklists``: ``{owner_id: items}``
    (:func:`sfsync.notify.worklist.owner_worklist_items`).

    Without new signals an owner gets no digest unless ``calm_owners``: the digest of new
    signals is decided with them, once (the alert ledger), so a retried write or a re-run
    never posts it again; a calm digest is the caller's decision (once a day).
    """
    digests: dict[str, OwnerDigest] = {}
    users: dict[str, tuple[Any, Any]] = {}
    if "owner_id" in info.columns:
        for account_id, owner in info["owner_id"].items():
            key = _owner_key(owner)
            if key not in users:
                users[key] = (
                    _get(info, account_id, "owner_name"),
                    _get(info, account_id, "owner_email"),
                )

    def digest_of(owner: Any) -> OwnerDigest:
        key = _owner_key(owner)
        if key not in digests:
            name, email = users.get(key, (None, None))
            digests[key] = OwnerDigest(key, name, email)
        return digests[key]

    if alerts is not None and not alerts.empty:
        for account_id, group in alerts.groupby("account_id", sort=True):
            severities = sorted(group["severity"], key=lambda s: SEVERITY_RANK.get(s, 9))
            item = AccountItem(
                account_id=str(account_id),
                account_name=_get(info, account_id, "name"),
                segment=_get(info, account_id, "segment"),
                score=_get(info, account_id, "health_score"),
                band=_get(info, account_id, "health_band"),
                codes=sorted(group["code"]),
                severity=severities[0] if severities else None,
            )
            digest = digest_of(_get(info, account_id, "owner_id"))
            digest.accounts.append(item)
            digest.signal_count += len(group)
    for frame, target in ((tasks, "tasks"), (deferred, "deferred")):
        if frame is None or frame.empty:
            continue
        for row in frame.itertuples(index=False):
            owner = getattr(row, "owner_id", None)
            if _owner_key(owner) == NO_OWNER:
                owner = _get(info, getattr(row, "account_id", None), "owner_id")
            digest = digest_of(owner)
            if target == "tasks":
                digest.tasks.append(str(getattr(row, "subject", "") or ""))
            else:
                digest.deferred += 1
    worklists = worklists or {}
    if calm_owners:
        for owner in worklists:
            digest_of(owner)
    for key, digest in digests.items():
        digest.accounts.sort(key=AccountItem.rank)
        digest.worklist = list(worklists.get(key, []))
    ordered = sorted(
        digests.values(), key=lambda d: (d.owner_id == NO_OWNER, d.owner_name or d.owner_id)
    )
    return [d for d in ordered if not d.calm or (calm_owners and d.worklist)]


def escalation_items(
    alerts: pd.DataFrame,
    info: pd.DataFrame,
    *,
    segments: list[str],
    bands: list[str],
) -> list[tuple[AccountItem, list[str], str | None]]:
    """The accounts with new alerts that escalate to the managers: (account, reasons
    ``segment``/``band``, owner id), most urgent first."""
    out = []
    if alerts is None or alerts.empty:
        return out
    for account_id, group in alerts.groupby("account_id", sort=True):
        segment = _get(info, account_id, "segment")
        band = _get(info, account_id, "health_band")
        reasons = []
        if segment in segments:
            reasons.append("segment")
        if band in bands:
            reasons.append("band")
        if not reasons:
            continue
        severities = sorted(group["severity"], key=lambda s: SEVERITY_RANK.get(s, 9))
        item = AccountItem(
            account_id=str(account_id),
            account_name=_get(info, account_id, "name"),
            segment=segment,
            score=_get(info, account_id, "health_score"),
            band=band,
            codes=sorted(group["code"]),
            severity=severities[0] if severities else None,
        )
        out.append((item, reasons, _get(info, account_id, "owner_id")))
    out.sort(key=lambda entry: entry[0].rank())
    return out
