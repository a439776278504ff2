"""Bulk API 2.0 upload data: ordered by parent, split under the job data limits, counted by
the API budget the same way the writer splits it."""

from __future__ import annotations

import csv
import io
import math

import pytest

from sfsync.plan import FieldChange, Plan, RecordChange, TaskChange
from sfsync.salesforce.budget import BULK_JOB_CALLS, RETRY_MARGIN, estimate_write_calls
from sfsync.salesforce.bulk_upload import (
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_CHARS,
    UploadLimits,
    count_jobs,
    measure_uploads,
    order_by_parent,
    split_uploads,
)
from sfsync.salesforce.dml import WriteRequest
from sfsync.salesforce.writer import plan_requests


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _request(n: int, text: str = "note", key_field: str = "Id") -> WriteRequest:
    return WriteRequest(
        "Account",
        "update",
        key_field,
        tuple((f"001{i:015d}", {"Health_Explanation__c": f"{text} {i}"}) for i in range(n)),
    )


def test_an_oversized_upload_is_split_into_several_jobs_under_the_limit():
    request = _request(500)
    whole = b"".join(u.data for u in split_uploads(request))  # one job at the real limits
    limits = UploadLimits(max_bytes=len(whole) // 4)
    uploads = list(split_uploads(request, limits))
    assert len(uploads) >= 4 and count_jobs(request, limits) == len(uploads)
    keys = []
    for upload in uploads:
        assert upload.size <= limits.max_bytes
        assert upload.data.decode().startswith("Id,Health_Explanation__c\n")  # header each time
        rows = _rows(upload.data)
        assert [r["Id"] for r in rows] == list(upload.keys)
        keys.extend(upload.keys)
    assert keys == [k for k, _ in request.records]  # every record once, in order


def test_the_character_limit_splits_too():
    request = _request(300)
    size = sum(u.size for u in split_uploads(request))
    limits = UploadLimits(max_bytes=10 * size, max_chars=size // 3)
    uploads = list(split_uploads(request, limits))
    assert len(uploads) >= 3
    assert all(len(u.data.decode("utf-8")) <= limits.max_chars for u in uploads)


def test_the_real_byte_limit_with_japanese_text_is_measured_encoded():
    """34,000 rows of 1,000 kanji (3 bytes each in UTF-8): about 102 MB as sent but only 34 M
    characters; measured into two jobs, each at most 100 MB encoded. Nothing is sent."""
    text = "顧客満足度" * 200  # 1,000 characters, 3,000 bytes
    rows = 34_000
    request = WriteRequest(
        "Account",
        "update",
        "Id",
        tuple((f"001{i:015d}", {"Health_Explanation__c": text}) for i in range(rows)),
    )
    assert len(text) * rows < MAX_UPLOAD_CHARS < len(text.encode()) * rows * 2
    sizes = measure_uploads(request)
    assert len(sizes) == 2 and sum(s.records for s in sizes) == rows
    assert all(s.bytes <= MAX_UPLOAD_BYTES and s.chars <= MAX_UPLOAD_CHARS for s in sizes)
    assert sum(s.bytes for s in sizes) > MAX_UPLOAD_BYTES  # one upload would be refused
    assert sizes[0].bytes > MAX_UPLOAD_BYTES - 3_100  # the first job is filled to the limit
    assert count_jobs(request) == 2


def test_measured_sizes_are_the_sizes_of_the_uploads_built():
    text = "解約リスク、利用低下"
    request = _request(400, text=text)
    limits = UploadLimits(max_bytes=5_000)
    uploads = list(split_uploads(request, limits))
    measured = measure_uploads(request, limits)
    assert [(len(u.keys), u.size, len(u.data.decode())) for u in uploads] == [
        (m.records, m.bytes, m.chars) for m in measured
    ]
    assert len(uploads) > 1 and all(u.size <= 5_000 for u in uploads)


def test_task_rows_are_ordered_by_parent_account_then_key():
    accounts = ["001C", "001A", "001B"]
    tasks = tuple(
        TaskChange(
            f"signal:{code}:{account}:2025-03",
            "create" if code != "z_update" else "update",
            "new",
            account_id=account,
            # an update carries only its changed fields: no WhatId
            fields={"Subject": code} | ({"WhatId": account} if code != "z_update" else {}),
        )
        for code in ("red_band", "low_usage", "z_update")
        for account in accounts
    )
    (request,) = plan_requests(Plan("Account", "Id", tasks=tasks))
    ordered = [key for key, _ in order_by_parent(request)]
    assert ordered == [
        f"signal:{code}:{account}:2025-03"
        for account in sorted(accounts)
        for code in ("low_usage", "red_band", "z_update")
    ]
    (upload,) = split_uploads(request)
    assert [r["Sync_Key__c"] for r in _rows(upload.data)] == ordered


def test_account_updates_are_ordered_by_id():
    keys = ["001B", "001C", "001A"]
    request = WriteRequest("Account", "update", "Id", tuple((k, {"Name": k}) for k in keys))
    assert [k for k, _ in order_by_parent(request)] == sorted(keys)


def test_empty_and_null_cells():
    request = WriteRequest(
        "Account", "update", "Id", (("001A", {"A__c": None, "B__c": True}), ("001B", {"C__c": 3}))
    )
    (upload,) = split_uploads(request)
    assert upload.data.decode() == "Id,A__c,B__c,C__c\n001A,#N/A,true,\n001B,,,3\n"


@pytest.mark.parametrize("jobs", [1, 3])
def test_the_budget_counts_the_jobs_the_upload_becomes(jobs):
    keys = [f"001{i:015d}" for i in range(60)]
    plan = Plan(
        "Account",
        "Id",
        records=tuple(RecordChange(k, (FieldChange("Name", None, "x" * 40),)) for k in keys),
    )
    (request,) = plan_requests(plan)
    size = sum(u.size for u in split_uploads(request))
    limits = UploadLimits(max_bytes=size // jobs + 100)
    assert count_jobs(request, limits) == jobs
    estimate = estimate_write_calls(plan, bulk_threshold=10, upload_limits=limits)
    assert estimate == math.ceil(jobs * BULK_JOB_CALLS * RETRY_MARGIN)
    # below the threshold: collections, one call per 200 records
    assert estimate_write_calls(plan, bulk_threshold=100) == math.ceil(1 * RETRY_MARGIN)
