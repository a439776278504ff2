"""Reads are paged: IN-lists for a small scope, the whole scope in pages otherwise."""

import pandas as pd

from sfsync.salesforce.mapping import load_mapping
from sfsync.salesforce.reader import read_current, read_existing_tasks
from tests.sync.test_mapping import DEFAULT


class RecordingClient:
    def __init__(self):
        self.soql = []

    def query(self, soql, include_deleted=False):
        self.soql.append(("queryAll" if include_deleted else "query", soql))
        return []

    def query_frame(self, soql, include_deleted=False):
        self.soql.append(("query_frameAll" if include_deleted else "query_frame", soql))
        return pd.DataFrame({"Id": [], "Sync_Key__c": []})


def ids(n):
    return [f"001{i:015d}" for i in range(n)]


def test_a_small_scope_is_read_with_in_lists():
    client = RecordingClient()
    read_current(client, load_mapping(DEFAULT), ids(150))
    assert [kind for kind, _ in client.soql] == ["query"]
    assert client.soql[0][1].startswith("SELECT Id, Health_Score__c, Health_Band__c")
    assert "WHERE Id IN ('001000000000000000'," in client.soql[0][1]


def test_a_large_scope_reads_the_whole_object_in_pages():
    client = RecordingClient()
    frame = read_current(client, load_mapping(DEFAULT), ids(5000))
    assert client.soql == [
        (
            "query_frame",
            "SELECT Id, Health_Score__c, Health_Band__c, Health_Usage__c, Health_Engagement__c, "
            "Health_Outcome__c, Health_Contract__c, Health_Trend__c, Health_Direction__c, "
            "Lifecycle_Phase__c, CS_Segment__c, Churn_Signals__c, Upsell_Signals__c, "
            "Last_QBR_Date__c, Health_Scored_At__c, "
            "Health_Explanation__c, Touch_Model__c, CS_Priority__c, Tech_Touch_Triggers__c, "
            "Onboarding_Step__c, Tutorial_Completed_At__c, Renewal_Reminder_Date__c FROM Account",
        )
    ]
    assert "Health_Explanation__c" in frame.columns


def test_many_task_keys_of_one_month_read_only_that_month():
    client = RecordingClient()
    keys = [f"signal:red_band:{i}:2025-02" for i in ids(500)]
    read_existing_tasks(client, keys)
    assert client.soql[0][0] == "query_frameAll"  # deleted Tasks too: never recreated
    assert client.soql[0][1].endswith("FROM Task WHERE Sync_Key__c LIKE '%:2025-02'")


def test_task_keys_of_many_periods_never_read_every_keyed_task():
    client = RecordingClient()
    month = [f"signal:red_band:{i}:2025-02" for i in ids(500)]
    dates = [f"qbr:{i}:2024-{1 + n % 12:02d}-{1 + n % 28:02d}" for n, i in enumerate(ids(300))]
    read_existing_tasks(client, [*month, *dates, "signal:red_band:x:2025-01"])
    kinds = [kind for kind, _ in client.soql]
    assert kinds[0] == "query_frameAll" and set(kinds[1:]) == {"queryAll"}
    assert client.soql[0][1].endswith("FROM Task WHERE Sync_Key__c LIKE '%:2025-02'")
    assert all(" IN ('" in soql for _, soql in client.soql[1:])  # the other 301 keys by key
    assert not any("!= null" in soql for _, soql in client.soql)
    in_listed = sum(soql.count("','") + 1 for _, soql in client.soql[1:])
    assert in_listed == 301


def test_only_the_runs_keys_are_kept_and_the_rows_read_are_logged(caplog):
    class Org(RecordingClient):
        def query_frame(self, soql, include_deleted=False):
            super().query_frame(soql, include_deleted)
            return pd.DataFrame(
                {"Id": ["00T1", "00T2"], "Sync_Key__c": [keys[0], "qbr:other:2025-02"]}
            )

    keys = [f"signal:red_band:{i}:2025-02" for i in ids(300)]
    frame = read_existing_tasks(Org(), keys)
    assert list(frame["Id"]) == ["00T1"]
