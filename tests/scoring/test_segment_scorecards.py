"""Scorecards per segment within one job (sfsync.scoring.segmented): the segment is decided
first (by the default scorecard's rules), then each account is scored by its segment's
scorecard; the default scorecard's figures do not move.

Worked example, as of 2025-03-15 (scoring month 2025-02):

- ``S1``: ARR 6M → segment S → seed000. Postings 5/5 = 30, management 3/5 = 16, paid ads 0/4
  = 0 (answered: false), industry アパレル ● 25, パート ● 20, 5 areas 25, ¥8M 30 → market 100.
  Earned 146 of 184 → 100 × 146 / 184 = 79.35 → 79, yellow.
- ``A1``: ARR 2M → segment A → seed000. Nothing done (0 + 0 + 0), industry unlisted (0),
  契約社員 ▲ 10, 1 area 0, spend missing (n/a). Earned 10 of 84 + 75 = 159 → 6.29 → 6, red.
- ``B1``: ARR 0.5M, healthy usage → segment B → default scorecard, the same figures as when
  the whole frame is scored with the default scorecard alone.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sfsync.cli import main
from sfsync.errors import InputDataError
from sfsync.scoring import load_scorecard, score_accounts
from sfsync.scoring.segmented import SegmentedScoreResult, score_by_segment
from tests.scoring.builders import (
    AS_OF,
    accounts_frame,
    activities_frame,
    activity,
    base_account,
    usage_frame,
    usage_row,
    wording_kw,
)


def steps(prefix: str, n: int, done: int) -> dict:
    return {f"adoption_{prefix}_step{i}": i <= done for i in range(1, n + 1)}


def account(account_id, arr, tenant, industry, employment, areas, spend, done) -> dict:
    row = base_account(account_id=account_id, arr=arr, tenant_id=tenant, industry=industry)
    row |= steps("postings", 5, done[0]) | steps("management", 5, done[1])
    row |= steps("paid_ads", 4, done[2])
    return row | {
        "employment_type": employment,
        "recruiting_area_count": areas,
        "annual_media_spend_jpy": spend,
    }


ROWS = [
    account("B1", 500_000.0, "T1", "Technology", "パート", 2, 1_000_000, (1, 1, 1)),
    account("S1", 6_000_000.0, "T2", "アパレル", "パート", 5, 8_000_000, (5, 3, 0)),
    account("A1", 2_000_000.0, None, "Manufacturing", "契約社員", 1, None, (0, 0, 0)),
]
USAGE = [
    usage_row(tenant_id="T1"),
    usage_row("2025-01", tenant_id="T1"),
    usage_row(tenant_id="T2", deliveries=0.0, login_days=0.0, last_login_date="2024-11-01"),
]
ACTIVITIES = [activity(account_id="B1"), activity("2025-03-10", "call", account_id="S1")]


def frames():
    accounts = accounts_frame(ROWS)
    for column in accounts.columns:
        if column.startswith("adoption_"):
            accounts[column] = accounts[column].astype("boolean")
    return accounts, usage_frame(USAGE), activities_frame(ACTIVITIES)


@pytest.fixture(scope="module")
def cards():
    return (
        load_scorecard("mappings/scorecards/default.yaml"),
        load_scorecard("mappings/scorecards/seed000.yaml"),
    )


def score(default, by_segment, **kw):
    accounts, usage, activities = frames()
    return score_by_segment(
        accounts, usage, activities, as_of=AS_OF, scorecard=default, by_segment=by_segment,
        **wording_kw(kw),
    )  # fmt: skip


def test_each_segment_is_scored_with_its_scorecard(cards):
    default, seed000 = cards
    result = score(default, {"S": seed000, "A": seed000})
    assert isinstance(result, SegmentedScoreResult)
    scores = result.scores.set_index("account_id")
    assert scores.index.tolist() == ["B1", "S1", "A1"]  # the input order
    assert scores["scorecard"].tolist() == ["default", "seed000", "seed000"]
    assert scores["segment"].tolist() == ["B", "S", "A"]
    assert scores.loc["S1", "health_score"] == 79 and scores.loc["S1", "health_band"] == "yellow"
    assert scores.loc["A1", "health_score"] == 6 and scores.loc["A1", "health_band"] == "red"
    assert scores.loc["S1", "market_points"] == 100 and scores.loc["S1", "postings_points"] == 30
    # each account has points only in its own scorecard's categories
    assert pd.isna(scores.loc["S1", "usage_points"]) and pd.isna(scores.loc["B1", "market_points"])
    assert list(result.scores.columns[:12]) == [
        "account_id", "health_score", "health_band", "usage_points", "engagement_points",
        "outcome_points", "contract_points", "postings_points", "management_points",
        "paid_ads_points", "market_points", "scorecard",
    ]  # fmt: skip


def test_the_default_scorecards_figures_do_not_move(cards):
    default, seed000 = cards
    alone = score_accounts(*frames(), as_of=AS_OF, scorecard=default, **wording_kw({}))
    mixed = score(default, {"S": seed000, "A": seed000})
    row = mixed.scores[mixed.scores["account_id"] == "B1"]
    expected = alone.scores[alone.scores["account_id"] == "B1"]
    for column in expected.columns:
        assert row[column].tolist() == expected[column].tolist(), column
        assert type(row[column].dtype) is type(expected[column].dtype), column


def test_without_another_scorecard_the_result_is_score_accounts(cards):
    default, _ = cards
    alone = score_accounts(*frames(), as_of=AS_OF, scorecard=default, **wording_kw({}))
    for by_segment in ({}, {"S": default}):
        result = score(default, by_segment)
        assert not isinstance(result, SegmentedScoreResult)
        assert "scorecard" not in result.scores.columns
        pd.testing.assert_frame_equal(result.scores, alone.scores)
        pd.testing.assert_frame_equal(result.signals, alone.signals)


def test_signals_explanations_and_explain_follow_the_accounts_scorecard(cards):
    default, seed000 = cards
    result = score(default, {"S": seed000, "A": seed000}, language="en")
    codes = result.signals.groupby("account_id")["code"].apply(list).to_dict()
    assert "red_band" in codes["A1"]  # red under seed000 (6)
    assert "no_login_60d" in codes["S1"]  # usage signals still hold for every account
    assert list(result.signals["account_id"].drop_duplicates()) == [
        a for a in ("B1", "S1", "A1") if a in codes
    ]
    breakdown = result.explanations
    measures = breakdown.groupby("account_id")["measure"].apply(set).to_dict()
    assert measures["S1"] == {m for _, m, _ in seed000.measures()}
    assert measures["B1"] == {m for _, m, _ in default.measures()}
    assert breakdown["account_id"].drop_duplicates().tolist() == ["B1", "S1", "A1"]
    text = result.scores.set_index("account_id")["explanation"]
    assert "postings" in text["S1"] and "usage" in text["B1"]
    assert result.card_of("S1") is seed000 and result.card_of("B1") is default


def test_the_segment_stays_the_one_that_chose_the_scorecard(cards):
    default, seed000 = cards
    # a scorecard whose own rules would put every account in segment B
    rules = seed000.rules.model_copy(
        update={"segments": seed000.rules.segments.model_copy(update={"s_min_arr": 1e12,
                                                                      "s_if_enterprise": False,
                                                                      "a_min_arr": 1e12})}
    )  # fmt: skip
    strict = seed000.model_copy(update={"rules": rules})
    result = score(default, {"S": strict, "A": strict})
    assert result.scores["segment"].tolist() == ["B", "S", "A"]


def test_a_segments_scorecard_without_its_inputs_is_a_clear_error(cards):
    default, seed000 = cards
    accounts, usage, activities = frames()
    for column in seed000.inputs:  # the S account's checklists and market fields are empty
        accounts.loc[accounts["account_id"] == "S1", column] = None
    with pytest.raises(InputDataError, match="the scorecard seed000 cannot score"):
        score_by_segment(
            accounts, usage, activities, as_of=AS_OF, scorecard=default,
            by_segment={"S": seed000}, **wording_kw({}),
        )  # fmt: skip


def _write_inputs(tmp_path) -> list[str]:
    frame = pd.DataFrame(ROWS)
    for column in frame.columns:
        if column.startswith("adoption_"):
            frame[column] = frame[column].map({True: "true", False: "false"})
    frame["annual_media_spend_jpy"] = frame["annual_media_spend_jpy"].astype("Int64")
    frame.to_csv(tmp_path / "a.csv", index=False)
    usage_frame(USAGE).to_csv(tmp_path / "u.csv", index=False)
    activities_frame(ACTIVITIES).to_csv(tmp_path / "t.csv", index=False)
    return ["--accounts", str(tmp_path / "a.csv"), "--usage", str(tmp_path / "u.csv"),
            "--activities", str(tmp_path / "t.csv"), "--as-of", "2025-03-15"]  # fmt: skip


def _cli(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_score_csv_says_which_scorecard_scored_each_account(tmp_path, capsys):
    argv = ["score", *_write_inputs(tmp_path), "--out", str(tmp_path / "o.csv")]
    argv += ["--segment-scorecard", "S=seed000", "--segment-scorecard", "A=seed000"]
    argv += ["--segment-scorecard", "B=default"]  # the default scorecard, named again
    code, _, err = _cli(argv, capsys)
    assert code == 0, err
    out = pd.read_csv(tmp_path / "o.csv").set_index("account_id")
    assert list(out.columns[:3]) == ["health_score", "health_band", "scorecard"]
    assert out["scorecard"].to_dict() == {"B1": "default", "S1": "seed000", "A1": "seed000"}
    assert out.loc[["S1", "A1"], "health_score"].tolist() == [79, 6]
    assert {"usage_points", "market_points"} <= set(out.columns)


@pytest.mark.parametrize(("account_id", "card"), [("S1", "seed000"), ("B1", "default")])
def test_explain_uses_the_accounts_scorecard(tmp_path, capsys, account_id, card):
    argv = ["explain", *_write_inputs(tmp_path), "--language", "en"]
    argv += ["--segment-scorecard", "S=seed000", "--account", account_id]
    code, out, err = _cli(argv, capsys)
    assert code == 0, err
    assert card in out.splitlines()[0]
    assert ("postings" in out) == (card == "seed000")


def test_a_bad_segment_option_is_named(tmp_path, capsys):
    argv = ["score", *_write_inputs(tmp_path), "--segment-scorecard", "X=seed000"]
    code, _, err = _cli(argv, capsys)
    assert code == 2
    assert "--segment-scorecard" in err and "'X=seed000': use SEGMENT=NAME" in err
