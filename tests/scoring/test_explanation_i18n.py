"""Score explanations from templates: Japanese by default, English on request, checked templates,
and still one shared string per distinct breakdown (a Categorical)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from sfsync.errors import ConfigError
from sfsync.scoring import score_accounts, scorecard_from_dict
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
    wording_kw,
)

# The worked example (account 001B of test_cli_score): deliveries 1 -> 15, login days 1 -> 8,
# last touch 54 days ago -> 10, no meeting -> 0, conversion 0.10 below the default benchmark
# -> 5, renewal within 3 months -> 10: 48, orange.
WORKED = base_account(
    account_id="001B",
    arr=500_000.0,
    contract_start="2024-12-15",
    renewal_date="2025-05-01",
    industry=None,
    tenant_id="T2",
    competitor_evaluation=True,
)
WORKED_USAGE = [
    usage_row("2025-02", tenant_id="T2", deliveries=1.0, login_days=1.0,
              last_login_date="2025-01-05", pipeline_conversion_rate=0.10),
    usage_row("2025-01", tenant_id="T2", deliveries=4.0, login_days=3.0,
              last_login_date="2025-01-05", pipeline_conversion_rate=0.10),
]  # fmt: skip
WORKED_ACTS = [activity("2025-01-20", "call", account_id="001B")]

# one measure per line, the next action for the band under the score
JA = (
    "スコア 48（警戒）\n"
    "次のアクション: 改善プランで今すぐ介入\n"
    "利用状況 23/40\n・配信数 1–2回 = 15/25\n・ログイン日数 1–5日 = 8/15\n"
    "エンゲージメント 10/30\n・最終接触からの日数 30–59日 = 10/20\n・今四半期の面談 なし = 0/10\n"
    "成果 5/20\n・商談化率 業界平均未満 = 5/20\n"
    "契約 10/10\n・契約更新 3か月以内 = 10/10"
)
EN = (
    "Score 48 (Alert)\n"
    "Next action: intervene now with an improvement plan\n"
    "usage 23/40\n- deliveries 1–2 = 15/25\n- login days 1–5 = 8/15\n"
    "engagement 10/30\n- days since last touch 30–59 days = 10/20\n- meeting this quarter no = 0/10\n"
    "outcome 5/20\n- pipeline conversion below benchmark = 5/20\n"
    "contract 10/10\n- renewal (calendar months ahead) within 3 months = 10/10"
)


def score(card, accounts=None, usage=None, acts=None, **kw):
    return score_accounts(
        accounts_frame(accounts or [WORKED]),
        usage_frame(usage or WORKED_USAGE),
        activities_frame(acts or WORKED_ACTS),
        as_of=AS_OF,
        scorecard=card,
        **wording_kw(kw),
    )


def test_worked_example_is_japanese_by_default(default_card):
    result = score(default_card)
    assert result.scores["health_score"].iloc[0] == 48
    assert result.scores["explanation"].iloc[0] == JA


def test_worked_example_in_english(default_card):
    assert score(default_card, language="en").scores["explanation"].iloc[0] == EN
    templates = load_templates(TEMPLATES_DIR, "en")
    assert score(default_card, templates=templates).scores["explanation"].iloc[0] == EN


def test_canonical_outputs_do_not_depend_on_the_language(default_card):
    ja, en = score(default_card), score(default_card, language="en")
    pd.testing.assert_frame_equal(
        ja.scores.drop(columns="explanation"), en.scores.drop(columns="explanation")
    )
    pd.testing.assert_frame_equal(ja.explanations, en.explanations)  # bins stay canonical


def test_unlinked_account_names_its_data_quality_flag(default_card):
    account = WORKED | {"tenant_id": None}
    ja = score(default_card, accounts=[account]).scores["explanation"].iloc[0]
    assert "\n利用状況 対象外\n・配信数 対象外\n・ログイン日数 対象外\n" in ja
    # usage and outcome (conversion) measures are dropped: re-normalised over the other 40 points
    assert "\n※対象外の指標を除いた40点満点（本来100点）で計算し、100点満点に換算しています\n" in ja
    assert ja.endswith("\nデータ品質: テナントID未連携")
    en = score(default_card, accounts=[account], language="en").scores["explanation"].iloc[0]
    assert "\nusage n/a/40\n- deliveries not applicable\n- login days not applicable\n" in en
    assert "\n* Scored out of 40 points (of 100) without the measures" in en
    assert en.endswith("\ndata quality: no tenant linked")


def test_missing_zero_and_no_score_wording():
    card = scorecard_from_dict(
        {
            "name": "tiny",
            "categories": {
                "c": {
                    "label": "care",
                    "labels": {"ja": "ケア"},
                    "max_points": 10,
                    "measures": {
                        "touch": {
                            "label": "touch",  # no Japanese label: falls back to `label`
                            "type": "bins",
                            "input": "days_since_last_touch",
                            "missing": "zero",
                            "bins": [
                                {"label": "recent", "labels": {"ja": "最近"}, "lt": 30,
                                 "points": 10},
                                {"ge": 30, "points": 0},
                            ],
                        }
                    },
                }
            },
            "bands": [{"name": "low", "min": 0, "max": 49}, {"name": "high", "min": 50, "max": 100}],
        }
    )  # fmt: skip
    no_touch = score(card, acts=[activity("2025-01-20", "call", account_id="other")])
    assert no_touch.scores["explanation"].iloc[0] == (
        "スコア 0（low）\nケア 0/10\n・touch データなし = 0/10"  # band without a label: its name
    )
    old = score(card, acts=[activity("2025-01-01", "call", account_id="001B")], language="en")
    assert old.scores["explanation"].iloc[0] == "Score 0 (low)\ncare 0/10\n- touch ≥ 30 = 0/10"
    recent = score(card, acts=[activity("2025-03-10", "call", account_id="001B")])
    assert (
        recent.scores["explanation"].iloc[0]
        == "スコア 100（high）\nケア 10/10\n・touch 最近 = 10/10"
    )
    unlabelled_bin = score(card).scores["explanation"].iloc[0]  # 54 days: the bin has no label
    assert unlabelled_bin == "スコア 0（low）\nケア 0/10\n・touch ≥ 30 = 0/10"


def _copy_templates(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, target)
    return target


def test_unknown_placeholder_is_a_config_error_naming_file_and_key(tmp_path, default_card):
    directory = _copy_templates(tmp_path)
    path = directory / "ja" / "explanation.yaml"
    text = path.read_text(encoding="utf-8")
    bad = text.replace(
        '"・{measure} {bin} = {points}/{max_points}"', '"・{measure} {bin} ×{weight}"'
    )
    assert bad != text
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        score(default_card, templates=load_templates(directory, "ja"))
    message = str(info.value)
    assert str(path) in message
    assert "explanation.measure.text" in message
    assert "unknown placeholder(s) weight" in message


def test_missing_template_key_is_a_config_error(tmp_path, default_card):
    directory = _copy_templates(tmp_path)
    path = directory / "en" / "explanation.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  no_score:\n", "  no_score_renamed:\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        score(default_card, templates=load_templates(directory, "en"))
    assert "explanation.no_score.text" in str(info.value)
    assert "template is not defined" in str(info.value)
    assert str(path) in str(info.value)


def test_explanations_are_a_categorical_of_shared_strings(default_card):
    """Identical breakdowns share one category; the column stays a Categorical of strings."""
    profiles = [
        WORKED,
        WORKED | {"tenant_id": None},
        WORKED | {"renewal_date": "2026-01-01"},
    ]
    accounts = [p | {"account_id": f"001{i:04d}"} for i in range(300) for p in [profiles[i % 3]]]
    acts = [activity("2025-01-20", "call", account_id=a["account_id"]) for a in accounts]
    for language in ("ja", "en"):
        result = score(default_card, accounts=accounts, acts=acts, language=language)
        column = result.scores["explanation"]
        assert isinstance(column.dtype, pd.CategoricalDtype)
        assert column.cat.categories.dtype == "string"
        assert len(column.cat.categories) == 3
        codes = column.cat.codes.to_numpy()
        assert (codes[0::3] == codes[0]).all() and (codes[1::3] == codes[1]).all()
        assert len({codes[0], codes[1], codes[2]}) == 3
        if language == "ja":
            assert column.iloc[0] == JA
        else:
            assert column.iloc[0] == EN
