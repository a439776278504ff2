"""The practice org's query indexes: a query on an indexed field reads only its candidates, and
returns exactly what a full scan returns, in the same order, before and after writes."""

from __future__ import annotations

from datetime import date

import pytest
from sfsync_sandbox.ids import to_18
from sfsync_sandbox.salesforce.faults import FaultsAndCounters
from sfsync_sandbox.salesforce.query_engine import QueryEngine
from sfsync_sandbox.salesforce.schema import load_schema
from sfsync_sandbox.salesforce.soql import parse_soql
from sfsync_sandbox.salesforce.store import Org

USER = "0055g0000000001AAA"


def tid(n: int) -> str:
    return to_18(f"00T5g00000000{n:02d}")


def aid(n: int) -> str:
    return to_18(f"0015g00000000{n:02d}")


FIELDS = "Id, Sync_Key__c, WhatId, Subject, IsDeleted"

QUERIES = [
    "Sync_Key__c IN ('signal:a:001:2025-03', 'SIGNAL:B:002:2025-03', 'missing', null)",
    "Sync_Key__c = 'qbr:003:2025Q1'",
    "Sync_Key__c = null",
    "Sync_Key__c LIKE 'signal:%'",
    "Sync_Key__c LIKE 'Signal:%' AND Subject = 'Call'",
    "(Sync_Key__c LIKE 'qbr:%' OR Sync_Key__c LIKE 'onboarding\\_%') AND IsClosed = false",
    "Sync_Key__c LIKE '%:2025-03'",
    "(Sync_Key__c LIKE '%:2025-03' OR Sync_Key__c LIKE '%:2025Q1' OR Sync_Key__c LIKE 's%')",
    "Sync_Key__c LIKE 'sig_al:%'",
    "NOT (Sync_Key__c LIKE '%:2025-03')",
    "WhatId IN ('0015g0000000001', '0015g0000000003')",
    "WhatId = '0015g0000000002' OR Sync_Key__c IN ('qbr:003:2025Q1')",
    "WhatId = '0015g0000000002' OR Subject = 'Call'",
    "Id IN ('00T5g0000000001', '00T5g0000000004')",
    "Subject LIKE 'c%'",
]


def _task(n: int, key: str | None, account: int, subject: str = "Call") -> dict:
    return {"Id": tid(n), "Sync_Key__c": key, "Subject": subject, "WhatId": aid(account)}


@pytest.fixture
def engine():
    org = Org(load_schema(), FaultsAndCounters())
    org.load_records("User", [{"Id": USER, "LastName": "Sato", "Username": "sato@x.invalid",
                               "Email": "sato@example.com"}], USER)  # fmt: skip
    org.load_records("Account", [{"Id": aid(i), "Name": f"A{i}"} for i in (1, 2, 3)], USER)
    tasks = [
        _task(1, "signal:a:001:2025-03", 1),
        _task(2, "Signal:B:002:2025-03", 2, "Email"),
        _task(3, "qbr:003:2025Q1", 3),
        _task(4, None, 1),
        _task(5, "onboarding_step:001:2025-02", 1),
        _task(6, "ſignal:c:003:2025-03", 3),  # matches 'signal:%' ignoring case (long s)
        _task(7, "signal:d:002:2025-02", 2),
    ]
    org.load_records("Task", tasks, USER)
    return QueryEngine(org, today=lambda: date(2025, 3, 15))


def _both(engine: QueryEngine, where: str, include_deleted: bool = False):
    """(rows through the indexes, rows of a full scan)."""
    text = f"SELECT {FIELDS} FROM Task WHERE {where}"
    _, indexed = engine.run(text, include_deleted=include_deleted)
    original = engine._candidates
    engine._candidates = lambda obj, node: None
    try:
        _, scanned = engine.run(text, include_deleted=include_deleted)
    finally:
        engine._candidates = original
    return [r["Id"] for r in indexed], [r["Id"] for r in scanned]


def _check_all(engine: QueryEngine) -> None:
    for where in QUERIES:
        for include_deleted in (False, True):
            indexed, scanned = _both(engine, where, include_deleted)
            assert indexed == scanned, (where, include_deleted)


def test_indexed_queries_return_what_a_scan_returns(engine):
    _check_all(engine)
    indexed, _ = _both(engine, QUERIES[0])
    assert indexed == [tid(1), tid(2)]


def test_indexes_follow_writes_and_rollbacks(engine):
    _check_all(engine)  # builds the indexes first
    org = engine.org
    with org.transaction(USER) as tx:
        tx.update("Task", tid(1), {"Sync_Key__c": "qbr:001:2025Q1"})
        tx.delete("Task", tid(2))
        created = tx.create("Task", {"Subject": "Call", "Sync_Key__c": "signal:e:001:2025-03",
                                     "WhatId": aid(2)})  # fmt: skip
    with pytest.raises(RuntimeError), org.transaction(USER) as tx:
        tx.create("Task", {"Subject": "Call", "Sync_Key__c": "signal:x:001:2025-03"})
        tx.update("Task", created, {"Sync_Key__c": "signal:y:001:2025-03"})
        raise RuntimeError("rolled back")
    _check_all(engine)
    assert _both(engine, "Sync_Key__c LIKE 'signal:%:2025-03'")[0] == [
        tid(6),
        created,
    ]
    assert _both(engine, "Sync_Key__c = 'Signal:B:002:2025-03'", include_deleted=True)[0] == [
        tid(2)
    ]


def test_selective_filters_use_an_index_and_leading_wildcards_scan(engine):
    obj = engine.schema.objects["Task"]

    def candidates(where: str):
        return engine._candidates(obj, parse_soql(f"SELECT Id FROM Task WHERE {where}").where)

    assert candidates("Sync_Key__c IN ('qbr:003:2025q1', 'none')") == {tid(3)}
    assert candidates("WhatId = '0015g0000000003' AND Subject = 'Call'") == {
        tid(3),
        tid(6),
    }
    # a non-ASCII key is always a candidate (ignoring case, 'ſ' matches 's'); the LIKE decides
    assert candidates("Sync_Key__c LIKE 'qbr:%'") == {tid(3), tid(6)}
    assert candidates("Sync_Key__c LIKE '%:2025-03'") is None  # no index: a full scan
    assert candidates("Subject = 'Call'") is None  # not an indexed field
    assert candidates("NOT (WhatId = '0015g0000000003')") is None
