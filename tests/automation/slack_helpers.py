"""Shared by the Slack tests: the sandbox Slack Web API on a loopback port, a notifier
pointed at it, and a small book of accounts, owners, scores and signals."""

from __future__ import annotations

import threading
from datetime import date

import pandas as pd
import requests
from sfsync_sandbox.slack import create_app
from werkzeug.serving import make_server

from sfsync.automation.playbook import load_playbook
from sfsync.notify.slack import SlackNotifier, make_client
from sfsync.templates import load_templates

TOKEN = "xoxb-test"
PLAYBOOK = load_playbook("mappings/playbook.yaml")
DAY0 = date(2025, 3, 15)

ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["001S", "001B", "001G"],
        "name": ["Acme <Strategic>", "Beta", "Gamma"],
        "owner_id": ["005A", "005B", "005A"],
    }
)
USERS = pd.DataFrame(
    {
        "user_id": ["005A", "005B"],
        "name": ["津田", "鈴木"],
        "email": ["tsuda@example.com", "suzuki@example.com"],
    }
)
SCORES = pd.DataFrame(
    {
        "account_id": ["001S", "001B", "001G"],
        "health_score": [35, 55, 90],
        "health_band": ["red", "orange", "green"],
        "segment": ["S", "B", "A"],
    }
)


def signals(*pairs) -> pd.DataFrame:
    sev = {
        "no_login_60d": "high",
        "red_band": "high",
        "deliveries_drop": "medium",
        "near_plan_limit": "low",
        "contact_changed": "low",
    }
    return pd.DataFrame(
        [
            {
                "account_id": a,
                "code": c,
                "kind": "upsell" if c == "near_plan_limit" else "churn",
                "severity": sev[c],
            }
            for a, c in pairs
        ]
    )


ALL = signals(
    ("001S", "no_login_60d"),
    ("001S", "red_band"),
    ("001B", "deliveries_drop"),
    ("001G", "near_plan_limit"),
    ("001B", "contact_changed"),
)


class SlackServer:
    """The sandbox's Slack Web API app on 127.0.0.1:<free port> (real HTTP), with its admin
    endpoints for faults."""

    def __init__(self, tmp_path) -> None:
        users = [
            {"id": "U0TSUDA", "name": "tsuda", "email": "tsuda@example.com"},
        ]
        self.app = create_app(TOKEN, tmp_path / "slack.jsonl", users)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.root = f"http://127.0.0.1:{self.server.server_port}"
        self.base_url = f"{self.root}/api/"

    @property
    def messages(self) -> list[dict]:
        return requests.get(f"{self.root}/_sandbox/messages", timeout=5).json()

    def clear(self) -> None:
        requests.delete(f"{self.root}/_sandbox/messages", timeout=5).raise_for_status()

    def faults(self, **faults) -> None:
        if faults:
            requests.put(f"{self.root}/_sandbox/faults", json=faults, timeout=5).raise_for_status()
        else:
            requests.delete(f"{self.root}/_sandbox/faults", timeout=5).raise_for_status()

    def counters(self) -> dict:
        return requests.get(f"{self.root}/_sandbox/counters", timeout=5).json()

    def scopes(self, scopes: list[str]) -> None:
        requests.put(f"{self.root}/_sandbox/scopes", json=scopes, timeout=5).raise_for_status()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def slack_server(tmp_path):
    """Fixture body: a SlackServer for the test (``slack = pytest.fixture(slack_server,
    name="slack")`` in a test module)."""
    server = SlackServer(tmp_path)
    yield server
    server.close()


def notifier(store, base_url, language="ja", token=TOKEN, sleep=lambda _s: None) -> SlackNotifier:
    """A notifier on ``base_url``; its retries wait through ``sleep`` (default: not at all)."""
    return SlackNotifier(
        store,
        make_client(token, base_url, sleep=sleep),
        load_templates("mappings/templates", language),
        PLAYBOOK,
        channel="#cs-alerts",
        manager_channel="#cs-managers",
        instance_url="https://example.my.salesforce.com",
    )


def run(n: SlackNotifier, as_of: date, sigs: pd.DataFrame, run_id: int, **kw):
    return n.notify_run(
        run_id=run_id,
        job="nightly",
        as_of=as_of,
        scores=SCORES,
        signals=sigs,
        accounts=ACCOUNTS,
        users=USERS,
        **kw,
    )


def by_kind(messages, channel):
    return [m for m in messages if m["channel_name"] == channel.lstrip("#")]
