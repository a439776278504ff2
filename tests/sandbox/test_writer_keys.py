"""The writer never sends one external-ID value twice in one upsert request.

A real org refuses every record of an sObject Collections upsert (and of an internal Bulk
batch) that repeats an external ID within the request: ``DUPLICATE_VALUE`` "Duplicate external
id specified: <value>" (see ``sfsync_sandbox.salesforce.composite``); the sandbox now does the
same. The plan keeps one Task change per ``Sync_Key__c``; these tests check what actually goes
over the wire, for sObject Collections and for Bulk API 2.0, against the sandbox.
"""

from __future__ import annotations

import csv
import io
from collections import Counter

import pandas as pd
import pytest

from sfsync.config import SalesforceSettings
from sfsync.plan import Plan
from sfsync.salesforce.client import connect
from sfsync.salesforce.diff import diff_tasks
from sfsync.salesforce.writer import LockRetry, WriteStatus, apply_plan
from tests.cli_process import REPO

NO_SLEEP = LockRetry(attempts=2, sleep=lambda s: None)


class Recording:
    """The product's Salesforce client, recording the keys of every upsert it sends."""

    def __init__(self, client):
        self.client = client
        self.requests: list[list[str]] = []

    def __getattr__(self, name):
        return getattr(self.client, name)

    def request(self, method, path, **kwargs):
        body = kwargs.get("json")
        if method == "PATCH" and "composite/sobjects/Task/" in path:
            self.requests.append([r.get("Sync_Key__c") for r in body["records"]])
        if method == "PUT" and path.endswith("/batches"):
            rows = csv.DictReader(io.StringIO(kwargs["data"].decode("utf-8")))
            self.requests.append([r.get("Sync_Key__c") for r in rows])
        return self.client.request(method, path, **kwargs)


def _client(sb):
    settings = SalesforceSettings(instance_url=sb.salesforce_url, access_token=sb.access_token)
    return Recording(connect(settings, timezone="Asia/Tokyo"))


def _desired(account_id: str, keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sync_key": keys,
            "subject": [f"Signal {i}" for i in range(len(keys))],
            "description": "d",
            "priority": "High",
            "owner_id": None,
            "account_id": account_id,
            "activity_date": "2025-03-20",
            "status": None,
        }
    )


def _repeats(requests: list[list[str]]) -> list[str]:
    return [
        key
        for sent in requests
        for key, n in Counter(k.lower() for k in sent if k).items()
        if n > 1
    ]


@pytest.mark.parametrize("bulk_threshold", [10_000, 2])
def test_a_repeated_task_key_is_sent_once(sandbox_factory, bulk_threshold):
    sb = sandbox_factory(accounts=3)
    client = _client(sb)
    account_id = client.query("SELECT Id FROM Account LIMIT 1")[0]["Id"]
    keys = [f"signal:red_band:{account_id}:2025-02", f"signal:no_login_60d:{account_id}:2025-02"]
    tasks, _ = diff_tasks(_desired(account_id, [keys[0], keys[1], keys[0]]), None)
    plan = Plan("Account", "Id", tasks=tuple(tasks))
    result = apply_plan(client, plan, bulk_threshold=bulk_threshold, lock_retry=NO_SLEEP)
    assert client.requests and _repeats(client.requests) == []
    assert {r.status for r in result.results} == {WriteStatus.SUCCESS}
    stored = [t["Sync_Key__c"] for t in sb.admin.records("Task") if t["Sync_Key__c"] in keys]
    assert sorted(stored) == sorted(keys)


def test_ids_differing_only_in_case_become_keys_that_differ_without_case(tmp_path):
    """Two 15-character account ids that differ only in letter case are two accounts; a file or
    SQL accounts source reads them through the column mapping, which brings every id to its
    18-character form, so the Task keys built from them never collide in the case-insensitive
    Sync_Key__c (a real org would refuse both with DUPLICATE_VALUE)."""
    from sfsync.sources.columns import apply_mapping, load_column_mapping

    mapping = load_column_mapping(REPO / "mappings" / "columns" / "salesforce_accounts.yaml")
    raw = pd.DataFrame({"Id": ["001A0000001abcd", "001A0000001ABCD"], "OwnerId": "005000000000001"})
    mapped = apply_mapping(raw, mapping, source="accounts")
    ids = list(mapped.frame["account_id"])
    assert [len(i) for i in ids] == [18, 18] and mapped.quarantined_count == 0
    keys = [f"signal:red_band:{account_id}:2025-02" for account_id in ids]
    assert len({k.lower() for k in keys}) == 2
    assert mapped.frame["owner_id"].tolist() == ["005000000000001AAA"] * 2


def test_a_malformed_account_id_is_a_bad_row():
    from sfsync.sources.columns import apply_mapping, load_column_mapping

    mapping = load_column_mapping(REPO / "mappings" / "columns" / "salesforce_accounts.yaml")
    raw = pd.DataFrame({"Id": ["001A0000001abcd", "001-bad"], "OwnerId": "005000000000001"})
    mapped = apply_mapping(raw, mapping, source="accounts")
    assert len(mapped.frame) == 1 and mapped.quarantined_count == 1
    assert "not a Salesforce record id" in mapped.quarantined["reason"].iloc[0]
