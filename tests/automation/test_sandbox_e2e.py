"""The playbook automation on the sandbox: sample data → scores → follow-up Tasks written through
the sync engine into the sandbox org (exactly once), and Slack alerts through the sandbox's
Slack API over HTTPS (one per new signal, none on the next run)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from sfsync_sandbox.sample_data import generate  # noqa: E402

from sfsync.automation.capacity import owner_capacity  # noqa: E402
from sfsync.automation.followups import build_followups  # noqa: E402
from sfsync.automation.playbook import load_playbook  # noqa: E402
from sfsync.notify.slack import SlackNotifier, make_client  # noqa: E402
from sfsync.templates import load_templates  # noqa: E402

AS_OF = date(2025, 3, 15)
ACCOUNTS = 40
PLAYBOOK = load_playbook("mappings/playbook.yaml")
TEMPLATES = load_templates("mappings/templates", "ja")


def canonical(sample):
    a = sample.accounts
    accounts = pd.DataFrame(
        {
            "account_id": a["Id"].astype(str),
            "name": a["Name"],
            "owner_id": a["OwnerId"],
            "arr": pd.to_numeric(a["ARR__c"]),
            "is_enterprise": a["Enterprise__c"].astype("boolean"),
            "contract_start": pd.to_datetime(a["Contract_Start_Date__c"]),
            "renewal_date": pd.to_datetime(a["Renewal_Date__c"]),
            "industry": a["Industry"],
            "tenant_id": a["Tenant_Id__c"],
            "competitor_evaluation": a["Competitor_Evaluation__c"].astype("boolean"),
        }
    )
    t, e = sample.tasks, sample.events
    activities = pd.concat(
        [
            pd.DataFrame(
                {
                    "account_id": t["WhatId"],
                    "date": pd.to_datetime(t["ActivityDate"]),
                    "type": t["Type"].astype(str).str.lower(),
                    "completed": t["Status"] == "Completed",
                }
            ),
            pd.DataFrame(
                {
                    "account_id": e["WhatId"],
                    "date": pd.to_datetime(e["ActivityDate"]),
                    "type": e["Type"].astype(str).str.lower(),
                    "completed": pd.to_datetime(e["ActivityDate"]) <= pd.Timestamp(AS_OF),
                }
            ),
        ],
        ignore_index=True,
    )
    u = sample.users
    users = pd.DataFrame(
        {"user_id": u["Id"], "name": u["Name"], "email": u["Email"], "is_active": u["IsActive"]}
    )
    return accounts, activities, users


@pytest.fixture
def world(sandbox_factory, monkeypatch):
    sb = sandbox_factory(accounts=ACCOUNTS)
    for key, value in sb.env().items():
        monkeypatch.setenv(key, value)
    sample = generate(accounts=ACCOUNTS, seed=7, as_of=AS_OF)
    accounts, activities, users = canonical(sample)
    from sfsync.scoring import load_scorecard, score_accounts

    result = score_accounts(
        accounts,
        sample.usage,
        activities,
        as_of=AS_OF,
        scorecard=load_scorecard("mappings/scorecards/default.yaml"),
        templates=TEMPLATES,
    )
    return sb, sample, accounts, activities, users, result


def _write_tasks(sb, tasks: pd.DataFrame, store):
    from sfsync.config import load_settings
    from sfsync.salesforce.client import connect
    from sfsync.salesforce.planner import load_sync_config, plan_sync
    from sfsync.salesforce.writer import apply_plan

    settings = load_settings(None, sb.env())
    client = connect(settings.salesforce, timezone=settings.timezone)
    config = load_sync_config("mappings", language="ja")
    empty_fields = pd.DataFrame({"account_id": pd.Series(dtype="str")})
    plan = plan_sync(client, config, empty_fields, tasks)
    return apply_plan(client, plan, store, None)


def test_followups_are_created_once_in_the_sandbox_org(world, store):
    sb, sample, accounts, activities, users, result = world
    tasks = build_followups(
        accounts,
        as_of=AS_OF,
        playbook=PLAYBOOK,
        templates=TEMPLATES,
        usage=sample.usage,
        activities=activities,
        scores=result.scores,
        signals=result.signals,
        users=users,
    )
    assert not tasks.empty and tasks["sync_key"].is_unique
    assert {"qbr", "overdue_touch"} <= set(tasks["rule"])
    _write_tasks(sb, tasks, store)
    written = [
        t
        for t in sb.admin.records("Task")
        if (t.get("Sync_Key__c") or "") in set(tasks["sync_key"])
    ]
    assert len(written) == len(tasks)
    row = tasks.iloc[0]
    stored = next(t for t in written if t["Sync_Key__c"] == row["sync_key"])
    assert stored["Subject"] == row["subject"]
    assert str(stored["ActivityDate"])[:10] == row["activity_date"].isoformat()

    # the next day: the same follow-ups are wanted again, nothing is written twice
    sb.admin.reset_counters()
    again = build_followups(
        accounts,
        as_of=AS_OF + timedelta(days=1),
        playbook=PLAYBOOK,
        templates=TEMPLATES,
        usage=sample.usage,
        activities=activities,
        scores=result.scores,
        signals=result.signals,
        users=users,
    )
    same = again[again["sync_key"].isin(set(tasks["sync_key"]))]
    _write_tasks(sb, same, store)
    assert int(sb.admin.counters().get("records_written", 0)) == 0
    keys = [t.get("Sync_Key__c") for t in sb.admin.records("Task") if t.get("Sync_Key__c")]
    assert len(keys) == len(set(keys))


def test_one_digest_per_owner_on_the_sandbox_slack_and_none_next_run(world, store):
    sb, sample, accounts, activities, users, result = world
    notifier = SlackNotifier(
        store,
        make_client(sb.slack_token, sb.slack_base_url, ca_bundle=sb.ca_bundle),
        TEMPLATES,
        PLAYBOOK,
        channel="#cs-alerts",
        manager_channel="#cs-managers",
        instance_url=sb.salesforce_url,
    )
    capacity = owner_capacity(accounts, PLAYBOOK, scores=result.scores, users=users)
    signals = result.signals
    alerting = signals[(signals["kind"] == "churn") & signals["severity"].isin(["high", "medium"])]
    assert len(alerting) > 0, "the sample book has churn signals"
    first = notifier.notify_run(
        run_id=1,
        job="nightly",
        as_of=AS_OF,
        scores=result.scores,
        signals=signals,
        accounts=accounts,
        users=users,
        capacity=capacity,
    )
    assert first.error is None
    messages = sb.admin.slack_messages()
    cs = [m for m in messages if m["channel_name"] == "cs-alerts"]
    alerts = [m for m in cs if m["text"].startswith("担当顧客の新着")]
    # one digest per owner with new signals, never one message per signal
    owners = accounts.set_index("account_id").loc[alerting["account_id"].unique(), "owner_id"]
    assert len(alerts) == owners.nunique() == first.owner_digests
    assert first.alerts == len(alerting.drop_duplicates(["account_id", "code"]))
    # owners are looked up in the sandbox's Slack by their Salesforce email
    slack_ids = {u["email"].lower(): u["id"] for u in sample.slack_users()}
    owner_slack_ids = {
        slack_ids[e.lower()] for e in users["email"].dropna() if e.lower() in slack_ids
    }
    mentioned = {u for u in owner_slack_ids if any(f"<@{u}>" in m["text"] for m in alerts)}
    assert mentioned, "owners are mentioned by the Slack user id found by email"
    assert all("/lightning/r/Account/" in str(m["blocks"]) for m in alerts)
    s_risk = set(result.scores.loc[result.scores["segment"] == "S", "account_id"]) & set(
        alerting["account_id"]
    )
    red = set(result.scores.loc[result.scores["health_band"] == "red", "account_id"]) & set(
        alerting["account_id"]
    )
    managers = [m for m in messages if m["channel_name"] == "cs-managers"]
    assert len(managers) == (1 if s_risk | red else 0)  # the run's escalations in one message
    assert first.escalations == len(s_risk | red)
    if managers:
        assert f"{len(s_risk | red)} 社" in managers[0]["text"]
    assert sum(m["text"].startswith("実行サマリー") for m in cs) == 1
    # Slack calls: a lookup and a post per owner, the escalations and the run digest
    assert len(messages) <= owners.nunique() + 2
    assert notifier.api_calls <= 2 * owners.nunique() + 2

    second = notifier.notify_run(
        run_id=2,
        job="nightly",
        as_of=AS_OF + timedelta(days=1),
        scores=result.scores,
        signals=signals,
        accounts=accounts,
        users=users,
        capacity=capacity,
    )
    assert second.alerts == 0 and second.escalations == 0 and second.owner_digests == 0
    new_messages = sb.admin.slack_messages()[len(messages) :]
    assert [m["text"][:6] for m in new_messages] == ["実行サマリー"]
