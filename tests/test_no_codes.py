"""No codes in front of people (issue 12 item 2): every text a CSM or manager reads — the
explanation field, ``sfsync explain``, signal Task subjects and descriptions, Slack alerts — is
rendered from the shipped templates on sample data and checked for raw codes (signal codes,
band and phase codes, severities) and for unrounded numbers (``2.7857``)."""

from __future__ import annotations

import json
import re
from datetime import date

import pandas as pd
import pytest

from sfsync.catalogue import BANDS, PHASES, SEVERITIES, SIGNALS
from sfsync.notify.messages import MessageBuilder
from sfsync.salesforce.tasks import TaskSettings, build_signal_tasks
from sfsync.scoring import score_accounts
from sfsync.scoring.explain import render_account
from sfsync.templates import load_templates
from tests.scoring.builders import (
    AS_OF,
    TEMPLATES_DIR,
    accounts_frame,
    activities_frame,
    activity,
    base_account,
    usage_frame,
    usage_row,
)

SIGNAL_CODES = [s.code for s in SIGNALS]
LANGUAGES = ("ja", "en")
UNROUNDED = re.compile(r"(?<![\d.])(?:[1-9]\d*\.\d{2,}|0\.\d{4,})")  # 2.79, 0.0833: not for people


def _codes(language: str) -> list[str]:
    """The codes that must not show. English words that are also codes (``renewal``,
    ``competitor``, ``low``) are only checked in the Japanese texts."""
    codes = SIGNAL_CODES + list(BANDS)
    if language == "ja":
        codes += list(PHASES) + list(SEVERITIES)
    else:
        codes = [c for c in codes if "_" in c or c in BANDS]
    return codes


def raw_codes(text: str, language: str) -> list[str]:
    """The codes (whole words) and unrounded numbers found in ``text``."""
    found = [c for c in _codes(language) if re.search(rf"(?<![A-Za-z_]){c}(?![A-Za-z_])", text)]
    return found + UNROUNDED.findall(text)


def test_the_check_finds_codes_and_long_decimals() -> None:
    assert raw_codes("フェーズ: maturity、契約更新: 2.7857", "ja") == ["maturity", "2.7857"]
    assert raw_codes("スコア 13（red）", "ja") == ["red"]
    assert raw_codes("signals: no_login_60d", "en") == ["no_login_60d"]
    assert raw_codes("スコア 13（危険）、契約更新: 2.8", "ja") == []


def _accounts():
    return [
        base_account(account_id="001A", arr=6_000_000.0, tenant_id="T1", contract_start="2024-10-01",
                     renewal_date="2025-05-20", competitor_evaluation=True),
        base_account(account_id="001B", arr=500_000.0, tenant_id="T2", contract_start="2022-01-10",
                     renewal_date="2025-12-01"),
        base_account(account_id="001C", arr=2_000_000.0, tenant_id=None, contract_start=None,
                     renewal_date="2025-04-25"),
        base_account(account_id="001D", arr=1_500_000.0, tenant_id="T4", contract_start="2024-08-01",
                     renewal_date="2026-02-01"),
    ]  # fmt: skip


def _usage():
    return [
        usage_row("2025-02", tenant_id="T1", deliveries=1.0, login_days=1.0,
                  last_login_date="2024-12-01", pipeline_conversion_rate=0.0833),
        usage_row("2025-01", tenant_id="T1", deliveries=4.0, login_days=3.0,
                  last_login_date="2024-12-01", pipeline_conversion_rate=0.0833),
        usage_row("2025-02", tenant_id="T2", deliveries=6.0, login_days=12.0,
                  last_login_date="2025-02-27", pipeline_conversion_rate=0.31),
        usage_row("2025-02", tenant_id="T4", deliveries=9.0, login_days=18.0,
                  last_login_date="2025-02-28", pipeline_conversion_rate=0.4),
        usage_row("2025-01", tenant_id="T4", deliveries=3.0, login_days=15.0,
                  last_login_date="2025-01-28", pipeline_conversion_rate=0.4),
    ]  # fmt: skip


@pytest.fixture(scope="module", params=LANGUAGES)
def scored(request, default_card_module):
    language = request.param
    templates = load_templates(TEMPLATES_DIR, language)
    result = score_accounts(
        accounts_frame(_accounts()),
        usage_frame(_usage()),
        activities_frame([activity("2025-01-20", "call", account_id="001B"),
                          activity("2025-03-01", "qbr", account_id="001D")]),
        as_of=AS_OF,
        scorecard=default_card_module,
        templates=templates,
        previous=pd.DataFrame({"account_id": ["001A", "001D"], "health_score": [90, 70],
                               "health_band": ["green", "yellow"]}),
    )  # fmt: skip
    return language, templates, result


