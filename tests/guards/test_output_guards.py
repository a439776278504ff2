"""The output guard (mass-change brake): far more change than recent runs stops the run."""

from __future__ import annotations

import pandas as pd

from sfsync.guards.outputs import check_outputs, output_figures

LIMITS = {
    "red_turn_share": (0.10, 3.0),
    "new_churn_signal_share": (0.20, 3.0),
    "rewrite_share": (0.60, 2.0),
}


def scores(bands: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"account_id": [f"a{i}" for i in range(len(bands))], "health_band": bands})


def previous(bands: list[str], signals: list[str] | None = None) -> pd.DataFrame:
    frame = scores(bands)
    frame["signals"] = signals or [""] * len(bands)
    return frame


def signals(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["account_id", "code"])


def figures(now, before, churn=(), changed=(), in_scope=None):
    return output_figures(
        scores(now),
        previous(*before) if before is not None else None,
        signals(list(churn)),
        changed_records=list(changed),
        quiet_fields=["Health_Scored_At__c", "Health_Trend__c"],
        records_in_scope=len(now) if in_scope is None else in_scope,
    )


def test_red_turns_count_only_accounts_that_were_not_red():
    fig = figures(["red", "red", "green", "red"], (["red", "yellow", "green"],))
    assert (fig["compared"], fig["red_turns"]) == (3, 1)  # a3 has no previous score
    assert fig["red_turn_share"] == 1 / 3


def test_new_churn_signals_are_codes_not_active_at_the_previous_score():
    before = (["green", "green"], ["no_login_60d", "competitor;near_plan_limit"])
    churn = [("a0", "no_login_60d"), ("a0", "red_band"), ("a1", "competitor"), ("a9", "x")]
    fig = figures(["green", "green"], before, churn=churn)
    assert fig["new_churn_signals"] == 1  # a0 red_band; a9 has no previous score


def test_a_change_of_quiet_fields_alone_is_no_rewrite():
    changed = [
        ["Health_Scored_At__c"],
        ["Health_Scored_At__c", "Health_Score__c"],
        ["Health_Trend__c"],
    ]
    fig = figures(["green"] * 4, None, changed=changed)
    assert (fig["rewrites"], fig["rewrite_share"]) == (1, 0.25)


def test_no_history_means_no_check():
    fig = {"red_turn_share": 0.9, "new_churn_signal_share": 5.0, "rewrite_share": 1.0}
    assert check_outputs(fig, [], LIMITS) == []


def test_a_mass_turn_to_red_is_stopped_with_its_figures():
    now = ["red"] * 62 + ["green"] * 79
    fig = figures(now, (["green"] * 141,))
    recent = [
        {
            "compared": 141,
            "red_turn_share": 0.02,
            "new_churn_signal_share": 0.05,
            "rewrite_share": 0.3,
        }
    ]
    found = check_outputs(fig, recent, LIMITS)
    assert [f.check for f in found] == ["red_turn_share"]
    assert "62 of 141" in found[0].message and "guards.output.red_turn_share" in found[0].message


def test_usual_change_passes_and_the_limit_follows_recent_runs():
    fig = {"red_turn_share": 0.12, "new_churn_signal_share": 0.1, "rewrite_share": 0.9}
    busy = [
        {
            "compared": 100,
            "red_turn_share": 0.05,
            "new_churn_signal_share": 0.1,
            "rewrite_share": 1.0,
        }
    ]
    assert check_outputs(fig, busy, LIMITS) == []  # 0.12 ≤ 3 × 0.05; 0.9 ≤ 2 × 1.0
    quiet = [
        {
            "compared": 100,
            "red_turn_share": 0.0,
            "new_churn_signal_share": 0.0,
            "rewrite_share": 0.0,
        }
    ]
    assert [f.check for f in check_outputs(fig, quiet, LIMITS)] == [
        "red_turn_share",
        "rewrite_share",
    ]


def test_a_first_run_is_no_baseline_for_turns_and_signals_so_the_floors_hold():
    first = {
        "compared": 0,
        "red_turn_share": 0.0,
        "new_churn_signal_share": 0.0,
        "rewrite_share": 1,
    }
    usual = {"red_turn_share": 0.08, "new_churn_signal_share": 0.15, "rewrite_share": 0.4}
    assert check_outputs(usual, [first], LIMITS) == []
    mass = dict(usual, red_turn_share=0.5)
    assert [f.check for f in check_outputs(mass, [first], LIMITS)] == ["red_turn_share"]


def test_contacts_added_to_campaigns_are_counted_per_account_and_braked_against_recent_runs():
    fig = output_figures(
        scores(["green"] * 4), None, signals([]), changed_records=[], quiet_fields=[],
        records_in_scope=4, campaign_members=10,
    )  # fmt: skip
    assert (fig["campaign_members"], fig["campaign_member_share"]) == (10, 2.5)
    limits = {"campaign_member_share": (2.0, 2.0)}  # the default floor and factor
    month_start = {"compared": 4, "campaign_member_share": 1.1}
    ordinary = {"compared": 4, "campaign_member_share": 0.05}
    # a month's first night like the last one passes; everyone at once on a quiet month stops
    assert check_outputs({"campaign_member_share": 1.2}, [month_start, ordinary], limits) == []
    found = check_outputs(fig, [ordinary], limits)
    assert [f.check for f in found] == ["campaign_member_share"]
    assert "contacts added to Campaigns per account: 2.50 (10 for 4 accounts)" in found[0].message
    assert "guards.output.campaign_member_share" in found[0].message
