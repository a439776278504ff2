"""KPIs of one month against a month computed by hand (see the comments for each figure)."""

import pandas as pd
import pytest

from sfsync.automation.kpi import band_counts, compute_kpis, kpi_trend
from sfsync.automation.kpi_report import counts_text, value_text
from sfsync.automation.playbook import load_playbook
from sfsync.templates import load_templates

PLAYBOOK = load_playbook("mappings/playbook.yaml")
TRAILING = PLAYBOOK.model_copy(
    update={"kpi": PLAYBOOK.kpi.model_copy(update={"churn_definition": "trailing_months"})}
)
JA = load_templates("mappings/templates")
NaT = pd.NaT

ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
        "owner_id": ["o1", "o1", "o2", "o2", "o2", "o1"],
        "contract_start": pd.to_datetime(
            ["2024-01-01", "2024-06-01", "2024-12-10", "2024-12-31", "2023-05-01", "2024-05-01"]
        ),
        "churned_on": pd.to_datetime([NaT, "2025-03-10", NaT, NaT, "2024-08-01", NaT]),
        "tenant_id": ["t1", "t2", "t3", "t4", None, "t6"],
    }
)
SNAPSHOTS = pd.DataFrame(
    {
        "account_id": ["a1", "a1", "a1", "a3", "a4", "a6"],
        "as_of": pd.to_datetime(
            ["2025-02-15", "2025-03-01", "2025-03-15", "2025-03-15", "2025-03-15", "2025-03-15"]
        ),
        "health_score": [40, 50, 82, 30, 70, 60],
        "health_band": ["orange", "orange", "green", "red", "yellow", "yellow"],
        "segment": ["A", "A", "A", "S", "B", "A"],
        "signals": [
            "deliveries_rising",
            "expansion_proposal",
            "near_plan_limit",
            "deliveries_rising;no_login_60d",
            None,
            "",
        ],
    }
)
USAGE = pd.DataFrame(
    {
        "tenant_id": ["t1", "t3", "t6", "t3"],
        "month": ["2025-03", "2025-03", "2025-03", "2025-01"],
        "login_days": [3.0, 0.0, 1.0, 4.0],
        "deliveries": [1.0, 0.0, 0.0, 2.0],
    }
)
ACTIVITIES = pd.DataFrame(
    {
        "account_id": ["a1", "a1", "a3", "a3", "a4", "a6", "a6", "a2"],
        "date": pd.to_datetime(
            [
                "2025-03-05",
                "2025-01-15",
                "2025-03-20",
                "2025-03-25",
                "2024-08-01",
                "2025-03-28",
                "2025-04-02",
                "2025-03-03",
            ]
        ),
        "type": ["meeting", "qbr", "call", "qbr", "email", "qbr", "meeting", "meeting"],
        "completed": [True, True, True, False, True, True, True, True],
    }
)
TASKS = pd.DataFrame(
    {
        "sync_key": [
            "upsell:near_plan_limit:a6:2025-03",  # completed in March: a proposal
            "upsell:near_plan_limit:a1:2025-03",  # completed in April
            "upsell:deliveries_rising:a3:2025-03",  # open
            "upsell:expansion_proposal:a4:2025-02",  # a February Task completed in March
            "signal:no_login_60d:a3:2025-03",  # a churn signal Task: no proposal
            "onboarding_setup:a3:2024-12-10",
            "onboarding_kickoff:a3:2024-12-10",
            "onboarding_review:a3:2024-12-10",
            "onboarding_setup:a4:2024-12-31",
            "onboarding_kickoff:a4:2024-12-31",  # open: a4 did not complete its onboarding
            "onboarding_setup:a1:2024-01-01",  # a1's 3 months ended long ago
        ],
        "account_id": ["a6", "a1", "a3", "a4", "a3", "a3", "a3", "a3", "a4", "a4", "a1"],
        "activity_date": pd.to_datetime(
            ["2025-03-18", "2025-03-17", "2025-03-17", "2025-02-20", "2025-03-17"]
            + ["2024-12-13", "2024-12-17", "2025-01-20", "2025-01-03", "2025-01-07", "2024-01-04"]
        ),
        "completed": pd.array(
            [True, True, False, True, True, True, True, True, True, False, True], dtype="boolean"
        ),
        "completed_at": pd.to_datetime(
            ["2025-03-20 10:00", "2025-04-02 09:00", None, "2025-03-05 09:00", "2025-03-19 15:00"]
            + ["2024-12-12 10:00", "2024-12-16 10:00", "2025-01-19 10:00", "2025-01-02 10:00"]
            + [None, "2024-01-03 10:00"]
        ),
    }
)
SIGNALS = pd.DataFrame(
    {
        "account_id": ["a3", "a1", "a6", "a4", "a1", "a3"],
        "code": ["no_login_60d", "deliveries_drop", "score_drop", "competitor"]
        + ["near_plan_limit", "red_band"],
        "kind": ["churn", "churn", "churn", "churn", "upsell", "churn"],
        "severity": ["high"] * 6,
        "first_seen": pd.to_datetime(
            ["2025-03-18", "2025-03-04", "2025-03-25", "2025-03-10", "2025-03-01", "2025-02-10"]
        ),
    }
)
MRR = pd.DataFrame(
    {
        "account_id": ["a1", "a3", "a2", "a1", "a6"],
        "month": ["2024-12", "2024-12", "2024-12", "2025-03", "2025-03"],
        "mrr": [100.0, 50.0, 40.0, 120.0, 80.0],
    }
)


