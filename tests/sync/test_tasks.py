"""Signal Tasks: keys, owners with fallback, due dates, templates in both languages."""

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from sfsync.calendar import month_text, scoring_month
from sfsync.salesforce.tasks import (
    TaskSettings,
    build_signal_tasks,
    load_task_settings,
    task_problems,
)
from sfsync.templates import load_templates

ROOT = Path(__file__).parents[2]
TEMPLATES = ROOT / "mappings" / "templates"
A1, A2, A3 = "001000000000001AAA", "001000000000002AAA", "001000000000003AAA"
OWNER, GONE, FALLBACK = "005000000000001AAA", "005000000000002AAA", "005000000000003AAA"


def frames():
    signals = pd.DataFrame(
        {
            "account_id": [A1, A1, A2, A3, A3],
            "code": [
                "no_login_60d",
                "near_plan_limit",
                "deliveries_drop",
                "competitor",
                "red_band",
            ],
            "kind": ["churn", "upsell", "churn", "churn", "churn"],
            "severity": ["high", "low", "medium", "high", "high"],
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": [A1, A2, A3],
            "name": ["株式会社アルファ", "Beta Inc.", "Gamma"],
            "owner_id": [OWNER, GONE, None],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": [OWNER, GONE, FALLBACK],
            "name": ["佐藤", "Former", "CS Lead"],
            "email": ["sato@example.com", "former@example.com", "lead@example.com"],
            "manager_id": [FALLBACK, FALLBACK, None],
            "is_active": [True, False, True],
        }
    )
    scores = pd.DataFrame(
        {
            "account_id": [A1, A2, A3],
            "health_score": [55, 62, 20],
            "health_band": ["orange", "yellow", "red"],
            "segment": ["A", "B", "S"],
        }
    )
    return signals, accounts, users, scores


@pytest.mark.parametrize(
    "as_of, month",
    [(date(2025, 3, 15), "2025-02"), (date(2025, 3, 1), "2025-02"), (date(2025, 1, 31), "2024-12")],
)
def test_scoring_month_is_the_last_complete_month(as_of, month):
    assert month_text(scoring_month(as_of)) == month


def test_signal_tasks_follow_spec_10():
    signals, accounts, users, scores = frames()
    settings = load_task_settings(ROOT / "mappings" / "tasks.yaml").model_copy(
        update={"fallback_owner": "lead@example.com"}
    )
    tasks = build_signal_tasks(
        signals,
        accounts,
        users,
        as_of=date(2025, 3, 15),
        settings=settings,
        templates=load_templates(TEMPLATES, "ja"),
        scores=scores,
    )
    assert list(tasks["sync_key"]) == [
        f"signal:no_login_60d:{A1}:2025-02",
        f"signal:deliveries_drop:{A2}:2025-02",
        f"signal:competitor:{A3}:2025-02",
        f"signal:red_band:{A3}:2025-02",
    ]
    # inactive owner (A2) and missing owner (A3) fall back to the configured user
    assert list(tasks["owner_id"]) == [OWNER, FALLBACK, FALLBACK, FALLBACK]
    assert set(tasks["activity_date"]) == {date(2025, 3, 17)}
    assert set(tasks["priority"]) == {"High"}
    assert set(tasks["status"]) == {"Not Started"}
    assert (
        tasks.loc[0, "subject"]
        == "【要対応・48時間以内】株式会社アルファ: 60日以上ログインがありません"
    )
    assert "期限 2025-03-17" in tasks.loc[0, "description"]
    assert "ヘルススコア: 55（🟠 警戒）" in tasks.loc[0, "description"]


def test_without_fallback_an_inactive_owner_leaves_the_owner_empty():
    signals, accounts, users, _ = frames()
    tasks = build_signal_tasks(
        signals,
        accounts,
        users,
        as_of=date(2025, 3, 15),
        settings=TaskSettings(),
        templates=load_templates(TEMPLATES, "en"),
    )
    assert tasks["owner_id"].isna().tolist() == [False, True, True, True]
    assert tasks.loc[0, "subject"] == "[Action within 48h] 株式会社アルファ: no login for 60+ days"


def test_configured_signals_and_severities_limit_the_tasks():
    signals, accounts, users, _ = frames()
    settings = TaskSettings(signals=("competitor", "deliveries_drop"), severities=("high",))
    tasks = build_signal_tasks(
        signals,
        accounts,
        users,
        as_of=date(2025, 3, 15),
        settings=settings,
        templates=load_templates(TEMPLATES, "ja"),
    )
    assert list(tasks["signal_code"]) == ["competitor"]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_shipped_settings_and_templates_are_valid(language):
    settings = load_task_settings(ROOT / "mappings" / "tasks.yaml")
    assert task_problems(settings, load_templates(TEMPLATES, language)) == []


def test_missing_template_and_unknown_signal_are_reported(tmp_path):
    (tmp_path / "ja").mkdir()
    (tmp_path / "ja" / "tasks_signals.yaml").write_text(
        "tasks:\n  signal.competitor:\n    subject: '{account}'\n    description: x\n",
        encoding="utf-8",
    )
    settings = TaskSettings(signals=("competitor", "red_band", "bogus"), source="tasks.yaml")
    messages = [str(p) for p in task_problems(settings, load_templates(tmp_path, "ja"))]
    assert messages[0].startswith(
        f"{tmp_path / 'ja' / 'tasks_signals.yaml'}: tasks.signal.competitor.subject: unknown placeholder(s) account;"
    )
    assert messages[1:] == [
        f"{tmp_path / 'ja'}: tasks.signal.red_band: no Task template for signal red_band (language ja)",
        "tasks.yaml: signals.2: unknown churn signal 'bogus'; known: competitor, contact_changed, "
        "deliveries_drop, email_engagement_falling, no_login_60d, onboarding_videos_unwatched, "
        "red_band, score_drop, tickets_rising, tutorial_not_completed",
    ]


def test_no_signals_give_an_empty_frame_with_the_task_columns():
    _, accounts, users, _ = frames()
    empty = pd.DataFrame(columns=["account_id", "code", "kind", "severity"])
    tasks = build_signal_tasks(
        empty,
        accounts,
        users,
        as_of=date(2025, 3, 15),
        settings=TaskSettings(),
        templates=load_templates(TEMPLATES, "ja"),
    )
    assert tasks.empty and "sync_key" in tasks.columns
