"""End to end on the sandbox org: real HTTPS, real simple-salesforce, real state store."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from tests.sync.helpers import VISIBLE_HEALTH_FIELDS
from tests.sync.runner import owner_frames, sync_once
from tests.sync.synthetic import synthetic_result

AS_OF = date(2025, 3, 15)
WRITE_ENDPOINTS = ("composite", "jobs/ingest", "sobjects")


def make_sandbox(factory, accounts=120, seed=7):
    return factory(accounts=accounts, seed=seed, as_of=AS_OF)


def make_client(sb):
    """A client on the JWT bearer flow, so that an expired session is renewed by logging in."""
    from sfsync.salesforce.client import connect

    settings = {
        "instance_url": sb.salesforce_url,
        "username": sb.integration_username,
        "consumer_key": sb.consumer_key,
        "private_key_file": sb.jwt_private_key_file,
        "domain": sb.salesforce_url.removeprefix("https://"),
    }
    return connect(settings, verify=sb.ca_bundle, policy=fast_policy())


def fast_policy():
    from sfsync.salesforce.retry import RetryPolicy

    return RetryPolicy(max_attempts=8, max_seconds=60, initial_wait=0.01, max_wait=0.05, jitter=0.0)


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
        *VISIBLE_HEALTH_FIELDS,
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
def org(sandbox_factory):
    sb = make_sandbox(sandbox_factory)
    client = make_client(sb)
    accounts, users = owner_frames(client)
    scores, signals = synthetic_result(sorted(accounts["account_id"]))
    return sb, client, accounts, users, scores, signals


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
    assert set(counters["writes_per_record"].values()) == {1}  # each record written once
    written_accounts = {k for k in counters["writes_per_record"] if k.startswith("001")}
    assert written_accounts == {r.key for r in dry.plan.records}
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


def test_a_task_completed_edited_or_deleted_by_a_csm_is_left_alone(org, tmp_path):
    sb, client, accounts, users, scores, signals = org
    first = sync_once(client, scores, signals, accounts, users, as_of=AS_OF)
    keys = [t.sync_key for t in first.plan.task_writes]
    tasks = {r["Sync_Key__c"]: r for r in sb.admin.records("Task") if r.get("Sync_Key__c")}
    completed, edited, deleted, untouched = keys[:4]
    csm = next(u for u in users["user_id"] if u != tasks[completed]["CreatedById"])
    sb.admin.edit_as(csm, "Task", tasks[completed]["Id"], {"Status": "Completed"})
    sb.admin.edit_as(csm, "Task", tasks[edited]["Id"], {"Subject": "電話済み・来週再訪"})
    sb.simple_salesforce(sb.new_session(csm)).Task.delete(tasks[deleted]["Id"])

    # templates change (English): open untouched Tasks are updated, the CSM's are not
    again = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, language="en")
    decisions = {t.sync_key: (t.action, t.reason) for t in again.plan.tasks}
    assert decisions[completed] == ("skip", "completed_by_csm")
    assert decisions[edited] == ("skip", "edited_by_csm")
    assert decisions[deleted] == ("skip", "deleted_by_csm")
    assert decisions[untouched] == ("update", "changed")
    live = [r for r in sb.admin.records("Task") if r.get("Sync_Key__c")]
    after = {r["Sync_Key__c"]: r for r in live}
    assert after[completed]["Status"] == "Completed"
    assert after[edited]["Subject"] == "電話済み・来週再訪"
    assert deleted not in after  # not recreated
    assert after[untouched]["Subject"].startswith("[Action within 48h]")
    assert max(Counter(r["Sync_Key__c"] for r in live).values()) == 1


def test_faults_end_in_the_same_state_as_a_fault_free_run(sandbox_factory, tmp_path):
    clean, faulty = make_sandbox(sandbox_factory), make_sandbox(sandbox_factory)
    states = []
    for sb, faults in ((clean, None), (faulty, True)):
        client = make_client(sb)
        accounts, users = owner_frames(client)
        scores, signals = synthetic_result(sorted(accounts["account_id"]))
        (tmp_path / sb.data_dir.name).mkdir(exist_ok=True)
        store = make_store(tmp_path / sb.data_dir.name)
        if faults:
            sb.admin.set_faults(seed=3, http_503=0.2, lock_row=0.1, session_expiry_after=5)
        run = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, store=store)
        if faults:
            counters = sb.admin.counters()
            assert counters["faults"].get("http_503", 0) > 0
            assert counters["faults"].get("lock_row", 0) > 0
            assert counters["faults"].get("session_expiry", 0) == 1
            assert any(r.attempts > 1 for r in run.result.results)  # locked rows retried
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


def test_bulk_uploads_split_into_several_jobs_write_everything(org, tmp_path):
    from sfsync.salesforce.bulk_upload import UploadLimits

    sb, client, accounts, users, scores, signals = org
    sb.admin.reset_counters()
    first = sync_once(
        client,
        scores,
        signals,
        accounts,
        users,
        as_of=AS_OF,
        bulk_threshold=20,
        upload_limits=UploadLimits(max_bytes=8_000),
    )
    assert first.result.methods == {"Account": "bulk", "Task": "bulk"}
    assert not first.result.failed
    jobs = sb.admin.counters()["calls"]
    created = sum(n for endpoint, n in jobs.items() if endpoint.startswith("POST jobs/ingest"))
    assert created > 2  # Accounts and Tasks each split into several jobs
    again = sync_once(client, scores, signals, accounts, users, as_of=AS_OF, dry_run=True)
    assert again.plan.is_empty


def test_sfsync_plan_from_a_scores_csv(org, tmp_path, monkeypatch):
    import json
    import os

    from click.testing import CliRunner

    from sfsync.cli import cli
    from tests.sync.runner import MAPPINGS

    sb, client, accounts, users, scores, signals = org
    project = tmp_path / "project"
    project.mkdir()
    os.symlink(MAPPINGS, project / "mappings")
    (project / "sfsync.yaml").write_text(
        f"state_url: sqlite:///{tmp_path / 'cli-state.db'}\n", encoding="utf-8"
    )
    csv = scores.drop(columns=["churn_signals", "explanation"]).copy()
    by_account = signals.groupby("account_id")["code"].apply(lambda c: ";".join(sorted(c)))
    csv["signals"] = csv["account_id"].map(by_account)
    csv.to_csv(project / "scores.csv", index=False)
    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    sb.admin.reset_counters()
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(project / "sfsync.yaml"),
            "plan",
            "--scores",
            str(project / "scores.csv"),
            "--as-of",
            "2025-03-15",
            "--out",
            str(project / "plan.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Plan for Account (matched on Id) as of 2025-03-15" in result.output
    assert f"records in scope: {len(scores)}; to update: {len(scores)}" in result.output
    saved = json.loads((project / "plan.json").read_text(encoding="utf-8"))
    assert saved["totals"]["tasks_to_create"] == len(signals)
    assert sb.admin.counters()["records_written"] == 0  # a plan writes nothing


def test_a_mapping_error_stops_the_run_before_any_write(org, tmp_path):
    import shutil
    from types import SimpleNamespace

    from sfsync.errors import ConfigError
    from sfsync.salesforce.planner import (
        desired_account_fields,
        load_sync_config,
        plan_sync,
        validate,
        validate_org,
    )
    from tests.sync.runner import MAPPINGS

    sb, client, accounts, users, scores, signals = org
    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, mappings)
    path = mappings / "account_fields.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("Health_Trend__c", "Health_Trendz__c"),
        encoding="utf-8",
    )
    project = SimpleNamespace(
        mappings_dir=mappings, settings=SimpleNamespace(language="ja", timezone="Asia/Tokyo")
    )
    assert validate(project) == []  # offline the mapping is fine
    problems = [str(p) for p in validate_org(project, client)]
    assert problems == [
        f"{path}: fields.health_trend.field: Account.Health_Trendz__c does not exist in the org"
    ]
    sb.admin.reset_counters()
    with pytest.raises(ConfigError, match="Health_Trendz__c does not exist"):
        plan_sync(client, load_sync_config(mappings), desired_account_fields(scores, AS_OF))
    assert sb.admin.counters()["records_written"] == 0


def test_plan_of_the_nightly_job_is_exactly_what_the_run_writes(sandbox_factory, tmp_path):
    """With the real pipeline and scorecard: `sfsync plan nightly` == `sfsync run nightly`."""
    import json
    import shutil

    from click.testing import CliRunner

    from sfsync.cli import cli
    from tests.sync.runner import MAPPINGS

    sb = sandbox_factory(accounts=80, as_of=AS_OF)
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(MAPPINGS.parent / "jobs", root / "jobs")
    shutil.copytree(MAPPINGS, root / "mappings")
    (root / "sfsync.yaml").write_text(
        "timezone: Asia/Tokyo\nlanguage: ja\nstate_url: sqlite:///.sfsync/state.db\n",
        encoding="utf-8",
    )

    def cli_run(*args):
        result = CliRunner().invoke(
            cli,
            ["--log-format", "json", "--config", str(root / "sfsync.yaml"), *args],
            env=sb.env(),
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        return result

    sb.admin.reset_counters()
    cli_run("plan", "nightly", "--as-of", "2025-03-15", "--out", str(root / "plan.json"))
    assert sb.admin.counters()["records_written"] == 0
    plan = json.loads((root / "plan.json").read_text(encoding="utf-8"))
    planned_accounts = {r["key"] for r in plan["records"]}
    planned_tasks = [t for t in plan["tasks"] if t["action"] != "skip"]
    assert planned_accounts and planned_tasks

    cli_run("run", "nightly", "--as-of", "2025-03-15")
    counters = sb.admin.counters()
    written = counters["writes_per_record"]
    assert {k for k in written if k.startswith("001")} == planned_accounts
    (history,) = plan["upserts"]  # the week's score-history snapshot
    planned_history = {r["key"] for r in history["records"]}
    assert planned_history and all(k.endswith(":2025-W11") for k in planned_history)
    (members,) = plan["inserts"]  # the Campaign members of mappings/campaigns.yaml
    planned_members = {tuple(r["key"].split(":")[1:]) for r in members["records"]}
    assert members["sobject"] == "CampaignMember" and planned_members
    assert counters["records_written"] == (
        len(planned_accounts) + len(planned_tasks) + len(planned_history) + len(planned_members)
    )
    stored_members = {(m["CampaignId"], m["ContactId"]) for m in sb.admin.records("CampaignMember")}
    assert stored_members == planned_members
    stored_history = {r["History_Key__c"] for r in sb.admin.records("Health_Score_History__c")}
    assert stored_history == planned_history
    by_id = {r["Id"]: r for r in sb.admin.records("Account")}
    for record in plan["records"]:
        for change in record["changes"]:
            stored = by_id[record["key"]][change["field"]]
            if change["field"] == "Health_Scored_At__c":
                continue  # stored in UTC by the org
            assert stored == change["new"] or float(stored) == float(change["new"]), change
    keys = {r["Sync_Key__c"] for r in sb.admin.records("Task") if r.get("Sync_Key__c")}
    assert {t["sync_key"] for t in planned_tasks} <= keys