@pytest.fixture(scope="module")
def report():
    return compute_kpis(
        "2025-03",
        playbook=TRAILING,
        snapshots=SNAPSHOTS,
        accounts=ACCOUNTS,
        usage=USAGE,
        activities=ACTIVITIES,
        tasks=TASKS,
        mrr=MRR,
        signals=SIGNALS,
    )


def test_hand_computed_month(report):
    k = {x.key: x for x in report.kpis}
    # window 2024-04-01..2025-03-31: base a1, a5 (started before it); a5 churned in it
    assert (k["churn_rate"].numerator, k["churn_rate"].denominator) == (1, 2)
    assert k["churn_rate"].status == "not_met"
    # accounts with MRR in 2024-12: a1 100, a3 50, a2 40 = 190; in 2025-03 a1 120 (a6 is new)
    assert k["nrr"].value == pytest.approx(120 / 190)
    # latest March snapshots: a1 82, a3 30, a4 70, a6 60
    assert k["average_score"].value == pytest.approx(60.5)
    assert (k["red_share"].numerator, k["red_share"].denominator) == (1, 4)
    # book: a1 a3 a4 a6 (a2 churned 03-10, a5 churned earlier); logins in March: t1, t6
    assert (k["active_rate"].numerator, k["active_rate"].denominator) == (2, 4)
    # a4 (B, 180 days) last touched 2024-08-01: 242 days before 03-31; the others within cadence
    assert (k["cadence_achievement"].numerator, k["cadence_achievement"].denominator) == (3, 4)
    # meetings in March by book accounts: a1 03-05, a6 QBR 03-28 (a2 churned; a6 04-02 later)
    assert (k["meetings_per_csm"].numerator, k["meetings_per_csm"].denominator) == (2, 4)
    assert k["meetings_per_csm"].status == "met"
    # S/A: a1 (QBR 01-15), a3 (QBR not completed), a6 (QBR 03-28)
    assert (k["qbr_rate"].numerator, k["qbr_rate"].denominator) == (2, 3)
    # 3-month mark in March: a3 (03-10, every step Task completed), a4 (03-31, kick-off open)
    assert (k["onboarding_completion"].numerator, k["onboarding_completion"].denominator) == (1, 2)
    steps = report.onboarding_steps.set_index("name")
    assert steps.loc["setup", ["tasks", "completed"]].tolist() == [2, 2]
    assert steps.loc["kickoff", ["tasks", "completed"]].tolist() == [2, 1]
    assert steps.loc["review", ["tasks", "completed"]].tolist() == [1, 1]
    assert steps["step"].tolist() == [0, 1, 2, 3, 4]
    # proposals made = upsell Tasks completed in March: a6 (03-20) and a4's February Task
    # (completed 03-05); a1's was completed in April, a3's is open; detections do not count
    assert k["upsell_proposals"].value == 2
    assert k["upsell_proposals"].status == "not_met"
    # new churn signals in March: a1 03-04 (meeting 03-05: 24 h), a3 03-18 (its signal Task
    # completed 03-19 15:00: 39 h, before the call on 03-20), a6 03-25 (QBR 03-28: 72 h), a4
    # 03-10 (no touch since; its Task completed 03-05 came before); the upsell and February
    # signals are not counted
    assert (k["touch_within_48h"].numerator, k["touch_within_48h"].denominator) == (2, 4)
    assert k["median_hours_to_touch"].value == pytest.approx(39.0)
    assert k["median_hours_to_touch"].counts_text == "3"  # touched signals
    assert k["median_hours_to_touch"].status == "met"
    owners = report.owners.set_index("owner_id")
    assert owners.loc["o1", ["accounts", "meetings", "met"]].tolist() == [2, 2, True]
    assert owners.loc["o2", ["accounts", "meetings", "met"]].tolist() == [2, 0, False]


