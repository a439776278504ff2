"""The failure ledger on SQLite and PostgreSQL: record, re-open, list pending, resolve."""

from sfsync.plan import PendingWrite
from sfsync.state.failures import (
    FailedWrite,
    open_failures,
    pending_writes,
    record_failures,
    resolve_failures,
)

A1, A2 = "001000000000001AAA", "001000000000002AAA"
KEY = "signal:red_band:001000000000001AAA:2025-02"


def test_failures_are_kept_until_resolved(store):
    record_failures(
        store,
        1,
        [
            FailedWrite(
                "Account", A1, ("Health_Score__c",), "FIELD_CUSTOM_VALIDATION_EXCEPTION", "no"
            ),
            FailedWrite("Task", KEY, ("Subject", "OwnerId"), "UNABLE_TO_LOCK_ROW", "locked"),
        ],
    )
    assert pending_writes(store) == [
        PendingWrite("Account", A1, ("Health_Score__c",)),
        PendingWrite("Task", KEY, ("OwnerId", "Subject")),
    ]
    # failing again merges the fields and counts the attempt
    record_failures(store, 2, [FailedWrite("Account", A1, ("Health_Band__c",), "X", "again")])
    rows = {r["record_key"]: r for r in open_failures(store)}
    assert rows[A1]["attempts"] == 2 and rows[A1]["error_code"] == "X"
    assert pending_writes(store, "Account") == [
        PendingWrite("Account", A1, ("Health_Band__c", "Health_Score__c"))
    ]
    assert resolve_failures(store, 3, [("Account", A1), ("Account", A2)]) == 1
    assert [p.key for p in pending_writes(store)] == [KEY]
    # a resolved record that fails again is re-opened with only the new fields
    record_failures(store, 4, [FailedWrite("Account", A1, ("CS_Segment__c",), "Y", "later")])
    assert pending_writes(store, "Account") == [PendingWrite("Account", A1, ("CS_Segment__c",))]
