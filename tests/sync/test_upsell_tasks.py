"""Upsell Tasks (SPEC §10): one proposal Task per account and upsell signal per scoring month,
priority Normal, due 7 days after the as-of date, texts from the templates without codes."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from sfsync.automation.nightly import combine_tasks
from sfsync.catalogue import SIGNALS, UPSELL_CODES
from sfsync.salesforce.tasks import TASK_FRAME_COLUMNS
from sfsync.salesforce.upsell import (
    build_upsell_tasks,
    is_upsell_key,
    upsell_task_key,
    upsell_template_problems,
)
from sfsync.templates import TemplateSet, load_templates

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2025, 3, 15)
CODES = re.compile("|".join(s.code for s in SIGNALS))

ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["001A", "001B", "001C"],
        "name": ["株式会社アルファ", "ベータ商事", "ガンマ"],
        "owner_id": ["005U1", "005OLD", None],
    }
)
USERS = pd.DataFrame(
    {
        "user_id": ["005U1", "005OLD", "005MGR"],
        "is_active": [True, False, True],
        "email": ["u1@example.com", "old@example.com", "mgr@example.com"],
        "name": ["佐藤", "鈴木", "田中"],
    }
)
SIGNALS_FRAME = pd.DataFrame(
    [
        ("001A", "near_plan_limit", "upsell", "low"),
        ("001A", "expansion_proposal", "upsell", "low"),
        ("001A", "no_login_60d", "churn", "high"),
        ("001B", "deliveries_rising", "upsell", "low"),
        ("001B", "deliveries_rising", "upsell", "low"),
    ],
    columns=["account_id", "code", "kind", "severity"],
)
SCORES = pd.DataFrame({"account_id": ["001A", "001B"], "health_score": [86.4, 81.0]})


@pytest.fixture(scope="module", params=["ja", "en"])
def templates(request) -> TemplateSet:
    return load_templates(ROOT / "mappings/templates", request.param)


def _build(templates: TemplateSet, **kwargs) -> pd.DataFrame:
    return build_upsell_tasks(
        SIGNALS_FRAME,
        ACCOUNTS,
        USERS,
        as_of=AS_OF,
        templates=templates,
        fallback_owner="mgr@example.com",
        scores=SCORES,
        **kwargs,
    )


def test_one_task_per_account_and_upsell_code_keyed_by_the_scoring_month(templates) -> None:
    tasks = _build(templates)
    assert list(tasks.columns) == TASK_FRAME_COLUMNS
    assert list(tasks["sync_key"]) == [
        "upsell:expansion_proposal:001A:2025-02",
        "upsell:near_plan_limit:001A:2025-02",
        "upsell:deliveries_rising:001B:2025-02",
    ]
    assert tasks["sync_key"].map(is_upsell_key).all()
    assert upsell_task_key("near_plan_limit", "001A", AS_OF) == tasks["sync_key"][1]
    assert set(tasks["priority"]) == {"Normal"}
    assert set(tasks["activity_date"]) == {date(2025, 3, 22)}
    assert set(tasks["rule"]) == {"upsell"} and set(tasks["status"]) == {"Not Started"}
    # the owner; an inactive owner's Task goes to the fallback user
    assert list(tasks["owner_id"]) == ["005U1", "005U1", "005MGR"]


def test_texts_come_from_the_templates_and_show_no_codes(templates) -> None:
    tasks = _build(templates)
    for subject, description in zip(tasks["subject"], tasks["description"], strict=True):
        assert subject and description
        assert not CODES.search(subject + description), subject + description
    assert "株式会社アルファ" in tasks["subject"][0]
    assert "86" in tasks["description"][1] and "86.4" not in tasks["description"][1]
    if templates.language == "ja":
        assert "アップセル提案" in tasks["subject"][0]


def test_no_upsell_signal_means_no_task(templates) -> None:
    churn_only = SIGNALS_FRAME[SIGNALS_FRAME["kind"] == "churn"]
    assert _build_with(templates, churn_only).empty
    assert _build_with(templates, None).empty


def _build_with(templates: TemplateSet, signals) -> pd.DataFrame:
    return build_upsell_tasks(signals, ACCOUNTS, USERS, as_of=AS_OF, templates=templates)


def test_the_shipped_templates_cover_every_upsell_code(templates) -> None:
    assert upsell_template_problems(templates) == []
    for code in UPSELL_CODES:
        assert templates.has("tasks", f"upsell.{code}")


def test_a_missing_upsell_template_is_a_config_problem() -> None:
    sections = {"tasks": {"upsell.near_plan_limit": {"subject": "{nope}", "description": "x"}}}
    templates = TemplateSet(file="tpl/ja", language="ja", sections=sections)
    problems = upsell_template_problems(templates)
    assert sorted(p.path for p in problems) == [
        "tasks.upsell.content_interest_rising",
        "tasks.upsell.deliveries_rising",
        "tasks.upsell.expansion_proposal",
        "tasks.upsell.near_plan_limit.subject",
    ]


def test_upsell_tasks_join_the_signal_tasks_in_one_frame(templates) -> None:
    combined = combine_tasks(None, _build(templates), None)
    assert combined is not None and len(combined) == 3
