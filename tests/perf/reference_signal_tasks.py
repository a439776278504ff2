# The signal Tasks as they were built row by row before the compute stage work (issue 14), kept
# verbatim as the reference the equivalence tests compare against. Not used by sfsync.
# ruff: noqa
"""Signal Tasks (SPEC §10): one Task per account and high/medium churn signal per month.

:func:`build_signal_tasks` is pure: from the scoring result's ``signals`` frame, the accounts
frame (``account_id``, ``name``, ``owner_id``) and the users frame (``user_id``, ``is_active``,
``email``, ``name``) it returns the desired-Task frame of docs/ARCHITECTURE.md:
``sync_key`` = ``signal:<code>:<account_id>:<scoring month>``, owner = the account owner (the
configured fallback user when the owner is inactive or missing), ``activity_date`` = as-of +
``due_offset_days`` (2: the 48-hour rule), priority and status from ``mappings/tasks.yaml``,
subject and description from the templates ``tasks.signal.<code>``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field

from sfsync.calendar import month_text, scoring_month
from sfsync.catalogue import (
    CHURN_CODES,
    SEVERITIES,
    TASK_SECTION,
    default_severity,
    signal_kind,
    slack_label_key,
    task_template_key,
)
from sfsync.configfile import StrictModel, load_model
from sfsync.errors import ConfigProblem
from sfsync.frames import iter_records
from sfsync.labels import Labels
from sfsync.plan import AUTO_CLOSED_MARKER
from sfsync.templates import TemplateSet

TASK_FRAME_COLUMNS = [
    "sync_key",
    "account_id",
    "owner_id",
    "subject",
    "description",
    "activity_date",
    "priority",
    "status",
    "rule",
    "signal_code",
]
TEMPLATE_SECTION = TASK_SECTION
SUBJECT_LENGTH = 255  # Task.Subject
TEMPLATE_PLACEHOLDERS = (
    "account_name",
    "account_id",
    "signal_code",
    "severity",
    "scoring_month",
    "due_date",
    "owner_name",
    "health_score",
    "health_band",
    "segment",
)


def signals_from_codes(scores: pd.DataFrame, column: str = "signals") -> pd.DataFrame:
    """The long signals frame from a ``;``-joined codes column (``sfsync score`` CSV)."""
    rows = []
    for account_id, codes in zip(scores["account_id"], scores[column], strict=True):
        if not isinstance(codes, str):
            continue
        for code in filter(None, (c.strip() for c in codes.split(";"))):
            rows.append((str(account_id), code, signal_kind(code), default_severity(code)))
    return pd.DataFrame(rows, columns=["account_id", "code", "kind", "severity"])


class EscalationSettings(StrictModel):
    """``mappings/tasks.yaml`` ``escalation``: the 48-hour rule as a loop (see
    :mod:`sfsync.salesforce.escalation`)."""

    # An open signal Task past its due date gives its owner's manager one Task and Slack notice.
    enabled: bool = True
    # Manager when the owner has none (User.ManagerId) or it is inactive: a user Id or the
    # email of an active user. Empty: such escalations are left out (and counted in the log).
    fallback_manager: str | None = None
    # The escalation Task is due this many business days (Mon-Fri) after the as-of date.
    due_business_days: int = Field(default=1, ge=0)
    priority: str = "High"


class TaskSettings(StrictModel):
    """``mappings/tasks.yaml``: how signal Tasks are made."""

    # Owner when the account owner is inactive or missing: a user Id or an active user's email.
    fallback_owner: str | None = None
    priority: str = "High"
    due_offset_days: int = Field(default=2, ge=0)
    status: str = "Not Started"
    severities: tuple[str, ...] = ("high", "medium")
    signals: tuple[str, ...] = CHURN_CODES
    escalation: EscalationSettings = EscalationSettings()
    source: str = ""


def load_task_settings(path: str | Path) -> TaskSettings:
    """Load ``mappings/tasks.yaml`` (ConfigError naming the file on any problem)."""
    settings = load_model(path, TaskSettings)
    return settings.model_copy(update={"source": str(path)})


CLOSED_STATUS = "Completed"
CLEARED_TEMPLATE_KEY = "signal_cleared"


def parse_signal_key(key: str) -> tuple[str, str, str] | None:
    """(code, account_id, month) of ``signal:<code>:<account_id>:<month>``; None otherwise."""
    parts = str(key).split(":")
    if len(parts) != 4 or parts[0] != "signal" or not all(parts[1:]):
        return None
    return parts[1], parts[2], parts[3]


def cleared_description(
    previous: Any, code: str, templates: TemplateSet | None, *, as_of: date
) -> str:
    """The description of a signal Task closed because its signal cleared: the Task's text, the
    reason (template ``tasks.signal_cleared``, the signal's label from the Slack templates) and
    :data:`AUTO_CLOSED_MARKER` on the last line."""
    label = ""
    if templates is not None and templates.has("slack", slack_label_key(code)):
        label = templates.fields("slack", slack_label_key(code)).get("label", "")
    reason = ""
    if templates is not None and templates.has(TEMPLATE_SECTION, CLEARED_TEMPLATE_KEY):
        values = {"signal_label": label, "as_of": as_of.isoformat()}
        reason = templates.render(TEMPLATE_SECTION, CLEARED_TEMPLATE_KEY, values)["description"]
    parts = [text_or_empty(previous).rstrip(), reason.strip(), AUTO_CLOSED_MARKER]
    return "\n\n".join(p for p in parts[:-1] if p) + "\n" + AUTO_CLOSED_MARKER


def signal_task_key(code: str, account_id: str, as_of: date) -> str:
    """``signal:<code>:<account_id>:<scoring month YYYY-MM>`` (SPEC §10)."""
    return _task_key(code, account_id, month_text(scoring_month(as_of)))


def _task_key(code: str, account_id: str, month: str) -> str:
    return f"signal:{code}:{account_id}:{month}"


def task_problems(settings: TaskSettings, templates: TemplateSet) -> list[ConfigProblem]:
    """Every configured signal has a template that renders with the available placeholders."""
    file = settings.source or "mappings/tasks.yaml"
    problems: list[ConfigProblem] = []
    for i, code in enumerate(settings.signals):
        if code not in CHURN_CODES:
            problems.append(
                ConfigProblem(
                    file,
                    f"signals.{i}",
                    f"unknown churn signal {code!r}; known: {', '.join(CHURN_CODES)}",
                )
            )
            continue
        if not templates.has(TEMPLATE_SECTION, task_template_key(code)):
            problems.append(
                ConfigProblem(
                    templates.file,
                    f"{TEMPLATE_SECTION}.{task_template_key(code)}",
                    f"no Task template for signal {code} (language {templates.language})",
                )
            )
            continue
        fields = templates.fields(TEMPLATE_SECTION, task_template_key(code))
        for name in ("subject", "description"):
            if name not in fields:
                problems.append(
                    ConfigProblem(
                        templates.file,
                        f"{TEMPLATE_SECTION}.{task_template_key(code)}.{name}",
                        "required template field is missing",
                    )
                )
        try:
            templates.render(
                TEMPLATE_SECTION, task_template_key(code), dict.fromkeys(TEMPLATE_PLACEHOLDERS, "")
            )
        except Exception as exc:  # ConfigError naming the template
            problems.extend(getattr(exc, "problems", [ConfigProblem(templates.file, "", str(exc))]))
    for i, severity in enumerate(settings.severities):
        if severity not in SEVERITIES:
            problems.append(
                ConfigProblem(file, f"severities.{i}", f"unknown severity {severity!r}")
            )
    return problems


def task_key_problems(describe: dict[str, Any], *, file: str = "org") -> list[ConfigProblem]:
    """The org's Task has the external-ID key field, long enough for signal keys."""
    fields = {f["name"].lower(): f for f in describe.get("fields", [])}
    info = fields.get("sync_key__c")
    where = "Task.Sync_Key__c"
    if info is None:
        return [ConfigProblem(file, where, "the field does not exist; deploy deploy/salesforce")]
    problems = []
    if not info.get("externalId"):
        problems.append(ConfigProblem(file, where, "the field must be marked External ID"))
    if not info.get("updateable", True) or not info.get("createable", True):
        problems.append(ConfigProblem(file, where, "the integration user cannot write the field"))
    longest = len("signal::") + max(len(c) for c in CHURN_CODES) + 18 + len(":YYYY-MM")
    if info.get("length") and int(info["length"]) < longest:
        problems.append(
            ConfigProblem(file, where, f"holds {info['length']} characters; keys need {longest}")
        )
    return problems


def resolve_owners(
    owner_ids: pd.Series, users: pd.DataFrame | None, fallback: str | None
) -> pd.Series:
    """Account owner, or the fallback user when the owner is missing or inactive.

    The fallback is a user Id or an email; when it is not an active user either, the owner is
    left empty (Salesforce then assigns the Task to the integration user).
    """
    if users is None or users.empty:
        active: set[str] = set()
        emails: dict[str, str] = {}
    else:
        is_active = users["is_active"].fillna(False).astype(bool)
        active = set(users.loc[is_active, "user_id"].astype(str))
        emails = {}
        if "email" in users:
            for uid, email in zip(
                users.loc[is_active, "user_id"], users.loc[is_active, "email"], strict=True
            ):
                if isinstance(email, str):
                    emails[email.casefold()] = str(uid)
    fallback_id: str | None = None
    if fallback:
        fallback_id = fallback if fallback in active else emails.get(fallback.casefold())

    def pick(owner: Any) -> str | None:
        if isinstance(owner, str) and owner in active:
            return owner
        return fallback_id

    return owner_ids.map(pick).astype("object")


def build_signal_tasks(
    signals: pd.DataFrame,
    accounts: pd.DataFrame,
    users: pd.DataFrame | None,
    *,
    as_of: date,
    settings: TaskSettings,
    templates: TemplateSet,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The desired signal Tasks for the active churn signals (pure)."""
    if signals is None or signals.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in TASK_FRAME_COLUMNS})
    chosen = signals[
        (signals["kind"] == "churn")
        & signals["severity"].isin(settings.severities)
        & signals["code"].isin(settings.signals)
    ]
    chosen = chosen.drop_duplicates(["account_id", "code"])
    info = accounts[["account_id", "name", "owner_id"]].drop_duplicates("account_id")
    frame = chosen.merge(info, on="account_id", how="left")
    if scores is not None and not scores.empty:
        extra = [c for c in ("health_score", "health_band", "segment") if c in scores]
        frame = frame.merge(scores[["account_id", *extra]], on="account_id", how="left")
    frame["task_owner"] = resolve_owners(frame["owner_id"], users, settings.fallback_owner)
    names: dict[str, str] = {}
    if users is not None and not users.empty and "name" in users:
        names = {str(u): str(n) for u, n in zip(users["user_id"], users["name"], strict=True)}
    month = month_text(scoring_month(as_of))
    due = as_of + timedelta(days=settings.due_offset_days)
    labels = Labels(templates)  # a band is shown by its label (危険), never its code (red)

    def band_label(band: Any) -> str:
        return labels.band_label(band) if text_or_empty(band) else ""

    rows = []
    for rec in iter_records(frame.sort_values(["account_id", "code"])):
        code, account_id = str(rec["code"]), str(rec["account_id"])
        owner = rec["task_owner"]
        values = {
            "account_name": text_or_empty(rec.get("name")),
            "account_id": account_id,
            "signal_code": code,
            "severity": text_or_empty(rec.get("severity")),
            "scoring_month": month,
            "due_date": due.isoformat(),
            "owner_name": names.get(str(owner), "") if owner else "",
            "health_score": text_or_empty(rec.get("health_score")),
            "health_band": band_label(rec.get("health_band")),
            "segment": labels.segment_label(rec.get("segment")),
        }
        text = templates.render(TEMPLATE_SECTION, task_template_key(code), values)
        rows.append(
            {
                "sync_key": _task_key(code, account_id, month),
                "account_id": account_id,
                "owner_id": owner,
                "subject": _fit(text["subject"], SUBJECT_LENGTH),
                "description": text.get("description", ""),
                "activity_date": due,
                "priority": settings.priority,
                "status": settings.status,
                "rule": "signal",
                "signal_code": code,
            }
        )
    return pd.DataFrame(rows, columns=TASK_FRAME_COLUMNS)


def _fit(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def text_or_empty(value: Any) -> str:
    """``value`` as text; None and missing values (NaN, NA, NaT) as ``""``."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)
