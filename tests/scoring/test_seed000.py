"""The seed-000 scorecard (adoption checklists + market score) on a worked example.

Hand computation (maximum 30 + 27 + 27 + 100 = 184 when everything applies):

Account X: postings steps 1-3 done -> 3/5 = 18; management step 1 -> 1/5 = 5; paid-ads
checklist unanswered -> 0 (missing: zero); industry アパレル ● 25; パート ● 20; 3 areas 10;
media spend exactly ¥7,000,000 -> 30. Market 85. Earned 18 + 5 + 0 + 85 = 108 of 184:
100 x 108 / 184 = 58.70 -> 59, orange.

Account Y: everything done -> 30 + 27 + 27 = 84; industry missing -> not applicable (max 25
dropped); 契約社員 ▲ 10; 5 areas 25; ¥4,999,999 -> 0. Market 35 of 75. Earned 119 of 159:
100 x 119 / 159 = 74.84 -> 75, yellow.

Account Z: nothing answered; industry "Restaurant" (English alias, ● 25); 正社員 × 5; 1 area 0;
spend missing -> not applicable. Earned 30 of 84 + 70 = 154: 100 x 30 / 154 = 19.48 -> 19, red.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sfsync.cli import main
from sfsync.scoring import load_scorecard, score_accounts
from tests.scoring.builders import (
    AS_OF,
    accounts_frame,
    activities_frame,
    base_account,
    usage_frame,
    wording_kw,
)


def steps(prefix: str, n: int, done: int | None) -> dict:
    return {
        f"adoption_{prefix}_step{i}": (None if done is None else i <= done) for i in range(1, n + 1)
    }


def account(account_id, industry, employment, areas, spend, postings, management, ads):
    row = base_account(account_id=account_id, industry=industry, tenant_id=None)
    row |= steps("postings", 5, postings) | steps("management", 5, management)
    row |= steps("paid_ads", 4, ads)
    row |= {
        "employment_type": employment,
        "recruiting_area_count": areas,
        "annual_media_spend_jpy": spend,
    }
    return row


ROWS = [
    account("X", "アパレル", "パート", 3, 7_000_000, 3, 1, None),
    account("Y", None, "契約社員", 5, 4_999_999, 5, 5, 4),
    account("Z", "Restaurant", "正社員", 1, None, None, None, None),
]


def score_rows(language: str | None = None):
    card = load_scorecard("mappings/scorecards/seed000.yaml")
    frame = accounts_frame(ROWS)
    for column in frame.columns:
        if column.startswith("adoption_"):
            frame[column] = frame[column].astype("boolean")
    return score_accounts(
        frame, usage_frame([]), activities_frame([]), as_of=AS_OF, scorecard=card,
        **wording_kw({"language": language}),
    )  # fmt: skip


@pytest.fixture(scope="module")
def result():
    return score_rows()


def test_worked_example_scores(result):
    scores = result.scores.set_index("account_id")
    assert scores["health_score"].tolist() == [59, 75, 19]
    assert scores["health_band"].tolist() == ["orange", "yellow", "red"]
    assert scores.loc[
        "X", ["postings_points", "management_points", "paid_ads_points"]
    ].tolist() == [
        18,
        5,
        0,
    ]
    assert scores["market_points"].tolist() == [85, 35, 30]
    assert scores.loc["X", "missing_measures"] == "paid_ads_steps"
    assert scores.loc["Y", "missing_measures"] == "industry_fit"
    assert scores.loc["Z", "missing_measures"] == (
        "management_steps;media_spend;paid_ads_steps;postings_steps"
    )


def test_worked_example_explanation(result):
    text = result.scores.set_index("account_id").loc["X", "explanation"]
    assert text.startswith(
        "スコア 59（警戒）\n次のアクション: 改善プランで今すぐ介入\n原稿 18/30\n・完了ステップ 3/5 = 18/30\n"
    )
    assert "業種 ● 反響大 = 25/25" in text
    assert "年間媒体費 700万円以上 = 30/30" in text
    english = score_rows("en").scores.set_index("account_id").loc["X", "explanation"]
    assert english.startswith(
        "Score 59 (Alert)\nNext action: intervene now with an improvement plan\n"
        "postings 18/30\n- postings steps done 3/5 = 18/30\n"
    )
    assert "industry ● strong response = 25/25" in english
    assert "media spend / year ≥ ¥7M = 30/30" in english
    assert english.endswith("\ndata quality: no tenant linked")
    breakdown = result.explanations
    row = breakdown[(breakdown["account_id"] == "Y") & (breakdown["measure"] == "media_spend")]
    assert row[["input_value", "bin", "points"]].iloc[0].tolist() == ["4999999", "< ¥5M", 0.0]


def test_seed000_through_the_cli(tmp_path, capsys):
    frame = pd.DataFrame(ROWS)
    for column in frame.columns:
        if column.startswith("adoption_"):
            frame[column] = frame[column].map({True: "true", False: "false"})
    frame["recruiting_area_count"] = frame["recruiting_area_count"].astype("Int64")
    frame["annual_media_spend_jpy"] = frame["annual_media_spend_jpy"].astype("Int64")
    frame.to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "u.csv").write_text("tenant_id,month,deliveries,login_days\n", encoding="utf-8")
    (tmp_path / "t.csv").write_text("account_id,date,type,completed\n", encoding="utf-8")
    argv = [
        "score",
        "--scorecard",
        "seed000",
        "--as-of",
        "2025-03-15",
        "--out",
        str(tmp_path / "o.csv"),
    ]
    argv += ["--accounts", str(tmp_path / "a.csv"), "--usage", str(tmp_path / "u.csv")]
    argv += ["--activities", str(tmp_path / "t.csv")]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0, capsys.readouterr().err
    out = pd.read_csv(tmp_path / "o.csv")
    assert out["health_score"].tolist() == [59, 75, 19]
    assert list(out.columns[3:7]) == [
        "postings_points",
        "management_points",
        "paid_ads_points",
        "market_points",
    ]
