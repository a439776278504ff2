"""The 48-hour rule as a loop (seed 001 §5.2): overdue signal Tasks escalate to the manager. Pure.

A signal Task (key ``signal:…``) still open after its due date (``ActivityDate`` before the
as-of date) gives the manager of its owner (``User.ManagerId``; the configured
``escalation.fallback_manager`` when the owner has no active manager) one Task with key
``escalation:<signal Task key>``. The key makes it once: a re-run finds the escalation Task
(open, completed or deleted) and never creates a second one for the same signal Task. The
escalation Task is due ``escalation.due_business_days`` business days after the as-of date,
so it is never born overdue. The Slack notice for it is composed from the plan's created
escalation Tasks (:func:`escalation_notices`) and goes through the alert outbox.

:func:`manager_of` is shared with the urgent-meeting rule (``sfsync.automation.urgent``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import pandas as pd

from sfsync.errors import ConfigError, ConfigProblem
from sfsync.frames import iter_records
from sfsync.labels import Labels
from sfsync.plan import TASK_KEY_FIELD
from sfsync.salesforce.tasks import (
    SUBJECT_LENGTH,
    TASK_FRAME_COLUMNS,
    TEMPLATE_SECTION,
    EscalationSettings,
    parse_signal_key,
    text_or_empty,
)
from sfsync.templates import TemplateSet

ESCALATION_KEY_PREFIX = "escalation:"
ESCALATION_RULE = "escalation"
ESCALATION_TEMPLATE_KEY = "escalation_overdue"
ESCALATION_PLACEHOLDERS = (
    "account_name",
    "signal_label",
    "task_subject",
    "task_due_date",
    "owner_name",
    "manager_name",
    "days_overdue",
    "due_date",
)


# Templates the loop renders, with the placeholders each may use (checked by sfsync validate).
LOOP_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    (TEMPLATE_SECTION, ESCALATION_TEMPLATE_KEY): ESCALATION_PLACEHOLDERS,
    (TEMPLATE_SECTION, "urgent_meeting"): (
        "account_name",
        "signal_labels",
        "reasons",
        "owner_name",
        "health_score",
        "health_band",
        "segment",
        "due_date",
    ),
    (TEMPLATE_SECTION, "urgent_reason_segment"): ("health_band",),
    (TEMPLATE_SECTION, "urgent_reason_band"): ("health_band",),
    (TEMPLATE_SECTION, "followup_closed.qbr_held"): ("as_of",),
    (TEMPLATE_SECTION, "followup_closed.onboarding_done"): ("as_of",),
    (TEMPLATE_SECTION, "followup_closed.renewal_passed"): ("as_of",),
    ("slack", "overdue_escalation"): ("account_name", "subject", "due_date", "manager", "url"),
}


def loop_template_problems(templates: TemplateSet) -> list[ConfigProblem]:
    """Every template of :data:`LOOP_TEMPLATES` exists and renders with its placeholders."""
    problems: list[ConfigProblem] = []
    for (section, key), names in LOOP_TEMPLATES.items():
        if not templates.has(section, key):
            problems.append(
                ConfigProblem(
                    templates.file,
                    f"{section}.{key}",
                    f"template is not defined (language {templates.language})",
                )
            )
            continue
        try:
            templates.render(section, key, dict.fromkeys(names, ""))
        except ConfigError as exc:
            problems.extend(exc.problems)
    return problems


def escalation_key(signal_key: str) -> str:
    """``escalation:<signal Task key>``."""
    return f"{ESCALATION_KEY_PREFIX}{signal_key}"


def business_days_after(day: date, n: int) -> date:
    """``day`` plus ``n`` business days (Mon-Fri); ``n`` = 0 gives ``day`` itself."""
    out = day
    while n > 0:
        out += timedelta(days=1)
        if out.weekday() < 5:
            n -= 1
    return out


def _day(value: Any) -> date | None:
    text = text_or_empty(value)[:10]
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _id15(value: Any) -> str:
    return text_or_empty(value)[:15]


def _is_active(rec: Mapping[str, Any]) -> bool:
    """A users row is active when it says so (no ``is_active`` column: active)."""
    if "is_active" not in rec:
        return True
    value = rec["is_active"]
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value) if text_or_empty(value) else False


class People:
    """Active users by Id (15 or 18 characters) and email, with names and managers."""

    def __init__(self, users: pd.DataFrame | None) -> None:
        self.names: dict[str, str] = {}
        self.managers: dict[str, str] = {}
        self.ids: dict[str, str] = {}  # 15-character Id or casefolded email -> 18-character Id
        self.active: set[str] = set()
        if users is None or users.empty:
            return
        for rec in users.to_dict(orient="records"):
            uid = text_or_empty(rec.get("user_id"))
            if not uid:
                continue
            self.names[_id15(uid)] = text_or_empty(rec.get("name"))
            if text_or_empty(rec.get("manager_id")):
                self.managers[_id15(uid)] = text_or_empty(rec.get("manager_id"))
            if _is_active(rec):
                self.active.add(_id15(uid))
                self.ids[_id15(uid)] = uid
                if text_or_empty(rec.get("email")):
                    self.ids[text_or_empty(rec.get("email")).casefold()] = uid
                if text_or_empty(rec.get("username")):
                    self.ids[text_or_empty(rec.get("username")).casefold()] = uid

    def resolve(self, who: str | None) -> str | None:
        """The active user's Id for an Id, email or username; None otherwise."""
        if not who:
            return None
        return self.ids.get(_id15(who)) or self.ids.get(str(who).casefold())

    def name(self, uid: Any) -> str:
        return self.names.get(_id15(uid), "")

    def manager(self, owner: Any, fallback: str | None) -> str | None:
        """The owner's active manager, else the active fallback user, else None."""
        manager = self.resolve(self.managers.get(_id15(owner)))
        return manager or self.resolve(fallback)


