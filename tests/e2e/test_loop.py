"""The 48-hour rule as a loop, end to end on the practice org (seed 001 §5.2, SPEC §10):

- the first run creates an urgent-meeting Task ("緊急対応MTG: <account>") for the manager of
  each S-segment or red-band account with a new high churn signal, due the next business day;
- a signal Task still open after its due date escalates once: one Task for its owner's
  manager (key ``escalation:<signal Task key>``) and one Slack notice; a re-run adds neither;
- a QBR Task whose QBR was held (a completed meeting this quarter) is closed by sfsync with
  the reason, and the close never counts as a touch.
"""

from __future__ import annotations

from datetime import date

from tests.e2e.conftest import run_cli

ACCOUNTS = 60
FIRST = date(2025, 3, 12)  # a Wednesday: signal Tasks due 2025-03-14, urgent ones 2025-03-13
SECOND = date(2025, 3, 18)  # same scoring month (2025-02), past the signal Tasks' due date
THIRD = date(2025, 3, 19)
OVERDUE_HEADER = "期限超過のエスカレーション"


def _run(project, sb, as_of: date) -> None:
    result = run_cli(project, sb, "run", "nightly", "--as-of", as_of.isoformat())
    assert result.exit_code == 0, result.output[-3000:]


def _keyed(sb, prefix: str) -> dict[str, dict]:
    return {
        t["Sync_Key__c"]: t
        for t in sb.admin.records("Task")
        if (t.get("Sync_Key__c") or "").startswith(prefix)
    }


def _overdue_notices(sb) -> list[dict]:
    return [m for m in sb.admin.slack_messages() if OVERDUE_HEADER in (m.get("text") or "")]


def test_escalation_urgent_meeting_and_qbr_close(project, sandbox_factory):
    sb = sandbox_factory(accounts=ACCOUNTS)
    users = {u["Id"]: u for u in sb.admin.records("User")}
    owners = {a["Id"]: a["OwnerId"] for a in sb.admin.records("Account")}
    _run(project, sb, FIRST)

    # urgent meetings: manager Tasks due the next business day, never before the as-of date
    urgent = _keyed(sb, "urgent:")
    assert urgent, "the sample book has S-segment / red accounts with high churn signals"
    for key, task in urgent.items():
        account = key.split(":")[1]
        assert key == f"urgent:{account}:2025-02"
        assert task["Subject"].startswith("緊急対応MTG: ")
        assert task["ActivityDate"][:10] == "2025-03-13"
        assert task["OwnerId"] == users[owners[account]]["ManagerId"], key
        assert "red" not in task["Description"] and "no_login_60d" not in task["Description"]
    assert _keyed(sb, "escalation:") == {}

    # every signal Task but one is completed by its owner; the last one stays open
    signal = _keyed(sb, "signal:")
    assert len(signal) >= 2
    late_key = sorted(
        k
        for k, t in signal.items()
        if k.startswith("signal:no_login_60d:") and users[t["OwnerId"]].get("ManagerId")
    )[0]
    for key, task in signal.items():
        if key != late_key:
            sb.admin.edit_as(task["OwnerId"], "Task", task["Id"], {"Status": "Completed"})

    # a QBR held this quarter: a completed meeting logged on the account
    qbr = _keyed(sb, "qbr:")
    qbr_key = sorted(k for k in qbr if k.endswith(":2025Q1"))[0]
    qbr_account = qbr_key.split(":")[1]
    sf = sb.simple_salesforce()
    sf.Task.create(
        {
            "WhatId": qbr_account,
            "Subject": "定例ミーティング",
            "Type": "Meeting",
            "Status": "Completed",
            "ActivityDate": "2025-03-14",
            "OwnerId": owners[qbr_account],
        }
    )

    sb.admin.clear_slack_messages()
    _run(project, sb, SECOND)
    escalations = _keyed(sb, "escalation:")
    assert list(escalations) == [f"escalation:{late_key}"]
    late = _keyed(sb, "signal:")[late_key]
    esc = escalations[f"escalation:{late_key}"]
    assert esc["OwnerId"] == users[late["OwnerId"]]["ManagerId"]
    assert esc["ActivityDate"][:10] == "2025-03-19"  # one business day after the as-of date
    assert esc["Subject"].startswith("【エスカレーション】")
    assert len(_overdue_notices(sb)) == 1

    closed = _keyed(sb, "qbr:")[qbr_key]
    assert closed["Status"] == "Completed"
    assert "【自動クローズ】" in closed["Description"]
    assert "#sfsync-auto-closed" in closed["Description"]

    # a re-run escalates nothing again and leaves the escalation Task as it is
    _run(project, sb, THIRD)
    assert list(_keyed(sb, "escalation:")) == [f"escalation:{late_key}"]
    assert _keyed(sb, "escalation:")[f"escalation:{late_key}"] == esc
    assert len(_overdue_notices(sb)) == 1
