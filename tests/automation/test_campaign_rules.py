"""Campaign membership rules (issue 13, Deliver 3): the YAML model with errors that name the
file and key, and the pure evaluation — which accounts each rule wants on the as-of date
(boundaries: day N exactly, two months before renewal) and which of their contacts."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from sfsync.automation.campaign_rules import (
    CampaignRules,
    campaign_facts,
    eligible_accounts,
    load_campaign_rules,
    member_rows,
    rule_targets,
)
from sfsync.errors import ConfigError

AS_OF = date(2025, 3, 15)
SHIPPED = Path(__file__).resolve().parents[2] / "mappings" / "campaigns.yaml"


def rules(**specs) -> CampaignRules:
    return CampaignRules.model_validate({"rules": specs})


def facts(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "account_id": [f"001{i:015d}" for i in range(n)],
        "touch_model": ["tech"] * n,
        "contract_start": [pd.NaT] * n,
        "renewal_date": [pd.NaT] * n,
        "renewal_reminder_date": [pd.NaT] * n,
        "tutorial_completed_at": [pd.NaT] * n,
    }
    base.update(columns)
    frame = pd.DataFrame(base)
    for column in ("contract_start", "renewal_date", "renewal_reminder_date",
                   "tutorial_completed_at"):  # fmt: skip
        frame[column] = pd.to_datetime(frame[column])
    return frame


def wanted(frame: pd.DataFrame, spec: CampaignRules, signals=None, as_of=AS_OF) -> list[int]:
    """Positions of the accounts the (single) rule wants."""
    got = eligible_accounts(frame, signals, spec, as_of)
    return [frame["account_id"].tolist().index(a) for a in got["account_id"]]


def days_before(n: int) -> date:
    return AS_OF - timedelta(days=n)


def test_a_step_mail_starts_on_day_n_exactly_and_ends_after_its_window():
    spec = rules(step={"campaign": "Step 7", "when": {"kind": "contract_day", "day": 7}})
    frame = facts(contract_start=[days_before(d) for d in (6, 7, 21, 22)] + [None])
    assert wanted(frame, spec) == [1, 2]  # day 7 and the last day 7 + 14; not day 6 or 22
    custom = rules(step={"campaign": "S", "when": {"kind": "contract_day", "day": 0,
                                                   "until_day": 0}})  # fmt: skip
    assert wanted(facts(contract_start=[days_before(0), days_before(1)]), custom) == [0]


def test_the_renewal_reminder_starts_two_months_before_the_renewal():
    spec = rules(renewal={"campaign": "R", "when": {"kind": "renewal_reminder"}})
    renewal = pd.Timestamp("2025-05-15")
    frame = facts(
        renewal_date=[renewal] * 3 + [pd.Timestamp("2025-03-14"), pd.Timestamp("2025-03-15")],
        # Renewal_Reminder_Date__c = renewal - 2 months (trigger_fields), computed upstream
        renewal_reminder_date=[pd.Timestamp("2025-03-15"), pd.Timestamp("2025-03-16"),
                               pd.NaT, pd.Timestamp("2025-01-14"), pd.Timestamp("2025-01-15")],
    )  # fmt: skip
    # the reminder day itself counts, the day before does not; the renewal day still counts,
    # a renewal already passed does not
    assert wanted(frame, spec) == [0, 4]


def test_the_tutorial_trigger_takes_recent_completions_only():
    spec = rules(tut={"campaign": "T", "when": {"kind": "tutorial_completed", "within_days": 3}})
    frame = facts(tutorial_completed_at=[days_before(0), days_before(3), days_before(4),
                                         AS_OF + timedelta(days=1), None])  # fmt: skip
    assert wanted(frame, spec) == [0, 1]


def test_customer_and_signal_rules_and_the_touch_model_filter():
    frame = facts(
        contract_start=[days_before(100), days_before(10), None],
        touch_model=["tech", "low", "high"],
    )
    tips = rules(tips={"campaign": "Tips {month}", "when": {"kind": "customer"}})
    assert wanted(frame, tips) == [0, 1, 2]  # no contract start counts when min is 0
    later = rules(tips={"campaign": "Tips", "when": {"kind": "customer", "min_contract_days": 45},
                        "touch_models": ["low", "tech"]})  # fmt: skip
    assert wanted(frame, later) == [0]
    signals = pd.DataFrame(
        {"account_id": [frame["account_id"][1], frame["account_id"][2]],
         "code": ["content_interest_rising", "red_band"]}
    )  # fmt: skip
    release = rules(rel={"campaign": "R", "when": {"kind": "signal",
                                                   "signal": "content_interest_rising"}})  # fmt: skip
    assert wanted(frame, release, signals) == [1]
    assert wanted(frame, release, None) == []


def test_contacts_all_or_by_role_without_opted_out_ones_and_none_without_contacts():
    spec = rules(
        every={"campaign": "A", "when": {"kind": "customer"}},
        decision={"campaign": "B", "when": {"kind": "customer"}, "roles": ["decision_maker"]},
        anyone={"campaign": "C", "when": {"kind": "customer"}, "skip_opted_out": False},
    )
    eligible = pd.DataFrame(
        {"rule": ["every", "decision", "anyone", "every"], "account_id": ["acc1"] * 3 + ["acc2"]}
    )
    contacts = pd.DataFrame(
        {
            "contact_id": ["c1", "c2", "c3"],
            "account_id": ["acc1", "acc1", "acc1"],
            "role": ["primary", "decision_maker", None],
            "opted_out": [False, False, True],
        }
    )
    got = member_rows(eligible, contacts, spec)
    assert list(zip(got["rule"], got["contact_id"], strict=True)) == [
        ("every", "c1"), ("every", "c2"),            # c3 opted out; acc2 has no contacts
        ("decision", "c2"),                          # the role filter
        ("anyone", "c1"), ("anyone", "c2"), ("anyone", "c3"),
    ]  # fmt: skip
    assert member_rows(eligible, contacts.iloc[0:0], spec).empty
    assert member_rows(eligible.iloc[0:0], contacts, spec).empty


def test_a_campaign_per_period_is_named_from_the_as_of_date():
    spec = rules(
        tips={"campaign": "Tips {month}", "when": {"kind": "customer"}},
        renewal={"campaign": "Renewal {year}", "when": {"kind": "renewal_reminder"},
                 "status": "Responded", "roles": ["primary"]},
        fixed={"campaign": "701000000000001", "when": {"kind": "customer"}},
    )  # fmt: skip
    targets = {t.rule: t for t in rule_targets(spec, date(2025, 12, 31))}
    assert targets["tips"].campaign == "Tips 2025-12"
    assert targets["renewal"].campaign == "Renewal 2025"
    assert targets["renewal"].status == "Responded" and targets["renewal"].roles == ("primary",)
    assert targets["fixed"].by_id and not targets["tips"].by_id


def test_facts_come_from_the_desired_fields_and_the_accounts():
    desired = pd.DataFrame(
        {"account_id": ["a", "b"], "touch_model": ["tech", "high"],
         "renewal_reminder_date": pd.to_datetime(["2025-03-01", None]),
         "tutorial_completed_at": pd.to_datetime([None, "2025-03-10"])}
    )  # fmt: skip
    accounts = pd.DataFrame(
        {"account_id": ["b", "a"], "contract_start": pd.to_datetime(["2025-01-01", None]),
         "renewal_date": pd.to_datetime(["2026-01-01", "2025-05-01"])}
    )  # fmt: skip
    got = campaign_facts(desired, accounts)
    assert got["account_id"].tolist() == ["a", "b"]
    assert got["renewal_date"].tolist() == [pd.Timestamp("2025-05-01"), pd.Timestamp("2026-01-01")]
    assert got["contract_start"].iloc[1] == pd.Timestamp("2025-01-01")


def test_the_shipped_rules_load():
    loaded = load_campaign_rules(SHIPPED)
    assert {"step_day1", "tutorial_completed", "monthly_tips", "release_notice",
            "renewal_reminder"} <= set(loaded.rules)  # fmt: skip


BROKEN = [
    (
        "rules:\n  tips:\n    campaign: Tips\n    when: {kind: weekly}\n",
        "rules.tips.when",
        "'weekly'",
    ),
    (
        "rules:\n  rel:\n    campaign: R\n    when: {kind: signal, signal: interest}\n",
        "rules.rel.when.signal.signal",
        "unknown signal 'interest'",
    ),
    (
        "rules:\n  tips:\n    campaign: 'Tips {week}'\n    when: {kind: customer}\n",
        "rules.tips.campaign",
        "unknown placeholder {week}",
    ),
    (
        "rules:\n  x:\n    campaign: '701000000000001{month}'\n    when: {kind: customer}\n",
        "rules.x.campaign",
        "a Campaign Id takes no placeholder",
    ),
    (
        "rules:\n  s:\n    campaign: S\n    when: {kind: contract_day, day: 7, until_day: 3}\n",
        "rules.s.when.contract_day",
        "until_day (3) must not be before day (7)",
    ),
    (
        "rules:\n  Step-1:\n    campaign: S\n    when: {kind: contract_day, day: 1}\n",
        "rules",
        "rule name 'Step-1'",
    ),
    (
        "rules:\n  s:\n    campaign: S\n    when: {kind: customer}\n    role: [primary]\n",
        "rules.s.role",
        "unknown key",
    ),
    (
        "rules:\n  s:\n    campaign: S\n    when: {kind: customer}\n    touch_models: [none]\n",
        "rules.s.touch_models.0",
        "'high', 'mid', 'low' or 'tech'",
    ),
    ("rules: {}\n", "rules", "at least 1 item"),
]


@pytest.mark.parametrize(("text", "key", "message"), BROKEN, ids=[b[1] for b in BROKEN])
def test_a_broken_rules_file_names_the_file_and_the_key(tmp_path, text, key, message):
    path = tmp_path / "campaigns.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_campaign_rules(path)
    problems = err.value.problems
    assert any(p.file == str(path) and p.path == key and message in p.message for p in problems), [
        (p.path, p.message) for p in problems
    ]


def test_a_rule_is_periodic_when_its_campaign_name_has_a_placeholder():
    spec = rules(
        tips={"campaign": "Tips {month}", "when": {"kind": "customer"}},
        braces={"campaign": "Tips {{draft}}", "when": {"kind": "customer"}},
        fixed={"campaign": "Release", "when": {"kind": "customer"}},
    )
    assert [r.periodic for r in spec.rules.values()] == [True, False, False]
    assert spec.rules["braces"].campaign_on(AS_OF) == "Tips {draft}"