def manager_of(
    owner_ids: Iterable[Any], users: pd.DataFrame | None, fallback: str | None
) -> list[str | None]:
    """For each owner: the Id of its active manager (``manager_id``), else the active fallback
    user (Id, email or username), else None."""
    people = People(users)
    return [people.manager(o, fallback) for o in owner_ids]


def overdue_signal_tasks(open_tasks: pd.DataFrame | None, as_of: date) -> pd.DataFrame:
    """The open signal Tasks whose due date lies before ``as_of`` (not closed, not deleted)."""
    if open_tasks is None or open_tasks.empty:
        return pd.DataFrame(columns=list(open_tasks.columns) if open_tasks is not None else [])
    keep = []
    for rec in iter_records(open_tasks):
        if parse_signal_key(text_or_empty(rec.get(TASK_KEY_FIELD))) is None:
            continue
        if text_or_empty(rec.get("IsClosed")).lower() == "true" or rec.get("IsClosed") is True:
            continue
        if text_or_empty(rec.get("IsDeleted")).lower() == "true" or rec.get("IsDeleted") is True:
            continue
        due = _day(rec.get("ActivityDate"))
        if due is not None and due < as_of:
            keep.append(rec)
    return pd.DataFrame(keep, columns=open_tasks.columns)


def build_escalation_tasks(
    open_signal_tasks: pd.DataFrame | None,
    users: pd.DataFrame | None,
    *,
    as_of: date,
    settings: EscalationSettings,
    templates: TemplateSet,
    account_names: Mapping[str, str] | None = None,
    scope_accounts: Collection[str] | None = None,
    status: str = "Not Started",
) -> tuple[pd.DataFrame, int]:
    """Desired escalation Tasks for the overdue open signal Tasks (pure), and how many overdue
    Tasks could not be escalated (no active manager and no fallback).

    ``scope_accounts``: only signal Tasks of these accounts (the accounts this run scored).
    """
    empty = pd.DataFrame({c: pd.Series(dtype="object") for c in TASK_FRAME_COLUMNS})
    if not settings.enabled:
        return empty, 0
    overdue = overdue_signal_tasks(open_signal_tasks, as_of)
    if overdue.empty:
        return empty, 0
    people = People(users)
    labels = Labels(templates)
    names = {_id15(k): v for k, v in (account_names or {}).items()}
    scope = None if scope_accounts is None else {_id15(a) for a in scope_accounts}
    due = business_days_after(as_of, settings.due_business_days)
    rows, unassigned = [], 0
    for rec in iter_records(overdue.sort_values(TASK_KEY_FIELD)):
        key = text_or_empty(rec[TASK_KEY_FIELD])
        code, account_id, _month = parse_signal_key(key)  # type: ignore[misc]
        if scope is not None and _id15(account_id) not in scope:
            continue
        owner = text_or_empty(rec.get("OwnerId"))
        manager = people.manager(owner, settings.fallback_manager)
        if manager is None:
            unassigned += 1
            continue
        task_due = _day(rec.get("ActivityDate"))
        values = {
            "account_name": names.get(_id15(account_id)) or account_id,
            "signal_label": labels.signal_label(code),
            "task_subject": text_or_empty(rec.get("Subject")),
            "task_due_date": task_due.isoformat() if task_due else "",
            "owner_name": people.name(owner) or owner,
            "manager_name": people.name(manager),
            "days_overdue": str((as_of - task_due).days) if task_due else "",
            "due_date": due.isoformat(),
        }
        text = templates.render(TEMPLATE_SECTION, ESCALATION_TEMPLATE_KEY, values)
        subject = text["subject"]
        if len(subject) > SUBJECT_LENGTH:
            subject = subject[: SUBJECT_LENGTH - 1] + "…"
        rows.append(
            {
                "sync_key": escalation_key(key),
                "account_id": account_id,
                "owner_id": manager,
                "subject": subject,
                "description": text.get("description", ""),
                "activity_date": due,
                "priority": settings.priority,
                "status": status,
                "rule": ESCALATION_RULE,
                "signal_code": code,
            }
        )
    return (pd.DataFrame(rows, columns=TASK_FRAME_COLUMNS) if rows else empty), unassigned


def escalation_notices(created: Iterable[Any]) -> list[dict[str, str]]:
    """The escalation Tasks a plan creates (``TaskChange`` with an ``escalation:`` key), as
    notice data for Slack: sync_key, account_id, owner_id (the manager), subject, due date."""
    out = []
    for change in created:
        key = str(getattr(change, "key", ""))
        if getattr(change, "action", "") != "create" or not key.startswith(ESCALATION_KEY_PREFIX):
            continue
        fields = dict(getattr(change, "fields", {}) or {})
        out.append(
            {
                "sync_key": key,
                "account_id": str(getattr(change, "account_id", "") or ""),
                "owner_id": str(fields.get("OwnerId", "")),
                "subject": str(fields.get("Subject", "")),
                "due_date": str(fields.get("ActivityDate", "")),
                "signal_key": key[len(ESCALATION_KEY_PREFIX) :],
            }
        )
    return out