@pytest.fixture(scope="module")
def default_card_module():
    from sfsync.scoring import load_scorecard

    return load_scorecard(TEMPLATES_DIR.parent / "scorecards" / "default.yaml")


def test_explanations_show_labels_and_rounded_numbers(scored) -> None:
    language, _, result = scored
    assert set(result.scores["health_band"].dropna()) >= {"red", "green"}  # varied sample
    for text in result.scores["explanation"].astype(str):
        assert not raw_codes(text, language), text


def test_sfsync_explain_shows_labels_and_rounded_numbers(scored) -> None:
    language, _, result = scored
    breakdown = result.explanations
    for _, row in result.scores.iterrows():
        text = render_account(
            row, breakdown[breakdown["account_id"] == row["account_id"]], result.scorecard,
            result.wording,
        )  # fmt: skip
        assert not raw_codes(text, language), text
    assert result.scores["signals"].notna().any()  # signal codes were there to translate


@pytest.mark.parametrize("language", LANGUAGES)
def test_signal_tasks_of_every_code_show_labels(language) -> None:
    churn = [s for s in SIGNALS if s.kind == "churn"]
    ids = [f"001{i:015d}" for i in range(len(churn))]
    signals = pd.DataFrame(
        {"account_id": ids, "code": [s.code for s in churn], "kind": "churn",
         "severity": [s.severity for s in churn]}
    )  # fmt: skip
    accounts = pd.DataFrame({"account_id": ids, "name": [f"株式会社{i}" for i in range(len(ids))],
                             "owner_id": "005000000000001AAA"})  # fmt: skip
    scores = pd.DataFrame({"account_id": ids, "health_score": 35, "health_band": "red",
                           "segment": "S"})  # fmt: skip
    settings = TaskSettings(signals=tuple(s.code for s in churn), severities=SEVERITIES)
    tasks = build_signal_tasks(
        signals, accounts, None, as_of=date(2025, 3, 15), settings=settings,
        templates=load_templates(TEMPLATES_DIR, language), scores=scores,
    )  # fmt: skip
    assert len(tasks) == len(churn)
    segment = "S（ハイタッチ）" if language == "ja" else "S (high touch)"
    assert tasks["description"].str.contains(segment, regex=False).any()  # the label, not "S"
    for text in tasks["subject"] + "\n" + tasks["description"]:
        assert not raw_codes(text, language), text


@pytest.mark.parametrize("language", LANGUAGES)
def test_slack_alerts_show_labels(language) -> None:
    builder = MessageBuilder(load_templates(TEMPLATES_DIR, language), "https://org.example.com")
    ctx = {
        "account_id": "001A",
        "account_name": "株式会社A",
        "segment": "S",
        "score": 35,
        "band": "red",
        "codes": SIGNAL_CODES,
        "owner_name": "佐藤",
        "due_date": "2025-03-17",
    }
    for fallback, blocks in (
        builder.signal_alert(ctx),
        builder.escalation(ctx, ["segment", "band"]),
    ):
        text = fallback + json.dumps(blocks, ensure_ascii=False)
        assert not raw_codes(text, language), text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_worklist_in_the_digest_shows_labels(language) -> None:
    from sfsync.notify.owner_digest import owner_digests
    from sfsync.notify.worklist import owner_worklist_items

    churn = [s for s in SIGNALS if s.kind == "churn"]
    ids = [f"001{i:015d}" for i in range(len(churn) + 1)]
    touch = pd.DataFrame(
        {"account_id": ids, "owner_id": "005A", "cs_priority": range(1, len(ids) + 1)}
    )
    details = pd.DataFrame(
        {"account_id": ids, "name": [f"株式会社{i}" for i in range(len(ids))], "owner_id": "005A",
         "health_band": [BANDS[i % len(BANDS)] for i in range(len(ids))],
         "renewal_date": pd.Timestamp("2025-04-01")}
    ).set_index("account_id")  # fmt: skip
    signals = pd.DataFrame(
        {"account_id": ids[:-1], "code": [s.code for s in churn], "kind": "churn",
         "severity": [s.severity for s in churn]}
    )  # fmt: skip
    lists = owner_worklist_items(
        touch, signals, details, as_of=date(2025, 3, 15), top=len(ids), renewal_lead_months=2
    )
    (digest,) = owner_digests(pd.DataFrame(), details, worklists=lists, calm_owners=True)
    builder = MessageBuilder(load_templates(TEMPLATES_DIR, language), "https://org.example.com")
    fallback, blocks = builder.owner_digest(
        {"as_of": "2025-03-15", "owner": "佐藤", "digest": digest}
    )
    text = fallback + json.dumps(blocks, ensure_ascii=False)
    assert text.count("/lightning/r/Account/") == len(ids)
    assert not raw_codes(text, language), text
