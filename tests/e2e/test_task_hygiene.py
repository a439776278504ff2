"""Task hygiene (SPEC §10) in the nightly job, end to end on the sandbox: the first run creates
no Task already overdue; a signal still active the next month while last month's Task is open
creates no second Task; a signal that cleared has its open Task closed by sfsync with the reason,
a Task the CSM edited stays as it is, and a Task closed by sfsync never counts as a touch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

from tests.cli_process import REPO
from tests.e2e.conftest import run_cli

ACCOUNTS = 60
FIRST = date(2025, 3, 15)
NEXT = date(2025, 4, 15)  # scoring month 2025-03: the sample usage ends with 2025-02

_ACTIVITIES = """
import json, sys
from datetime import date
from sfsync.config import load_settings
from sfsync.salesforce.client import connect
from sfsync.sources.salesforce import read_activities
settings = load_settings(sys.argv[1])
client = connect(settings.salesforce, timezone=settings.timezone)
frame = read_activities(client, as_of=date.fromisoformat(sys.argv[2]))
print(json.dumps(sorted(frame["activity_id"])))
"""


def _run(project, sb, as_of: date):
    beyond = ["--accept-input-change", "--accept-mass-change"] if as_of >= date(2025, 4, 1) else []
    result = run_cli(project, sb, "run", "nightly", "--as-of", as_of.isoformat(), *beyond)
    assert result.exit_code == 0, result.output[-3000:]
    return result


def _signal_tasks(sb) -> dict[str, dict]:
    return {
        t["Sync_Key__c"]: t
        for t in sb.admin.records("Task")
        if (t.get("Sync_Key__c") or "").startswith("signal:")
    }


def _activity_ids(project, sb, as_of: date) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _ACTIVITIES, str(project.config), as_of.isoformat()],
        cwd=REPO,
        env={**_clean_env(), **sb.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}


def test_tasks_stay_clean_across_months(project, sandbox_factory):
    sb = sandbox_factory(accounts=ACCOUNTS)
    _run(project, sb, FIRST)
    keyed = [t for t in sb.admin.records("Task") if t.get("Sync_Key__c")]
    assert keyed
    born_overdue = [t for t in keyed if t["ActivityDate"] < FIRST.isoformat()]
    assert born_overdue == [], born_overdue[:3]

    march = {k: t for k, t in _signal_tasks(sb).items() if k.endswith(":2025-02")}
    assert len(march) >= 3
    # the CSM edits one (a note, still open): sfsync never changes it
    # (a no-login Task: no login follows in the sample data, so the signal stays active)
    edited_key, edited = sorted(
        march.items(), key=lambda kv: (not kv[0].startswith("signal:no_login_60d:"), kv[0])
    )[0]
    assert edited_key.startswith("signal:no_login_60d:")
    owner = edited["OwnerId"]
    sb.admin.edit_as(owner, "Task", edited["Id"], {"Description": "顧客に電話予定（CSMメモ）"})

    _run(project, sb, NEXT)
    after = _signal_tasks(sb)
    april = {k for k in after if k.endswith(":2025-03")}
    pairs_april = {tuple(k.split(":")[1:3]) for k in april}

    held = closed = 0
    for key, before in march.items():
        now = after[key]
        pair = tuple(key.split(":")[1:3])
        if key == edited_key:
            assert now["Status"] == before["Status"]
            assert now["Description"] == "顧客に電話予定（CSMメモ）"
            continue
        if now["Status"] == "Completed":  # cleared: closed by sfsync with the reason
            closed += 1
            assert "【自動クローズ】2025-04-15 時点で" in now["Description"]
            assert now["Description"].startswith(before["Description"])
            assert pair not in pairs_april
        else:  # still active: held, no second Task for the same account and code
            held += 1
            assert pair not in pairs_april, key
    assert held > 0 and closed > 0, (held, closed)

    # a Task closed by sfsync is no touch; one the CSM completed is
    auto_closed = {after[k]["Id"] for k in march if after[k]["Status"] == "Completed"}
    sb.admin.edit_as(owner, "Task", edited["Id"], {"Status": "Completed"})
    seen = _activity_ids(project, sb, date(2025, 4, 16))
    assert edited["Id"] in seen
    assert not (auto_closed & seen)

    # after the CSM completed it, a month in which the signal is still active gets its Task
    code, account = edited_key.split(":")[1:3]
    assert (code, account) not in pairs_april  # held in April while it was open
    _run(project, sb, date(2025, 5, 15))
    assert f"signal:{code}:{account}:2025-04" in _signal_tasks(sb)
