""" "Main contact changed" (issue 12 item 9) on the practice org: nothing on the first month;
after a few customers hand over to a new main contact (``Main_Contact__c``), the next month's
run raises ``contact_changed`` for exactly those accounts, with a signal Task for the owner."""

from __future__ import annotations

from sfsync_sandbox.sample_data import generate

from tests.e2e.conftest import customers, run_cli, without_daily_task_limit
from tests.fixtures.sandbox import SANDBOX_AS_OF

FIRST, SECOND = "2025-03-15", "2025-04-15"


def _with_signal(sb, as_of: str) -> set[str]:
    return {
        a["Id"]
        for a in customers(sb.admin.records("Account"), as_of)
        if "contact_changed" in (a.get("Churn_Signals__c") or "").split(";")
    }


def _contact_tasks(sb) -> list[dict]:
    return [
        t for t in sb.admin.records("Task")
        if (t.get("Sync_Key__c") or "").startswith("signal:contact_changed:")
    ]  # fmt: skip


def test_a_changed_main_contact_raises_a_signal_and_a_task_next_month(project, sandbox_factory):
    sb = sandbox_factory(accounts=150)
    without_daily_task_limit(project)  # every contact_changed Task on its night
    first = run_cli(project, sb, "run", "nightly", "--as-of", FIRST)
    assert first.exit_code == 0, first.output
    assert not _with_signal(sb, FIRST) and not _contact_tasks(sb)  # first run: nothing to compare

    sample = generate(accounts=150, seed=7, as_of=SANDBOX_AS_OF)
    owners = {a["Id"]: a["OwnerId"] for a in sb.admin.records("Account")}
    changed = set()
    for row in sample.contact_changes.itertuples():
        if owners.get(row.Id):  # the CSM records the hand-over the customer announced
            fields = {"Main_Contact__c": row.Main_Contact__c}
            sb.admin.edit_as(owners[row.Id], "Account", row.Id, fields)
            changed.add(row.Id)
    live = {a["Id"] for a in customers(sb.admin.records("Account"), SECOND)}
    changed &= live
    assert 3 <= len(changed) <= 10

    # a month later the sample usage ends: the guards' month-over-month checks are accepted
    beyond = ["--accept-input-change", "--accept-mass-change"]
    second = run_cli(project, sb, "run", "nightly", "--as-of", SECOND, *beyond)
    assert second.exit_code == 0, second.output
    assert _with_signal(sb, SECOND) == changed
    tasks = _contact_tasks(sb)
    assert sorted(t["Sync_Key__c"] for t in tasks) == sorted(
        f"signal:contact_changed:{account}:2025-03" for account in changed
    )
    for task in tasks:
        assert task["OwnerId"] == owners[task["WhatId"]]
        assert "主担当者が変わりました" in task["Subject"]
        assert "contact_changed" not in task["Subject"] + task["Description"]