def test_text_and_targets(report):
    k = {x.key: x for x in report.kpis}
    assert k["churn_rate"].value_text == "50.0%"
    assert k["churn_rate"].target_text == "≤ 10.0%"
    assert k["average_score"].target_text == "≥ 70.0"
    assert k["qbr_rate"].value_text == "66.7%"


def test_missing_inputs_are_na_with_reason():
    r = compute_kpis("2025-03", playbook=PLAYBOOK, snapshots=SNAPSHOTS)
    k = {x.key: x for x in r.kpis}
    assert k["nrr"].status == "na" and k["nrr"].reason == "no_arr_snapshots"
    assert counts_text(JA, k["nrr"]) == (
        "2024-12-31 以前の ARR の記録がありません（夜間ジョブが ARR を記録した月から算出できます）"
    )
    assert k["churn_rate"].status == "na"
    assert k["active_rate"].status == "na"
    feb = compute_kpis(
        "2025-02", playbook=PLAYBOOK, snapshots=SNAPSHOTS, accounts=ACCOUNTS, usage=USAGE
    )
    active = feb.get("active_rate")
    assert (active.reason, active.reason_params) == ("no_usage_rows", {"month": "2025-02"})
    assert counts_text(JA, active) == "2025-02 の利用データがありません"
    assert k["average_score"].status == "not_met"
    no_churn_col = compute_kpis(
        "2025-03", playbook=PLAYBOOK, snapshots=None, accounts=ACCOUNTS.drop(columns="churned_on")
    )
    c = no_churn_col.get("churn_rate")
    assert c.status == "na" and c.reason_params == {"column": "churned_on"}
    assert counts_text(JA, c) == (
        "顧客データに churned_on 列がありません（解約日の項目をマッピングしてください）"
    )
    assert counts_text(JA, no_churn_col.get("average_score")) == (
        "2025-03 のスコアスナップショットがありません"
    )


def test_reasons_render_in_english():
    en = load_templates("mappings/templates", "en")
    r = compute_kpis(
        "2025-03", playbook=PLAYBOOK, snapshots=None, accounts=ACCOUNTS.drop(columns="churned_on")
    )
    assert counts_text(en, r.get("churn_rate")) == (
        "accounts have no churned_on column (map the churn date field)"
    )
    assert counts_text(en, r.get("nrr")) == (
        "no ARR recorded on or before 2024-12-31 (computable from the months the nightly job "
        "recorded ARR)"
    )
    assert counts_text(en, r.get("average_score")) == "no score snapshots in 2025-03"
    assert value_text(en, r.get("nrr")) == "n/a" and value_text(JA, r.get("nrr")) == "—"


def test_every_reason_code_has_a_text_in_every_language():
    import re
    from pathlib import Path

    def codes(pattern: str, *files: str) -> set[str]:
        text = "".join(Path(f).read_text(encoding="utf-8") for f in files)
        return set(re.findall(pattern, text))

    reasons = codes(r'_why\(\s*"(\w+)"', "sfsync/automation/kpi.py")
    reasons |= codes(r'NrrFigures\(None, None, "(\w+)"', "sfsync/automation/kpi_nrr.py")
    assert {"no_arr_snapshots", "no_arr_in_month"} <= reasons
    missing = codes(
        r'MissingInput\(\s*f?"(\w+)"',
        "sfsync/automation/kpi_inputs.py",
        "sfsync/automation/kpi_job.py",
    )
    missing |= {f"{kind}_file" for kind in ("accounts", "usage", "activities", "tasks", "mrr")}
    missing |= {f"{role}_source" for role in ("accounts", "usage", "activities", "tasks")}
    assert len(reasons) >= 15 and len(missing) >= 10
    for language in ("ja", "en"):
        sections = load_templates("mappings/templates", language).sections
        assert reasons <= sections["kpi_reasons"].keys(), language
        assert missing <= sections["kpi_missing_inputs"].keys(), language
    measured = compute_kpis("2025-03", playbook=PLAYBOOK, snapshots=SNAPSHOTS, accounts=ACCOUNTS)
    assert counts_text(JA, measured.get("red_share")) == "1 / 4"


def test_trend_and_band_counts():
    trend = kpi_trend(["2025-02", "2025-03"], playbook=PLAYBOOK, snapshots=SNAPSHOTS)
    avg = trend[trend["key"] == "average_score"].set_index("month")["value"]
    assert avg.to_dict() == {"2025-02": 40.0, "2025-03": 60.5}
    bands = band_counts(SNAPSHOTS, ["2025-02", "2025-03"])
    assert bands.loc["2025-03"].to_dict() == {"green": 1, "yellow": 2, "orange": 0, "red": 1}
    assert bands.loc["2025-02"].to_dict() == {"green": 0, "yellow": 0, "orange": 1, "red": 0}
