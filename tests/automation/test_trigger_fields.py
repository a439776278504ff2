"""The trigger fields a Flow or a marketing-automation tool listens to (issue 13, Deliver 3):
Onboarding_Step__c from the playbook's onboarding schedule, activities and usage;
Tutorial_Completed_At__c from the engagement input; Renewal_Reminder_Date__c two months before
the renewal (as configured). Boundaries are the days the follow-up Tasks open."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from sfsync.automation.playbook import OnboardingPolicy
from sfsync.automation.trigger_fields import (
    onboarding_steps,
    renewal_reminder_dates,
    trigger_columns,
    tutorial_completed_dates,
)

POLICY = OnboardingPolicy()  # setup 3, video opens 7, planned F = C + 30, step 3 opens F - 14
START = date(2025, 3, 3)


def _account(start: date | None = START, tenant: str | None = "t1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["001A"],
            "tenant_id": [tenant],
            "contract_start": pd.to_datetime([start]),
        }
    )


def _usage(month: str, *, deliveries: float = 0.0, login_days: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {"tenant_id": ["t1"], "month": [month], "deliveries": [deliveries],
         "login_days": [login_days]}
    )  # fmt: skip


def _meeting(day: date, *, completed: bool = True, kind: str = "meeting") -> pd.DataFrame:
    return pd.DataFrame(
        {"account_id": ["001A"], "date": pd.to_datetime([day]), "type": [kind],
         "completed": [completed]}
    )  # fmt: skip


def _step(as_of: date, **frames) -> object:
    return onboarding_steps(_account(), as_of=as_of, policy=POLICY, **frames).iloc[0]


@pytest.mark.parametrize(
    ("days", "step"),
    [
        (0, 0),  # contract start: setup
        (2, 0),
        (3, 1),  # C + setup_due_days: the setup is due, kickoff next
        (6, 1),
        (7, 2),  # C + video_open_days: the step-2 Task opens
        (15, 2),
        (16, 3),  # planned F (C + 30) - 14: the pre-delivery check opens
        (60, 3),  # still no delivery inside the onboarding window
    ],
)
def test_the_step_follows_the_playbook_schedule_by_date(days, step):
    assert _step(START + timedelta(days=days)) == step


def test_usage_and_a_held_kickoff_move_the_step_ahead_of_the_schedule():
    as_of = START + timedelta(days=1)
    assert _step(as_of) == 0
    assert _step(as_of, usage=_usage("2025-03", login_days=1)) == 1  # logged in: setup done
    assert _step(as_of, activities=_meeting(START + timedelta(days=1))) == 2  # kickoff held
    # a meeting before the contract, an open one, or a call is no kickoff
    assert _step(as_of, activities=_meeting(START - timedelta(days=1))) == 0
    assert _step(as_of, activities=_meeting(START, completed=False)) == 0
    assert _step(as_of, activities=_meeting(START, kind="call")) == 0
    # usage of a month before the contract start is not this contract's setup
    assert _step(as_of, usage=_usage("2025-02", login_days=9)) == 0


def test_a_delivery_or_the_end_of_onboarding_is_step_4_and_the_step_never_goes_back():
    delivered = _usage("2025-03", deliveries=1)
    assert _step(START + timedelta(days=1), usage=delivered) == 4
    # the onboarding window closes C + 3 months + 14 days; after it, onboarded
    end = date(2025, 6, 3) + timedelta(days=14)
    assert _step(end) == 3 and _step(end + timedelta(days=1)) == 4
    steps = [_step(START + timedelta(days=d)) for d in range(0, 140)]
    assert steps == sorted(steps)


def test_no_step_without_a_started_contract():
    before = onboarding_steps(_account(), as_of=START - timedelta(days=1), policy=POLICY)
    missing = onboarding_steps(_account(start=None), as_of=START, policy=POLICY)
    assert before.isna().all() and missing.isna().all()


def test_the_kickoff_types_come_from_the_playbook():
    qbr = _meeting(START, kind="QBR")
    assert _step(START, activities=qbr) == 0
    policy = OnboardingPolicy(kickoff_held_types=["meeting", "qbr"])
    assert onboarding_steps(_account(), as_of=START, policy=policy, activities=qbr).iloc[0] == 2


def test_tutorial_completed_is_the_first_completion_on_or_before_the_as_of_date():
    accounts = pd.DataFrame({"account_id": ["a", "b", "c"], "tenant_id": ["t1", "t2", None]})
    usage = pd.DataFrame(
        {
            "tenant_id": ["t1", "t1", "t2"],
            "month": ["2025-02", "2025-03", "2025-03"],
            "tutorial_completed_at": pd.to_datetime(["2025-02-20", "2025-02-20", "2025-03-20"]),
        }
    )
    got = tutorial_completed_dates(accounts, usage, date(2025, 3, 15))
    assert got.iloc[0] == pd.Timestamp("2025-02-20")
    assert pd.isna(got.iloc[1])  # completed after the as-of date: not yet
    assert pd.isna(got.iloc[2])  # no tenant
    assert tutorial_completed_dates(accounts, usage.drop(columns="tutorial_completed_at"),
                                    date(2025, 3, 15)).isna().all()  # fmt: skip


@pytest.mark.parametrize(
    ("renewal", "months", "reminder"),
    [
        ("2026-03-15", 2, "2026-01-15"),
        ("2025-04-30", 2, "2025-02-28"),  # the day is clamped to the month's end
        ("2024-04-30", 2, "2024-02-29"),
        ("2025-12-31", 3, "2025-09-30"),  # as configured (playbook renewal.lead_months)
    ],
)
def test_the_renewal_reminder_date_is_lead_months_before_the_renewal(renewal, months, reminder):
    got = renewal_reminder_dates(pd.Series(pd.to_datetime([renewal, None])), months)
    assert got.iloc[0] == pd.Timestamp(reminder) and pd.isna(got.iloc[1])


def test_trigger_columns_follow_the_given_accounts_in_order():
    accounts = pd.DataFrame(
        {
            "account_id": ["b", "a"],
            "tenant_id": ["t2", "t1"],
            "contract_start": pd.to_datetime(["2025-03-01", "2020-01-01"]),
            "renewal_date": pd.to_datetime(["2026-03-01", "2025-05-10"]),
        }
    )
    out = trigger_columns(
        pd.Series(["a", "b", "z"]),
        accounts,
        as_of=date(2025, 3, 15),
        onboarding=POLICY,
        renewal_lead_months=2,
    )
    assert out["account_id"].tolist() == ["a", "b", "z"]
    assert out["onboarding_step"].tolist()[:2] == [4, 2] and pd.isna(out["onboarding_step"][2])
    assert out["renewal_reminder_date"].tolist()[:2] == [
        pd.Timestamp("2025-03-10"), pd.Timestamp("2026-01-01")
    ]  # fmt: skip
    assert str(out["onboarding_step"].dtype) == "Int64"
