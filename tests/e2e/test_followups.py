"""Scheduled follow-up Tasks in the nightly job, end to end on the sandbox: created on their
dates exactly once (unique Sync_Key__c in the org, write counters), never before their date,
never duplicated by a re-run the same day or the next day, never reopened once completed; a
hand-over Task when an account's owner changes between runs; and ``sfsync demo`` shows them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta

import pandas as pd
from sfsync_sandbox.sample_data import generate

from tests.cli_process import REPO
from tests.e2e.conftest import run_cli, writes

SANDBOX_AS_OF = date(2025, 3, 15)
ACCOUNTS = 60
NEW_TASKS = re.compile(
    r"new tasks\s+(\d+) for signals, (?:\d+) upsell proposals, (\d+) scheduled follow-ups"
)


def _keyed_tasks(sb) -> list[dict]:
    return [t for t in sb.admin.records("Task") if t.get("Sync_Key__c")]


def _followups(sb) -> list[dict]:
    return [t for t in _keyed_tasks(sb) if not t["Sync_Key__c"].startswith(("signal:", "upsell:"))]


def _assert_unique_keys(sb) -> None:
    counts = Counter(t["Sync_Key__c"] for t in _keyed_tasks(sb))
    assert counts and max(counts.values()) == 1, counts.most_common(3)


def _next_renewal_reminder(after: date) -> tuple[str, str, date]:
    """From the sample data: the account whose renewal reminder (renewal date - 2 months,
    mappings/playbook.yaml) opens first after ``after``: (account id, its key, open date)."""
    accounts = generate(accounts=ACCOUNTS, seed=7, as_of=SANDBOX_AS_OF).accounts
    renewal = pd.to_datetime(accounts["Renewal_Date__c"])
    opens = renewal - pd.DateOffset(months=2)
    later = opens[opens > pd.Timestamp(after)].sort_values()
    assert not later.empty, "the sample data has renewals ahead"
    i = later.index[0]
    account_id = str(accounts.at[i, "Id"])
    key = f"renewal_reminder:{account_id}:{renewal[i].strftime('%Y-%m-%d')}"
    return account_id, key, later.iloc[0].date()


def _run(project, sb, as_of: date):
    # the sample usage ends with 2025-02: a later scoring month has no usage rows, which the
    # guards rightly stop (and most accounts would turn red); these runs are about follow-up
    # dates, so they accept both
    beyond = ["--accept-input-change", "--accept-mass-change"] if as_of >= date(2025, 4, 1) else []
    result = run_cli(project, sb, "run", "nightly", "--as-of", as_of.isoformat(), *beyond)
    assert result.exit_code == 0, result.output[-3000:]
    return result


def test_followups_are_created_on_their_dates_exactly_once(project, sandbox_factory):
    sb = sandbox_factory(accounts=ACCOUNTS)
    account_id, reminder_key, opens_on = _next_renewal_reminder(SANDBOX_AS_OF + timedelta(days=1))

    sb.admin.reset_counters()
    first = _run(project, sb, SANDBOX_AS_OF)
    signal_created, followups_created = map(int, NEW_TASKS.search(first.output).groups())
    followups = _followups(sb)
    assert followups_created == len(followups) > 0
    signal_tasks = [t for t in _keyed_tasks(sb) if t["Sync_Key__c"].startswith("signal:")]
    assert signal_created == len(signal_tasks) > 0
    rules = Counter(t["Sync_Key__c"].split(":")[0] for t in followups)
    assert {"qbr", "renewal_reminder", "overdue_touch"} <= set(rules), rules
    assert any(rule.startswith("onboarding_") for rule in rules), rules
    assert all(t["Status"] == "Not Started" and t["ActivityDate"] for t in followups)
    assert all(t["WhatId"] and t["Subject"] for t in followups)
    _assert_unique_keys(sb)
    assert reminder_key not in {t["Sync_Key__c"] for t in followups}

    # the same day again: nothing is written
    sb.admin.reset_counters()
    again = _run(project, sb, SANDBOX_AS_OF)
    assert writes(sb.admin.counters()) == 0
    assert "0 tasks created, 0 tasks updated" in again.output
    assert len(_followups(sb)) == len(followups)

    # a CSM completes one follow-up: later runs never reopen or recreate it
    done = next(t for t in followups if t["Sync_Key__c"].startswith("qbr:"))
    sb.simple_salesforce().Task.update(done["Id"], {"Status": "Completed"})

    # the day before the reminder opens: it is not there yet
    _run(project, sb, opens_on - timedelta(days=1))
    assert reminder_key not in {t["Sync_Key__c"] for t in _followups(sb)}
    _assert_unique_keys(sb)

    # the day it opens: created once, for the account owner, due 7 days later
    before = len(_followups(sb))
    opened = _run(project, sb, opens_on)
    reminders = [t for t in _followups(sb) if t["Sync_Key__c"] == reminder_key]
    assert len(reminders) == 1
    assert reminders[0]["WhatId"] == account_id
    assert reminders[0]["ActivityDate"] == (opens_on + timedelta(days=7)).isoformat()
    created = int(NEW_TASKS.search(opened.output).group(2))
    assert created == len(_followups(sb)) - before >= 1
    _assert_unique_keys(sb)

    # the next day: the same Tasks, no second copy of anything
    count = len(_keyed_tasks(sb))
    _run(project, sb, opens_on + timedelta(days=1))
    _assert_unique_keys(sb)
    assert sum(t["Sync_Key__c"] == reminder_key for t in _keyed_tasks(sb)) == 1
    completed = [t for t in _keyed_tasks(sb) if t["Sync_Key__c"] == done["Sync_Key__c"]]
    assert [t["Status"] for t in completed] == ["Completed"]
    assert len(_keyed_tasks(sb)) >= count


def test_an_owner_change_between_runs_creates_one_handover_task(project, sandbox_factory):
    sb = sandbox_factory(accounts=30)
    _run(project, sb, SANDBOX_AS_OF)
    assert not [t for t in _followups(sb) if t["Sync_Key__c"].startswith("handover:")]
    account = sb.admin.records("Account")[0]
    active = [
        u["Id"]
        for u in sb.admin.records("User")
        if u.get("IsActive") and u["Id"] != account["OwnerId"] and "Integration" not in str(u)
    ]
    sb.simple_salesforce().Account.update(account["Id"], {"OwnerId": active[0]})
    next_day = SANDBOX_AS_OF + timedelta(days=1)
    _run(project, sb, next_day)
    _run(project, sb, next_day)  # a re-run the same day finds the Task
    handovers = [t for t in _followups(sb) if t["Sync_Key__c"].startswith("handover:")]
    assert [t["Sync_Key__c"] for t in handovers] == [
        f"handover:{account['Id']}:{next_day.isoformat()}"
    ]
    assert handovers[0]["OwnerId"] == active[0]
    _run(project, sb, next_day + timedelta(days=1))  # the owner is the same as last run
    assert len([t for t in _followups(sb) if t["Sync_Key__c"].startswith("handover:")]) == 1


def _demo(project) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    return subprocess.run(
        [sys.executable, "-m", "sfsync", "--config", str(project.config), "demo"]
        + ["--as-of", SANDBOX_AS_OF.isoformat(), "--accounts", "40"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_demo_shows_followups_and_a_second_demo_changes_nothing(project):
    first = _demo(project)
    assert first.returncode == 0, first.stderr[-3000:]
    signal_created, followups_created = map(int, NEW_TASKS.search(first.stdout).groups())
    assert followups_created > 0 and signal_created > 0
    assert f"{followups_created:,} scheduled follow-ups" in first.stdout
    found = re.search(r"campaigns +([\d,]+) contacts added to Campaigns", first.stdout)
    joined = int(found[1].replace(",", ""))
    assert joined > 0 and f"{joined:,} contacts joined the tech-touch Campaigns" in first.stdout
    second = _demo(project)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "0 account updates, 0 tasks created, 0 tasks updated" in second.stdout
    assert f"0 contacts added to Campaigns; {joined:,} already members" in second.stdout
    assert "0 new churn risks and 0 upsell opportunities were found" in second.stdout
