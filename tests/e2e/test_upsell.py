"""Upsell reaches Salesforce (issue 12 item 3): the nightly job writes ``Upsell_Signals__c``
and one proposal Task per new upsell signal on the practice org; a re-run creates none."""

from __future__ import annotations

from sfsync.catalogue import ENGAGEMENT_CODES, UPSELL_CODES
from tests.e2e.conftest import customers, run_cli, without_daily_task_limit

AS_OF = "2025-03-15"


def _upsell_tasks(sb) -> list[dict]:
    return [
        t for t in sb.admin.records("Task") if (t.get("Sync_Key__c") or "").startswith("upsell:")
    ]


def test_nightly_writes_upsell_signals_and_one_task_per_new_signal(project, sandbox_factory):
    sb = sandbox_factory(accounts=150)
    without_daily_task_limit(project)  # every new Task on the first night
    first = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert first.exit_code == 0, first.output

    active = customers(sb.admin.records("Account"), AS_OF)
    by_account = {
        a["Id"]: [c for c in (a.get("Upsell_Signals__c") or "").split(";") if c] for a in active
    }
    pairs = {(account, code) for account, codes in by_account.items() for code in codes}
    assert pairs, "the sample book has upsell opportunities"
    for codes in by_account.values():
        assert codes == sorted(codes) and set(codes) <= set(UPSELL_CODES)
    assert "expansion_proposal" in {code for _, code in pairs}  # on by default

    tasks = _upsell_tasks(sb)
    # an engagement upsell hint (content_interest_rising) makes a Task for high/mid touch
    # only; low/tech-touch accounts get it as a trigger (Tech_Touch_Triggers__c)
    model = {a["Id"]: a.get("Touch_Model__c") for a in active}
    tasked = {
        (account, code)
        for account, code in pairs
        if code not in ENGAGEMENT_CODES or model[account] in ("high", "mid")
    }
    assert tasked != pairs, "some low/tech-touch accounts show rising content interest"
    assert sorted(t["Sync_Key__c"] for t in tasks) == sorted(
        f"upsell:{code}:{account}:2025-02" for account, code in tasked
    )
    owners = {a["Id"]: a["OwnerId"] for a in active}
    for task in tasks:
        assert task["Priority"] == "Normal"
        assert task["ActivityDate"] == "2025-03-22"
        assert task["WhatId"] == task["Sync_Key__c"].split(":")[2]
        assert task["OwnerId"] == owners[task["WhatId"]]
        assert "アップセル提案" in task["Subject"]
        assert not any(code in task["Subject"] + task["Description"] for code in UPSELL_CODES)

    second = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert second.exit_code == 0, second.output
    assert len(_upsell_tasks(sb)) == len(tasks)
    assert "0 tasks created" in second.output
