"""A first run on the practice org, through the real CLI: no owner gets more new Tasks than the
daily limit (urgent S-segment signal Tasks apart), the rest wait for the next nights without
duplicates, and Slack gets one digest per owner — a few calls, not one per signal."""

from __future__ import annotations

import re
from collections import Counter

from tests.e2e.conftest import run_cli

LIMIT = 10  # mappings/playbook.yaml task_limit.per_owner_per_day


def _keyed(sb) -> list[dict]:
    return [t for t in sb.admin.records("Task") if t.get("Sync_Key__c")]


def _urgent(task: dict, segments: dict[str, str]) -> bool:
    return (
        task["Sync_Key__c"].startswith("signal:")
        and task.get("Priority") == "High"
        and segments.get(task.get("WhatId")) == "S"
    )


def _per_owner(tasks: list[dict], segments: dict[str, str]) -> tuple[Counter, Counter]:
    limited = Counter(t["OwnerId"] for t in tasks if not _urgent(t, segments))
    urgent = Counter(t["OwnerId"] for t in tasks if _urgent(t, segments))
    return limited, urgent


def _slack_calls(output: str) -> int:
    found = re.search(r"API calls .*slack ([\d,]+)", output)
    assert found, output[-2000:]
    return int(found.group(1).replace(",", ""))


def test_the_daily_limit_spreads_a_first_run_over_the_nights(project, sandbox_factory):
    sb = sandbox_factory(accounts=150)
    first = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-15")
    assert first.exit_code == 0, first.output
    deferred = re.search(r"deferred\s+(\d+) new tasks over the daily limit", first.output)
    assert deferred and int(deferred.group(1)) > 0, first.output

    accounts = sb.admin.records("Account")
    segments = {a["Id"]: a.get("CS_Segment__c") for a in accounts}
    owners = {a["OwnerId"] for a in accounts}
    day1 = _keyed(sb)
    limited, urgent = _per_owner(day1, segments)
    assert limited and max(limited.values()) <= LIMIT, limited
    assert sum(limited.values()) + sum(urgent.values()) == len(day1)

    messages = sb.admin.slack_messages()
    digests = [m for m in messages if "担当顧客の新着" in m["text"]]
    assert 0 < len(digests) <= len(owners)
    # one digest per owner, the escalations in one message, the run digest: never per signal
    assert len(messages) <= len(owners) + 2
    assert _slack_calls(first.output) <= 2 * len(owners) + 2  # + one lookup per owner
    deferred_lines = [m for m in digests if "明日以降に作成" in str(m["blocks"])]
    assert deferred_lines, "the owners' digests list the Tasks left for the next nights"
    summary = next(m for m in messages if "実行サマリー" in m["text"])
    assert f"*{deferred.group(1)}* 件のタスクを明日以降に延期" in str(summary["blocks"])

    # a re-run the same day adds no Task (the day's Tasks count) and posts no owner digest
    again = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-15")
    assert again.exit_code == 0, again.output
    assert "0 tasks created" in again.output
    assert len(_keyed(sb)) == len(day1)
    after = sb.admin.slack_messages()[len(messages) :]
    assert not [m for m in after if "担当顧客の新着" in m["text"]]

    # the next night creates the deferred Tasks (same keys: no duplicates), again within limit
    second = run_cli(project, sb, "run", "nightly", "--as-of", "2025-03-16")
    assert second.exit_code == 0, second.output
    day2 = _keyed(sb)
    keys = [t["Sync_Key__c"] for t in day2]
    assert len(keys) == len(set(keys))
    new = [t for t in day2 if t["Sync_Key__c"] not in {d["Sync_Key__c"] for d in day1}]
    assert new, second.output
    limited2, _ = _per_owner(new, segments)
    assert max(limited2.values()) <= LIMIT
