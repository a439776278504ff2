"""State lasts between runs; reset starts over; a crash loses no committed write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sfsync.cli import cli


def test_second_run_sees_first_runs_writes(sandbox_factory, tmp_path):
    data_dir = tmp_path / "sb"
    sb = sandbox_factory(accounts=20, data_dir=data_dir)
    sf = sb.simple_salesforce()
    account_id = sf.query("SELECT Id FROM Account ORDER BY Name LIMIT 1")["records"][0]["Id"]
    sf.Account.update(account_id, {"Health_Score__c": 42})
    sf.Task.create({"Subject": "persisted", "Sync_Key__c": "persist-1", "WhatId": account_id})
    token = sb.access_token
    sb.stop()

    again = sandbox_factory(accounts=999, data_dir=data_dir)  # existing state wins over --accounts
    sf2 = again.simple_salesforce()
    assert again.access_token == token
    assert sf2.query("SELECT COUNT() FROM Account")["totalSize"] == 20
    assert sf2.Account.get(account_id)["Health_Score__c"] == 42.0
    assert sf2.query("SELECT COUNT() FROM Task WHERE Sync_Key__c = 'persist-1'")["totalSize"] == 1
    assert again.admin.counters()["api_calls"] == 3


def test_reset_starts_over(sandbox_factory, tmp_path):
    data_dir = tmp_path / "sb"
    sb = sandbox_factory(accounts=5, data_dir=data_dir)
    sb.simple_salesforce().Task.create({"Subject": "gone", "Sync_Key__c": "gone-1"})
    ca = Path(sb.ca_bundle).read_bytes()
    sb.stop()
    fresh = sandbox_factory(accounts=7, data_dir=data_dir, reset=True)
    sf = fresh.simple_salesforce()
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 7
    assert sf.query("SELECT COUNT() FROM Task WHERE Sync_Key__c = 'gone-1'")["totalSize"] == 0
    assert Path(fresh.ca_bundle).read_bytes() == ca


def test_journal_keeps_writes_when_the_process_dies(sandbox_factory, tmp_path):
    data_dir = tmp_path / "sb"
    sb = sandbox_factory(accounts=3, data_dir=data_dir)
    task_id = sb.simple_salesforce().Task.create({"Subject": "before crash"})["id"]
    # no stop(): a second sandbox reads the files as they are on disk
    second = sandbox_factory(data_dir=data_dir)
    assert second.simple_salesforce().Task.get(task_id)["Subject"] == "before crash"


def test_a_large_journal_is_compacted_into_a_snapshot(sandbox_factory, tmp_path, monkeypatch):
    from sfsync_sandbox.salesforce import store

    monkeypatch.setattr(store, "COMPACT_JOURNAL_BYTES", 10)
    data_dir = tmp_path / "sb"
    sb = sandbox_factory(accounts=4, data_dir=data_dir)
    task_id = sb.simple_salesforce().Task.create({"Subject": "compacted"})["id"]
    sb.stop()
    assert (data_dir / "sample.json").exists()
    assert not (data_dir / "org" / "org.journal.jsonl").exists()
    again = sandbox_factory(data_dir=data_dir)
    assert again.simple_salesforce().Task.get(task_id)["Subject"] == "compacted"
    assert again.simple_salesforce().query("SELECT COUNT() FROM Account")["totalSize"] == 4


def test_cli_reset(tmp_path):
    data_dir = tmp_path / "sb"
    (data_dir / "org").mkdir(parents=True)
    (data_dir / "org" / "org.json").write_text("{}")
    (data_dir / "credentials").mkdir()
    result = CliRunner().invoke(cli, ["sandbox", "reset", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert not (data_dir / "org").exists() and (data_dir / "credentials").exists()


def test_cli_serve_prints_how_to_connect_and_saves_on_ctrl_c(tmp_path):
    data_dir = tmp_path / "sb"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfsync", "sandbox", "serve", "--accounts", "12", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)  # saving the org on a loaded machine
    output = "".join(lines)
    assert "export SFSYNC_SF_INSTANCE_URL=https://127.0.0.1:" in output
    assert "export SFSYNC_SF_ACCESS_TOKEN=" in output
    assert f"export REQUESTS_CA_BUNDLE={data_dir}/credentials/ca.pem" in output
    assert "12 accounts" in output
    assert proc.returncode == 0
    assert (data_dir / "sample.json").exists()


def test_all_three_services_run_and_keep_state(sandbox_factory, tmp_path):
    from slack_sdk import WebClient

    data_dir = tmp_path / "sb"
    sb = sandbox_factory(accounts=30, data_dir=data_dir)
    assert sb.metabase_url and sb.slack_base_url
    session = sb.requests_session()
    card = session.post(f"{sb.metabase_url}/api/card/1/query/json", headers={"x-api-key": sb.metabase_api_key},
                        json={"parameters": []})  # fmt: skip
    assert card.status_code in (200, 202) and isinstance(card.json(), list) and card.json()
    import ssl

    slack = WebClient(token=sb.slack_token, base_url=sb.slack_base_url,
                      ssl=ssl.create_default_context(cafile=sb.ca_bundle))  # fmt: skip
    assert slack.auth_test()["ok"]
    slack.chat_postMessage(channel="#cs-alerts", text="hello from the test")
    assert [m["text"] for m in sb.admin.slack_messages()] == ["hello from the test"]
    owner = sb.slack_users[0]
    assert (
        owner["id"].startswith("U")
        and slack.users_lookupByEmail(email=owner["email"])["user"]["id"] == owner["id"]
    )
    env = sb.env()
    assert (
        env["SFSYNC_METABASE_URL"] == sb.metabase_url
        and env["SFSYNC_SLACK_TOKEN"] == sb.slack_token
    )
    sb.stop()
    again = sandbox_factory(data_dir=data_dir)
    assert [m["text"] for m in again.admin.slack_messages()] == ["hello from the test"]
    assert again.slack_token == sb.slack_token and again.metabase_api_key == sb.metabase_api_key
