# The urgent-meeting Tasks as they were built row by row before the compute stage work (issue 14), kept
# verbatim as the reference the equivalence tests compare against. Not used by sfsync.
# ruff: noqa
"""Urgent meeting for S-segment or red-band risks (seed 001 §5.2 緊急対応MTG). Pure.

A churn signal of ``alerts.urgent_meeting.severities`` (high by default) that is new this run
(not among the account's signals in the previous stored snapshot; every signal is new without
one) on an account whose segment is in ``alerts.escalate_segments`` or whose band is in
``alerts.escalate_bands`` gives the owner's manager (``User.ManagerId``; else the configured
``escalation.fallback_manager`` of ``mappings/tasks.yaml``) one Task per account and scoring
month, key ``urgent:<account_id>:<scoring month>``, due ``due_business_days`` business days
after the as-of date (the next business day by default: 24 hours on a weekday, never before
the as-of date), subject and description from the templates ``tasks.urgent_meeting``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from sfsync.automation.playbook import Playbook
from sfsync.calendar import month_text, scoring_month
from sfsync.labels import Labels
from sfsync.salesforce.escalation import People, business_days_after
from sfsync.salesforce.tasks import (
    SUBJECT_LENGTH,
    TASK_FRAME_COLUMNS,
    TEMPLATE_SECTION,
    text_or_empty,
)
from sfsync.templates import TemplateSet

URGENT_KEY_PREFIX = "urgent:"
URGENT_RULE = "urgent_meeting"


def urgent_key(account_id: str, as_of: date) -> str:
    """``urgent:<account_id>:<scoring month YYYY-MM>``."""
    return f"{URGENT_KEY_PREFIX}{account_id}:{month_text(scoring_month(as_of))}"


def new_signals(signals: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of ``signals`` whose code was not among the account's ``signals`` (``;``-joined)
    in ``previous`` (all of them without a previous snapshot)."""
    if previous is None or previous.empty or "signals" not in previous:
        return signals
    before = {
        str(a): {c.strip() for c in text_or_empty(s).split(";") if c.strip()}
        for a, s in zip(previous["account_id"], previous["signals"], strict=True)
    }
    keep = [
        code not in before.get(str(account), set())
        for account, code in zip(signals["account_id"], signals["code"], strict=True)
    ]
    return signals[keep]


def build_urgent_tasks(
    signals: pd.DataFrame | None,
    scores: pd.DataFrame,
    accounts: pd.DataFrame,
    users: pd.DataFrame | None,
    *,
    as_of: date,
    playbook: Playbook,
    templates: TemplateSet,
    previous: pd.DataFrame | None = None,
    fallback_manager: str | None = None,
    status: str = "Not Started",
) -> pd.DataFrame:
    """The desired urgent-meeting Tasks (desired-Task frame; ``rule`` = ``urgent_meeting``)."""
    empty = pd.DataFrame({c: pd.Series(dtype="object") for c in TASK_FRAME_COLUMNS})
    policy, alerts = playbook.alerts.urgent_meeting, playbook.alerts
    if not policy.enabled or signals is None or signals.empty:
        return empty
    chosen = signals[(signals["kind"] == "churn") & signals["severity"].isin(policy.severities)]
    chosen = new_signals(chosen, previous)
    if chosen.empty:
        return empty
    info = scores.set_index("account_id")
    acc = accounts.drop_duplicates("account_id").set_index("account_id")
    people = People(users)
    labels = Labels(templates)
    due = business_days_after(as_of, policy.due_business_days)
    rows = []
    for account_id, group in chosen.groupby("account_id", sort=True):
        segment = text_or_empty(info.at[account_id, "segment"]) if account_id in info.index else ""
        band = text_or_empty(info.at[account_id, "health_band"]) if account_id in info.index else ""
        reasons = []
        if segment and segment in alerts.escalate_segments:
            reasons.append(("segment", {}))
        if band and band in alerts.escalate_bands:
            reasons.append(("band", {"health_band": labels.band_label(band)}))
        if not reasons:
            continue
        owner = text_or_empty(acc.at[account_id, "owner_id"]) if account_id in acc.index else ""
        manager = people.manager(owner, fallback_manager)
        if manager is None:
            continue
        name = (
            text_or_empty(acc.at[account_id, "name"])
            if "name" in acc and account_id in acc.index
            else ""
        )
        score = info.at[account_id, "health_score"] if "health_score" in info else None
        values = {
            "account_name": name or str(account_id),
            "signal_labels": labels.signals_text(sorted(group["code"])),
            "reasons": " / ".join(
                templates.render(TEMPLATE_SECTION, f"urgent_reason_{r}", v)["text"]
                for r, v in reasons
            ),
            "owner_name": people.name(owner) or owner,
            "health_score": text_or_empty(score),
            "health_band": labels.band_label(band) if band else "",
            "segment": segment,
            "due_date": due.isoformat(),
        }
        text = templates.render(TEMPLATE_SECTION, "urgent_meeting", values)
        subject = text["subject"]
        if len(subject) > SUBJECT_LENGTH:
            subject = subject[: SUBJECT_LENGTH - 1] + "…"
        rows.append(
            {
                "sync_key": urgent_key(str(account_id), as_of),
                "account_id": str(account_id),
                "owner_id": manager,
                "subject": subject,
                "description": text.get("description", ""),
                "activity_date": due,
                "priority": policy.priority,
                "status": status,
                "rule": URGENT_RULE,
                "signal_code": None,
            }
        )
    return pd.DataFrame(rows, columns=TASK_FRAME_COLUMNS) if rows else empty
