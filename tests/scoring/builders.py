"""Small builders of canonical frames for scoring tests."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd

from sfsync.templates import TemplateSet, load_templates

AS_OF = date(2025, 3, 15)  # scoring month 2025-02, previous month 2025-01


def base_account(**overrides) -> dict:
    row = {
        "account_id": "001A",
        "name": "Acme",
        "owner_id": "005X",
        "arr": 2_000_000.0,
        "is_enterprise": False,
        "contract_start": "2023-01-01",
        "renewal_date": "2026-01-01",
        "industry": "Technology",  # benchmark 0.25
        "tenant_id": "T1",
        "competitor_evaluation": False,
    }
    row.update(overrides)
    return row


def usage_row(month: str = "2025-02", **overrides) -> dict:
    row = {
        "tenant_id": "T1",
        "month": month,
        "deliveries": 3.0,
        "login_days": 6.0,
        "last_login_date": "2025-02-27",
        "pipeline_conversion_rate": 0.40,
        "plan_usage_ratio": 0.5,
        "support_tickets": 0.0,
    }
    row.update(overrides)
    return row


def activity(day: str = "2025-03-01", type: str = "meeting", completed: bool = True, **kw):
    return {"account_id": "001A", "date": day, "type": type, "completed": completed} | kw


def accounts_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in ("contract_start", "renewal_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame["arr"] = frame["arr"].astype("float64")
    for column in ("is_enterprise", "competitor_evaluation"):
        frame[column] = frame[column].astype("boolean")
    frame["tenant_id"] = frame["tenant_id"].astype("string")
    return frame


def usage_frame(rows: list[dict]) -> pd.DataFrame:
    columns = list(usage_row().keys())
    frame = pd.DataFrame(rows, columns=columns)
    frame["last_login_date"] = pd.to_datetime(frame["last_login_date"])
    for column in columns[2:]:
        if column != "last_login_date":
            frame[column] = frame[column].astype("float64")
    frame["tenant_id"] = frame["tenant_id"].astype("string")
    frame["month"] = frame["month"].astype("string")
    return frame


def activities_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["account_id", "date", "type", "completed"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["completed"] = frame["completed"].astype("boolean")
    return frame


def healthy_usage() -> list[dict]:
    return [usage_row("2025-02"), usage_row("2025-01")]


TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "mappings" / "templates"


@lru_cache(maxsize=4)
def templates(language: str = "ja") -> TemplateSet:
    """The repository's template set of ``language`` (score_accounts needs one passed in)."""
    return load_templates(TEMPLATES_DIR, language)


def wording_kw(kw: dict) -> dict:
    """``kw`` for score_accounts with ``language=`` turned into that language's templates."""
    kw = dict(kw)
    language = kw.pop("language", None) or "ja"
    kw.setdefault("templates", templates(language))
    return kw
