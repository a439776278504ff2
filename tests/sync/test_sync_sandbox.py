"""End to end on the sandbox org: real HTTPS, real simple-salesforce, real state store."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from tests.sync.runner import owner_frames, sync_once
from tests.sync.synthetic import synthetic_result

sandbox_module = pytest.importorskip("sfsync.sandbox")
if not hasattr(sandbox_module, "Sandbox"):
    pytest.skip("the sandbox org is not available yet", allow_module_level=True)

AS_OF = date(2025, 3, 15)
WRITE_ENDPOINTS = ("composite", "jobs/ingest", "sobjects")


def make_sandbox(tmp_path, name="org", accounts=120, seed=7):
    from sfsync.sandbox import Sandbox

    return Sandbox(data_dir=tmp_path / name, accounts=accounts, seed=seed, as_of=AS_OF)


def make_client(sb):
    from sfsync.config import load_settings
    from sfsync.salesforce.client import connect
    from sfsync.salesforce.retry import RetryPolicy

    settings = load_settings(None, env=sb.env())
    fast = RetryPolicy(max_attempts=8, max_seconds=60, initial_wait=0.01, max_wait=0.05)
    return connect(settings.salesforce, verify=sb.ca_bundle, policy=fast)


def make_store(tmp_path):
    from sfsync.state.db import open_store

    return open_store(f"sqlite:///{tmp_path / 'state.db'}")


def write_calls(counters) -> int:
    return sum(
        n
        for endpoint, n in counters["calls"].items()
        if endpoint.split(" ")[0] in ("PATCH", "POST", "PUT", "DELETE") and "query" not in endpoint
    )


def org_state(sb):
    """Mapped Account fields and Task fields by key, as stored in the org."""
    fields = [
        "Health_Score__c",
        "Health_Band__c",
        "Health_Usage__c",
        "Health_Engagement__c",
        "Health_Outcome__c",
        "Health_Contract__c",
        "Health_Trend__c",
        "Lifecycle_Phase__c",
        "CS_Segment__c",
        "Churn_Signals__c",
        "Health_Scored_At__c",
        "Health_Explanation__c",
    ]
    accounts = {r["Id"]: tuple(r.get(f) for f in fields) for r in sb.admin.records("Account")}
    tasks = [r for r in sb.admin.records("Task") if r.get("Sync_Key__c")]
    keys = Counter(r["Sync_Key__c"] for r in tasks)
    task_state = {
        r["Sync_Key__c"]: (
            r["Subject"],
            r["OwnerId"],
            r["WhatId"],
            r["ActivityDate"],
            r["Priority"],
            r["Status"],
        )
        for r in tasks
    }
    return accounts, task_state, keys


@pytest.fixture
def org(tmp_path):
    with make_sandbox(tmp_path) as sb:
        client = make_client(sb)
        accounts, users = owner_frames(client)
        scores, signals = synthetic_result(sorted(accounts["account_id"]))
        yield sb, client, accounts, users, scores, signals


def test_first_run_writes_fields_and_tasks_and_the_second_writes_nothing(org, tmp_path):
    sb, client, accounts, users, scores, signals = org
    store = make_store(tmp_path)
    dry = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, dry_run=True)
    sb.admin.reset_counters()
    first = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, store=store)
    counters = sb.admin.counters()

    # the dry-run plan is exactly what apply did
    assert first.plan.to_dict()["records"] == dry.plan.to_dict()["records"]
    assert first.plan.to_dict()["tasks"] == dry.plan.to_dict()["tasks"]
    assert not first.result.failed
    expected_writes = len(dry.plan.records) + len(dry.plan.task_writes)
    assert counters["records_written"] == expected_writes
    assert len(dry.plan.records) == len(scores)
    assert len(dry.plan.task_writes) == len(signals) > 0

    by_id = {r["Id"]: r for r in sb.admin.records("Account")}
    for row in scores.head(20).to_dict(orient="records"):
        record = by_id[row["account_id"]]
        assert record["Health_Score__c"] == row["health_score"]
        assert record["Health_Band__c"] == row["health_band"]
        assert set(filter(None, (record["Churn_Signals__c"] or "").split(";"))) == set(
            filter(None, row["churn_signals"].split(";"))
        )
    tasks = [r for r in sb.admin.records("Task") if r.get("Sync_Key__c")]
    assert {t["Sync_Key__c"] for t in tasks} == set(
        dry.plan.to_dict()["totals"] and [t.sync_key for t in dry.plan.task_writes]
    )
    one = tasks[0]
    assert one["Priority"] == "High" and one["ActivityDate"] == "2025-03-17"
    assert one["Subject"].startswith("【要対応・48時間以内】")

    sb.admin.reset_counters()
    second = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, store=store)
    counters = sb.admin.counters()
    assert second.plan.is_empty
    assert counters["records_written"] == 0
    assert write_calls(counters) == 0


def test_a_task_completed_or_edited_by_a_csm_is_left_alone(org, tmp_path):
    sb, client, accounts, users, scores, signals = org
    first = sync_once(client, scores, signals, accounts, users, as_of=AS_OF)
    keys = [t.sync_key for t in first.plan.task_writes]
    tasks = {r["Sync_Key__c"]: r for r in sb.admin.records("Task") if r.get("Sync_Key__c")}
    completed, edited, untouched = keys[0], keys[1], keys[2]
    csm = next(u for u in users["user_id"] if u != tasks[completed]["CreatedById"])
    sb.admin.update_as("Task", tasks[completed]["Id"], {"Status": "Completed"}, user_id=csm)
    sb.admin.update_as("Task", tasks[edited]["Id"], {"Subject": "電話済み・来週再訪"}, user_id=csm)

    # templates change (English): open untouched Tasks are updated, the CSM's are not
    again = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, language="en")
    decisions = {t.sync_key: (t.action, t.reason) for t in again.plan.tasks}
    assert decisions[completed] == ("skip", "completed_by_csm")
    assert decisions[edited] == ("skip", "edited_by_csm")
    assert decisions[untouched] == ("update", "changed")
    after = {r["Sync_Key__c"]: r for r in sb.admin.records("Task") if r.get("Sync_Key__c")}
    assert after[completed]["Status"] == "Completed"
    assert after[edited]["Subject"] == "電話済み・来週再訪"
    assert after[untouched]["Subject"].startswith("[Action within 48h]")
    assert Counter(
        r["Sync_Key__c"] for r in sb.admin.records("Task") if r.get("Sync_Key__c")
    ) == Counter(set(after))


def test_faults_end_in_the_same_state_as_a_fault_free_run(tmp_path):
    with make_sandbox(tmp_path, "clean") as clean, make_sandbox(tmp_path, "faulty") as faulty:
        states = []
        for sb, faults in ((clean, None), (faulty, True)):
            client = make_client(sb)
            accounts, users = owner_frames(client)
            scores, signals = synthetic_result(sorted(accounts["account_id"]))
            store = make_store(tmp_path / sb.data_dir.name)
            if faults:
                sb.admin.set_faults(seed=3, http_503=0.2, lock_row=0.1, session_expiry_after=5)
            run = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, store=store)
            if faults:
                counters = sb.admin.counters()
                assert counters["faults"].get("http_503", 0) > 0
                assert counters["faults"].get("lock_row", 0) > 0
                assert counters["faults"].get("session_expiry", 0) == 1
                if run.result.failed:  # lock errors that outlasted the retries: next run
                    sb.admin.clear_faults()
                    sync_once(client, scores, signals, accounts, users, as_of=AS_OF, store=store)
            states.append(org_state(sb))
        (acc_a, tasks_a, keys_a), (acc_b, tasks_b, keys_b) = states
        assert acc_a == acc_b
        assert tasks_a == tasks_b
        assert max(keys_b.values()) == 1  # no duplicate Task


def test_failed_records_are_kept_and_retried_next_run(org, tmp_path):
    from sfsync.salesforce.writer import LockRetry
    from sfsync.state.failures import open_failures, pending_writes

    sb, client, accounts, users, scores, signals = org
    store = make_store(tmp_path)
    sb.admin.set_faults(seed=11, lock_row=0.3)
    first = sync_once(
        client,
        scores,
        signals,
        accounts,
        users,
        as_of=AS_OF,
        store=store,
        lock_retry=LockRetry(attempts=1),
    )
    failed = {(r.sobject, r.key) for r in first.result.failed}
    assert failed and {f.error_code for f in first.result.failed} == {"UNABLE_TO_LOCK_ROW"}
    assert {(p.sobject, p.key) for p in pending_writes(store)} == failed

    sb.admin.clear_faults()
    second = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, store=store)
    retried = {(second.plan.sobject, r.key) for r in second.plan.records if r.retry} | {
        ("Task", t.sync_key) for t in second.plan.task_writes if t.retry
    }
    assert retried == failed
    assert not second.result.failed
    assert open_failures(store) == []


def test_bulk_api_above_the_threshold(org, tmp_path):
    sb, client, accounts, users, scores, signals = org
    sb.admin.reset_counters()
    first = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, bulk_threshold=50)
    assert first.result.methods["Account"] == "bulk"
    assert not first.result.failed
    calls = sb.admin.counters()["calls"]
    assert any("jobs/ingest" in endpoint for endpoint in calls)
    again = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, dry_run=True)
    assert again.plan.is_empty
