"""Every follow-up rule at its boundary dates: the day before it opens, on, after, and closing."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from sfsync.automation.followups import (
    TASK_COLUMNS,
    build_followups,
    due_not_before,
    first_delivery_dates,
    fiscal_quarter,
)
from sfsync.automation.playbook import load_playbook
from sfsync.errors import ConfigError
from sfsync.templates import load_templates

PLAYBOOK = load_playbook("mappings/playbook.yaml")
JA = load_templates("mappings/templates", "ja")
EN = load_templates("mappings/templates", "en")


def account(**kw) -> pd.DataFrame:
    row = {
        "account_id": "001000000000001AAA",
        "name": "Acme",
        "owner_id": "005000000000001AAA",
        "contract_start": pd.NaT,
        "renewal_date": pd.NaT,
        "tenant_id": "t1",
        "segment": "B",
    }
    row.update(kw)
    frame = pd.DataFrame([row])
    for col in ("contract_start", "renewal_date"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def touch(day: str, type_: str = "call", completed: bool = True, acct="001000000000001AAA"):
    return pd.DataFrame(
        {
            "account_id": [acct],
            "date": pd.to_datetime([day]),
            "type": [type_],
            "completed": [completed],
        }
    )


def run(acc, as_of, templates=JA, **kw) -> pd.DataFrame:
    return build_followups(acc, as_of=as_of, playbook=PLAYBOOK, templates=templates, **kw)


def rows(out: pd.DataFrame, rule: str) -> pd.DataFrame:
    return out[out["rule"] == rule]


def d(s: str) -> date:
    return date.fromisoformat(s)


def test_output_shape_and_keys_are_deterministic():
    acc = account(contract_start="2025-03-10", segment="S", renewal_date="2025-05-01")
    acc = pd.concat([acc, account(account_id="002", segment="A", churn_reason="cost")])
    acts = touch("2024-11-01", acct="002")  # overdue for A since 2025-01-31
    first = run(acc, d("2025-03-12"), activities=acts)
    again = run(acc, d("2025-03-13"), activities=acts)
    assert list(first.columns) == TASK_COLUMNS
    common = set(first["sync_key"]) & set(again["sync_key"])
    assert {
        "onboarding_kickoff:001000000000001AAA:2025-03-10",
        "overdue_touch:002:2025-01-31",
        "renewal_reminder:001000000000001AAA:2025-05-01",
        "qbr:002:2025Q1",
        "recovery_cost:002:2025-03",
    } <= common
    assert first["status"].unique().tolist() == ["Not Started"]
    # a row already past due moves with the as-of date (SPEC §10: never born overdue); its due
    # date and description are written once, on creation; the subject never moves
    moved_to = again.set_index("sync_key")["activity_date"]
    moved = sorted(k for k in common if moved_to[k] == d("2025-03-18"))  # 2025-03-13 + 3 bd
    assert "overdue_touch:002:2025-01-31" in moved
    fixed = sorted(common - set(moved))
    pd.testing.assert_frame_equal(
        first.set_index("sync_key").loc[fixed], again.set_index("sync_key").loc[fixed]
    )
    pd.testing.assert_frame_equal(
        first.set_index("sync_key").loc[moved].drop(columns=["activity_date", "description"]),
        again.set_index("sync_key").loc[moved].drop(columns=["activity_date", "description"]),
    )


def test_no_followup_is_born_overdue():
    # the last touch lies far back: the overdue-touch Task's scheduled due date (2022-…) has
    # passed; it is due 3 business days after the as-of date (a Friday: the next Wednesday)
    acc = account(account_id="002", segment="A", contract_start="2020-01-06")
    out = run(acc, d("2025-03-14"), activities=touch("2021-12-01", acct="002"))
    assert len(out) and all(due >= d("2025-03-14") for due in out["activity_date"])
    overdue = rows(out, "overdue_touch").iloc[0]
    assert overdue["activity_date"] == d("2025-03-19")
    assert "2025-03-19" in overdue["description"]


def test_due_not_before_keeps_future_dates_and_moves_past_ones():
    due = pd.Series(pd.to_datetime(["2025-03-01", "2025-03-14", "2025-04-01", None]))
    out = due_not_before(due, d("2025-03-14"), 3)
    assert list(out[:3]) == list(pd.to_datetime(["2025-03-19", "2025-03-14", "2025-04-01"]))
    assert pd.isna(out[3])
    assert due_not_before(due, d("2025-03-14"), 0)[0] == pd.Timestamp("2025-03-14")


# --- onboarding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "present"),
    [("2025-03-09", False), ("2025-03-10", True), ("2025-03-11", True)],
)
def test_setup_and_kickoff_open_on_contract_start(as_of, present):
    out = run(account(contract_start="2025-03-10"), d(as_of))
    for rule, due in (("onboarding_setup", "2025-03-13"), ("onboarding_kickoff", "2025-03-17")):
        got = rows(out, rule)
        assert (len(got) == 1) is present
        if present:
            assert pd.Timestamp(got["activity_date"].iloc[0]) == pd.Timestamp(due)


def test_onboarding_closes_after_three_months_plus_grace():
    acc = account(contract_start="2025-01-31")
    # C + 3 months = 2025-04-30 (clamped), + 14 days grace = 2025-05-14
    assert len(rows(run(acc, d("2025-05-14")), "onboarding_kickoff")) == 1
    assert rows(run(acc, d("2025-05-15")), "onboarding_kickoff").empty


def test_step2_video_between_kickoff_and_planned_first_delivery():
    acc = account(contract_start="2025-03-10")
    assert rows(run(acc, d("2025-03-16")), "onboarding_video").empty
    got = rows(run(acc, d("2025-03-17")), "onboarding_video")
    # planned F = C + 30 = 2025-04-09; due F - 7 = 2025-04-02
    assert pd.Timestamp(got["activity_date"].iloc[0]) == pd.Timestamp("2025-04-02")
    assert len(rows(run(acc, d("2025-03-18")), "onboarding_video")) == 1


@pytest.mark.parametrize(
    ("as_of", "present"), [("2025-03-25", False), ("2025-03-26", True), ("2025-03-27", True)]
)
def test_step3_pre_delivery_opens_two_weeks_before_planned_delivery(as_of, present):
    got = rows(run(account(contract_start="2025-03-10"), d(as_of)), "onboarding_pre_delivery")
    assert (len(got) == 1) is present
    if present:
        assert pd.Timestamp(got["activity_date"].iloc[0]) == pd.Timestamp("2025-04-02")


def test_first_delivery_is_first_day_of_first_month_with_deliveries_not_before_contract():
    acc = pd.concat(
        [
            account(contract_start="2025-03-10"),
            account(account_id="002", tenant_id="t2", contract_start="2025-01-05"),
        ],
        ignore_index=True,
    )
    usage = pd.DataFrame(
        {
            "tenant_id": ["t1", "t1", "t2", "t2"],
            "month": ["2025-03", "2025-04", "2025-01", "2025-02"],
            "deliveries": [0.0, 2.0, 0.0, 1.0],
        }
    )
    got = first_delivery_dates(acc, usage, d("2025-04-15"))
    assert list(got) == [pd.Timestamp("2025-04-01"), pd.Timestamp("2025-02-01")]
    # the April row starts after this as-of date, so it is not known yet
    assert pd.isna(first_delivery_dates(acc, usage, d("2025-03-31")).iloc[0])
    same_month = pd.DataFrame({"tenant_id": ["t1"], "month": ["2025-03"], "deliveries": [1.0]})
    assert first_delivery_dates(acc, same_month, d("2025-03-31")).iloc[0] == pd.Timestamp(
        "2025-03-10"
    )


@pytest.mark.parametrize(
    ("as_of", "review", "pre_delivery"),
    [("2025-03-31", False, True), ("2025-04-01", True, False), ("2025-04-02", True, False)],
)
def test_step4_review_opens_on_first_delivery_and_replaces_steps_2_and_3(
    as_of, review, pre_delivery
):
    acc = account(contract_start="2025-03-10")
    usage = pd.DataFrame({"tenant_id": ["t1"], "month": ["2025-04"], "deliveries": [3.0]})
    out = run(acc, d(as_of), usage=usage)
    got = rows(out, "onboarding_review")
    assert (len(got) == 1) is review
    if review:
        assert pd.Timestamp(got["activity_date"].iloc[0]) == pd.Timestamp("2025-04-08")
    assert (len(rows(out, "onboarding_pre_delivery")) == 1) is pre_delivery
    assert (len(rows(out, "onboarding_video")) == 1) is pre_delivery


@pytest.mark.parametrize(
    ("as_of", "present"), [("2025-06-02", False), ("2025-06-03", True), ("2025-06-04", True)]
)
def test_onboarding_complete_check_a_week_before_three_months(as_of, present):
    got = rows(run(account(contract_start="2025-03-10"), d(as_of)), "onboarding_complete")
    assert (len(got) == 1) is present
    if present:
        assert pd.Timestamp(got["activity_date"].iloc[0]) == pd.Timestamp("2025-06-10")


# --- QBR ----------------------------------------------------------------------------------


def test_fiscal_quarter_boundaries():
    assert fiscal_quarter(d("2025-03-31")) == ("2025Q1", d("2025-01-01"), d("2025-03-31"))
    assert fiscal_quarter(d("2025-04-01")) == ("2025Q2", d("2025-04-01"), d("2025-06-30"))
    assert fiscal_quarter(d("2025-03-31"), 4) == ("2024Q4", d("2025-01-01"), d("2025-03-31"))
    assert fiscal_quarter(d("2025-04-01"), 4) == ("2025Q1", d("2025-04-01"), d("2025-06-30"))


@pytest.mark.parametrize(
    ("as_of", "key", "due"),
    [
        ("2025-03-31", "qbr:001000000000001AAA:2025Q1", "2025-03-31"),
        ("2025-04-01", "qbr:001000000000001AAA:2025Q2", "2025-06-30"),
        ("2025-04-02", "qbr:001000000000001AAA:2025Q2", "2025-06-30"),
    ],
)
def test_qbr_per_quarter_for_s_required(as_of, key, due):
    got = rows(run(account(segment="S"), d(as_of)), "qbr")
    assert list(got["sync_key"]) == [key]
    assert got["priority"].iloc[0] == "High"
    assert pd.Timestamp(got["activity_date"].iloc[0]) == pd.Timestamp(due)
    assert "QBR必須" in got["subject"].iloc[0]


def test_qbr_recommended_for_a_and_none_for_b_c():
    got = rows(run(account(segment="A"), d("2025-04-01"), templates=EN), "qbr")
    assert got["priority"].iloc[0] == "Normal"
    assert got["subject"].iloc[0].startswith("[QBR recommended]")
    assert rows(run(account(segment="B"), d("2025-04-01")), "qbr").empty
    assert rows(run(account(segment="C"), d("2025-04-01")), "qbr").empty


def test_qbr_not_asked_when_already_held_this_quarter():
    acc = account(segment="S")
    held_last_quarter = touch("2025-03-31", "qbr")
    assert len(rows(run(acc, d("2025-04-10"), activities=held_last_quarter), "qbr")) == 1
    held = touch("2025-04-01", "qbr")
    assert rows(run(acc, d("2025-04-10"), activities=held), "qbr").empty
    planned = touch("2025-04-01", "qbr", completed=False)
    assert len(rows(run(acc, d("2025-04-10"), activities=planned), "qbr")) == 1


# --- renewal ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "present"),
    [
        ("2025-03-30", False),
        ("2025-03-31", True),
        ("2025-04-01", True),
        ("2025-05-31", True),
        ("2025-06-01", False),
    ],
)
def test_renewal_reminder_two_months_before(as_of, present):
    # 2025-05-31 - 2 months = 2025-03-31
    got = rows(run(account(renewal_date="2025-05-31"), d(as_of)), "renewal_reminder")
    assert (len(got) == 1) is present
    if present:
        assert got["sync_key"].iloc[0] == "renewal_reminder:001000000000001AAA:2025-05-31"
        # due 7 days after it opens; a run after that date makes it due 3 business days later
        due = pd.Timestamp("2025-04-07") if as_of < "2025-04-07" else pd.Timestamp("2025-06-04")
        assert pd.Timestamp(got["activity_date"].iloc[0]) == due
        assert got["priority"].iloc[0] == "High"


def test_renewal_month_end_clamps():
    got = rows(run(account(renewal_date="2025-04-30"), d("2025-02-28")), "renewal_reminder")
    assert len(got) == 1  # 2025-04-30 - 2 months = 2025-02-28


# --- overdue touch ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "last", "cadence"),
    [
        ("S", "2025-03-01", 30),
        ("A", "2025-01-01", 90),
        ("B", "2024-10-01", 180),
        ("C", "2024-03-01", 365),
    ],
)
def test_overdue_touch_after_cadence_days(segment, last, cadence):
    acc = account(segment=segment)
    acts = touch(last)
    first_overdue = pd.Timestamp(last) + pd.Timedelta(days=cadence + 1)
    on_cadence = (first_overdue - pd.Timedelta(days=1)).date()
    assert rows(run(acc, on_cadence, activities=acts), "overdue_touch").empty
    for as_of in (first_overdue.date(), (first_overdue + pd.Timedelta(days=1)).date()):
        got = rows(run(acc, as_of, activities=acts), "overdue_touch")
        assert list(got["sync_key"]) == [
            f"overdue_touch:001000000000001AAA:{first_overdue:%Y-%m-%d}"
        ]
        assert pd.Timestamp(got["activity_date"].iloc[0]) == first_overdue + pd.Timedelta(days=7)


def test_overdue_touch_ignores_open_and_future_activities_and_falls_back_to_contract_start():
    acc = account(segment="S", contract_start="2025-01-01")
    acts = pd.concat([touch("2025-03-20", completed=False), touch("2025-04-20")])
    got = rows(run(acc, d("2025-03-25"), activities=acts), "overdue_touch")
    assert list(got["sync_key"]) == ["overdue_touch:001000000000001AAA:2025-02-01"]
    assert "最終接点：-" in got["description"].iloc[0]


def test_a_new_touch_ends_the_overdue_task():
    acc = account(segment="S")
    acts = pd.concat([touch("2025-01-01"), touch("2025-03-01")])
    assert rows(run(acc, d("2025-03-05"), activities=acts), "overdue_touch").empty


# --- hand-over ----------------------------------------------------------------------------


def test_handover_when_owner_changed_since_previous_snapshot():
    acc = account(owner_id="005NEW")
    users = pd.DataFrame({"user_id": ["005OLD", "005NEW"], "name": ["津田", "酒井"]})
    prev = pd.DataFrame({"account_id": ["001000000000001AAA"], "owner_id": ["005OLD"]})
    got = rows(run(acc, d("2025-04-01"), previous=prev, users=users), "handover")
    assert list(got["sync_key"]) == ["handover:001000000000001AAA:2025-04-01"]
    assert got["owner_id"].iloc[0] == "005NEW"
    assert "津田 から 酒井" in got["description"].iloc[0]
    assert "新担当者への顧客紹介MTGを設定したか" in got["description"].iloc[0]
    same = pd.DataFrame({"account_id": ["001000000000001AAA"], "owner_id": ["005NEW"]})
    assert rows(run(acc, d("2025-04-01"), previous=same), "handover").empty
    assert rows(run(acc, d("2025-04-01"), previous=None), "handover").empty


# --- recovery -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("コスト", "recovery_cost"),
        ("Missing Feature", "recovery_missing_feature"),
        ("担当者変更", "recovery_contact_change"),
        ("competitor", "recovery_competitor"),
        ("施策終了", "recovery_project_ended"),
    ],
)
def test_recovery_by_churn_reason_field(value, rule):
    got = run(account(churn_reason=value), d("2025-04-10"))
    got = got[got["rule"].str.startswith("recovery_")]
    assert list(got["rule"]) == [rule]
    assert got["sync_key"].iloc[0] == f"{rule}:001000000000001AAA:2025-04"
    assert pd.Timestamp(got["activity_date"].iloc[0]) == pd.Timestamp("2025-04-30")


def test_recovery_from_competitor_signal_and_unknown_reason_ignored():
    signals = pd.DataFrame(
        {
            "account_id": ["001000000000001AAA"],
            "code": ["competitor"],
            "kind": ["churn"],
            "severity": ["high"],
        }
    )
    got = run(account(churn_reason="weather"), d("2025-04-10"), signals=signals)
    got = got[got["rule"].str.startswith("recovery_")]
    assert list(got["rule"]) == ["recovery_competitor"]
    assert got["signal_code"].iloc[0] == "competitor"


def test_playbook_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "playbook.yaml"
    bad.write_text(
        "segments:\n  S: {cadence_days: 0, cap: 8}\nqbr: {segments: {}}\nrecovery: {reasons: {}}\n"
        "surprise: 1\n"
    )
    with pytest.raises(ConfigError) as err:
        load_playbook(bad)
    text = str(err.value)
    assert "playbook.yaml: segments.S.cadence_days" in text
    assert "playbook.yaml: surprise: unknown key" in text


def test_en_and_ja_templates_define_the_same_keys():
    ja = set(JA.sections["tasks"])
    en = set(EN.sections["tasks"])
    followups = {k for k in ja | en if k.startswith("followup_")}
    assert {k for k in ja if k.startswith("followup_")} == followups
    assert {k for k in en if k.startswith("followup_")} == followups


@pytest.mark.parametrize(
    ("templates", "note"), [(JA, "視聴記録がありません"), (EN, "no onboarding video")]
)
def test_step2_mentions_unwatched_onboarding_videos(templates, note):
    acc = account(contract_start="2025-03-10")
    unwatched = pd.DataFrame(
        {
            "account_id": ["001000000000001AAA"],
            "code": ["onboarding_videos_unwatched"],
            "kind": ["churn"],
            "severity": ["low"],
        }
    )
    with_signal = rows(run(acc, d("2025-03-17"), templates, signals=unwatched), "onboarding_video")
    assert note in with_signal["description"].iloc[0]
    without = rows(run(acc, d("2025-03-17"), templates), "onboarding_video")
    assert note not in without["description"].iloc[0]
    other = unwatched.assign(account_id="001000000000002AAA")
    assert (
        note
        not in rows(run(acc, d("2025-03-17"), templates, signals=other), "onboarding_video")[
            "description"
        ].iloc[0]
    )
