"""Upsell Tasks (SPEC §10): one proposal Task per account and upsell signal per month.

:func:`build_upsell_tasks` is pure: from the scoring result's ``signals`` frame (``account_id``,
``code``, ``kind``), the accounts frame (``account_id``, ``name``, ``owner_id``), the users
frame and the templates it returns desired Task rows in the frame shape of signal Tasks
(``sfsync.salesforce.tasks.TASK_FRAME_COLUMNS``):
``sync_key`` = ``upsell:<code>:<account_id>:<scoring month>``, owner = the account owner (the
fallback user when the owner is inactive or missing), due :data:`DUE_OFFSET_DAYS` days after
the as-of date, priority ``Normal``, ``rule`` = ``upsell``, subject and description from the
templates ``tasks.upsell.<code>`` (``mappings/templates/<language>/tasks_upsell.yaml``).

The key holds the scoring month, so a signal that stays active creates one Task a month however
often the job runs; the planner creates only keys Salesforce does not hold yet.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from sfsync.calendar import month_text, scoring_month
from sfsync.catalogue import TASK_SECTION, UPSELL_CODES
from sfsync.errors import ConfigProblem
from sfsync.salesforce.task_texts import fit_texts, per_distinct, str_values, text_values
from sfsync.salesforce.tasks import (
    SUBJECT_LENGTH,
    TASK_FRAME_COLUMNS,
    owner_names,
    render_by_key,
    resolve_owners,
    task_frame,
    user_names,
)
from sfsync.templates import TemplateSet

UPSELL_KEY_PREFIX = "upsell:"
PRIORITY = "Normal"
DUE_OFFSET_DAYS = 7
RULE = "upsell"
TEMPLATE_PLACEHOLDERS = (
    "account_name",
    "account_id",
    "scoring_month",
    "due_date",
    "owner_name",
    "health_score",
)


def upsell_template_key(code: str) -> str:
    """Key of an upsell Task's texts in the ``tasks`` template section: ``upsell.<code>``."""
    return f"upsell.{code}"


def upsell_task_key(code: str, account_id: str, as_of: date) -> str:
    """``upsell:<code>:<account_id>:<scoring month YYYY-MM>`` (SPEC §10)."""
    return f"{UPSELL_KEY_PREFIX}{code}:{account_id}:{month_text(scoring_month(as_of))}"


def is_upsell_key(sync_key: Any) -> bool:
    """True for an upsell Task key."""
    return str(sync_key).startswith(UPSELL_KEY_PREFIX)


def upsell_template_problems(templates: TemplateSet) -> list[ConfigProblem]:
    """Every upsell code has a subject and description that render with the placeholders."""
    problems: list[ConfigProblem] = []
    values = dict.fromkeys(TEMPLATE_PLACEHOLDERS, "")
    for code in UPSELL_CODES:
        key = upsell_template_key(code)
        where = f"{TASK_SECTION}.{key}"
        if not templates.has(TASK_SECTION, key):
            problems.append(
                ConfigProblem(
                    templates.file,
                    where,
                    f"no Task template for upsell signal {code} (language {templates.language})",
                )
            )
            continue
        fields = templates.fields(TASK_SECTION, key)
        for name in ("subject", "description"):
            if name not in fields:
                problems.append(
                    ConfigProblem(templates.file, f"{where}.{name}", "required field is missing")
                )
        try:
            templates.render(TASK_SECTION, key, values)
        except Exception as exc:  # ConfigError naming the template
            problems.extend(
                getattr(exc, "problems", [ConfigProblem(templates.file, where, str(exc))])
            )
    return problems


def build_upsell_tasks(
    signals: pd.DataFrame | None,
    accounts: pd.DataFrame,
    users: pd.DataFrame | None,
    *,
    as_of: date,
    templates: TemplateSet,
    status: str = "Not Started",
    fallback_owner: str | None = None,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The desired upsell Tasks for this run's active upsell signals (pure)."""
    if signals is None or signals.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in TASK_FRAME_COLUMNS})
    chosen = signals[(signals["kind"] == "upsell") & signals["code"].isin(UPSELL_CODES)]
    chosen = chosen[["account_id", "code"]].drop_duplicates(["account_id", "code"])
    info = accounts[["account_id", "name", "owner_id"]].drop_duplicates("account_id")
    frame = chosen.merge(info, on="account_id", how="left")
    if scores is not None and "health_score" in scores:
        frame = frame.merge(scores[["account_id", "health_score"]], on="account_id", how="left")
    frame["task_owner"] = resolve_owners(frame["owner_id"], users, fallback_owner)
    names = user_names(users)
    due = as_of + timedelta(days=DUE_OFFSET_DAYS)
    month = month_text(scoring_month(as_of))
    frame = frame.sort_values(["account_id", "code"])
    if frame.empty:
        return pd.DataFrame([], columns=TASK_FRAME_COLUMNS)
    codes = str_values(frame["code"], records=True)
    account_ids = str_values(frame["account_id"], records=True)
    owners = frame["task_owner"]
    values = {
        "account_name": text_values(frame["name"]),
        "account_id": account_ids,
        "scoring_month": month,
        "due_date": due.isoformat(),
        "owner_name": owner_names(owners, names),
        "health_score": _scores(frame["health_score"]) if "health_score" in frame else "",
    }
    subjects, descriptions = render_by_key(
        templates, TASK_SECTION, [upsell_template_key(c) for c in codes], values
    )
    return task_frame(
        {
            "sync_key": UPSELL_KEY_PREFIX + codes + ":" + account_ids + ":" + month,
            "account_id": account_ids,
            "owner_id": owners.to_numpy(dtype=object),
            "subject": fit_texts(subjects, SUBJECT_LENGTH),
            "description": descriptions,
            "activity_date": due,
            "priority": PRIORITY,
            "status": status,
            "rule": RULE,
            "signal_code": codes,
        }
    )


def _scores(values: pd.Series) -> np.ndarray:
    """:func:`_score` of every value (once per distinct whole-number score)."""
    return per_distinct(values, _score)


def _score(value: Any) -> str:
    """A score rounded for people (``87``), empty when unknown."""
    if value is None or pd.isna(value):
        return ""
    return f"{float(value):.0f}"
