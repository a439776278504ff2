"""One Bulk API 2.0 job helper for writes and reads: the same polling with backoff, the same
abort at the deadline, unprocessed records read when results are missing, several jobs when
an upload is split."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from sfsync.errors import SourceError, TransientError
from sfsync.plan import Plan, TaskChange
from sfsync.salesforce import bulk2
from sfsync.salesforce.bulk_ingest import ABORTED_CODE, FAILED_CODE
from sfsync.salesforce.bulk_upload import UploadLimits
from sfsync.salesforce.query import bulk_query_frame
from sfsync.salesforce.retry import RetryPolicy
from sfsync.salesforce.writer import LockRetry, WriteRequest, WriteStatus, apply_plan, write


class _Reply:
    def __init__(self, payload: Any = None, text: str = "", headers: dict | None = None) -> None:
        self._payload = payload
        self.text = text
        self.headers = headers or {}
        self.encoding = None

    def json(self) -> Any:
        return self._payload


class FakeBulkOrg:
    """A fake client for Bulk 2.0 jobs: each job stays InProgress for ``polls`` status
    requests, then ends in ``final``; ingest jobs succeed for every row except ``fail`` (row
    errors) and, when the job fails, leave ``unprocessed`` rows unprocessed."""

    def __init__(
        self,
        *,
        polls: int = 2,
        final: str = "JobComplete",
        fail: tuple[str, ...] = (),
        unprocessed: tuple[str, ...] = (),
        deadline: float = 100.0,
    ) -> None:
        self.calls: list[tuple[str, str]] = []
        self.uploads: dict[str, str] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.polls, self.final = polls, final
        self.fail, self.unprocessed = fail, unprocessed
        self.bulk_job_deadline_seconds = deadline
        self.sleeps: list[float] = []
        self.policy = RetryPolicy(sleep=self.sleeps.append)

    def request(self, method: str, path: str, **kwargs: Any) -> _Reply:
        self.calls.append((method, path))
        parts = path.split("/")
        if method == "POST":
            job_id = f"750{len(self.jobs):015d}"
            self.jobs[job_id] = {"polls": self.polls, "kind": parts[1]}
            return _Reply({"id": job_id, "state": "Open"})
        job_id = parts[2]
        job = self.jobs[job_id]
        if method == "PUT":
            self.uploads[job_id] = kwargs["data"].decode("utf-8")
            return _Reply(text="")
        if method == "PATCH":
            state = kwargs["json"]["state"]
            if state == "Aborted":
                job["aborted"] = True
            return _Reply({"id": job_id, "state": state})
        if len(parts) == 3:  # job status
            if job.get("aborted"):
                return _Reply({"id": job_id, "state": "Aborted"})
            if job["polls"] > 0:
                job["polls"] -= 1
                return _Reply({"id": job_id, "state": "InProgress"})
            return _Reply({"id": job_id, "state": self.final, "errorMessage": "boom"})
        return self._results(job_id, parts[3])

    def _results(self, job_id: str, kind: str) -> _Reply:
        if kind == "results":  # query
            return _Reply(text='"Id","Name"\n"001A","Acme"\n', headers={"Sforce-Locator": "null"})
        rows = list(csv.DictReader(io.StringIO(self.uploads[job_id])))
        header = list(rows[0]) if rows else ["Id"]
        key = header[0]  # Id, or the external-ID field of an upsert
        rows = [{"Id": r[key], **r} for r in rows]
        unprocessed = self.unprocessed
        if self.jobs[job_id].get("aborted"):  # nothing was processed
            unprocessed = tuple(r["Id"] for r in rows)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if kind == "successfulResults":
            writer.writerow(["sf__Id", "sf__Created", *header])
            picked = [r for r in rows if r["Id"] not in self.fail + unprocessed]
            for r in picked:
                writer.writerow([r["Id"], "false", *(r[h] for h in header)])
        elif kind == "failedResults":
            writer.writerow(["sf__Id", "sf__Error", *header])
            for r in (r for r in rows if r["Id"] in self.fail and r["Id"] not in unprocessed):
                error = "FIELD_CUSTOM_VALIDATION_EXCEPTION:bad:--"
                writer.writerow([r["Id"], error, *(r[h] for h in header)])
        else:
            assert kind == "unprocessedrecords"
            writer.writerow(header)
            for r in (r for r in rows if r["Id"] in unprocessed):
                writer.writerow([r[h] for h in header])
        return _Reply(text=out.getvalue())

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.endswith(suffix))


def _request(keys: list[str]) -> WriteRequest:
    return WriteRequest("Account", "update", "Id", tuple((k, {"Name": f"n{k}"}) for k in keys))


def _write(org: FakeBulkOrg, keys: list[str], **kwargs: Any):
    return write(
        org,
        _request(keys),
        bulk_threshold=1,
        lock_retry=LockRetry(attempts=1, sleep=org.sleeps.append),
        **kwargs,
    )


KEYS = [f"001{i:015d}" for i in range(6)]


def test_ingest_and_query_poll_with_the_same_backoff():
    writes = FakeBulkOrg(polls=3)
    _write(writes, KEYS)
    reads = FakeBulkOrg(polls=3)
    frame = bulk_query_frame(reads, "SELECT Id, Name FROM Account")
    assert list(frame["Name"]) == ["Acme"]
    assert writes.sleeps == reads.sleeps == [0.5, 1.0, 2.0]


def test_ingest_and_query_share_the_job_helper(monkeypatch):
    kinds: list[str] = []
    real = bulk2.wait_for_job

    def spy(client, kind, job_id, **kwargs):
        kinds.append(kind)
        return real(client, kind, job_id, **kwargs)

    monkeypatch.setattr(bulk2, "wait_for_job", spy)
    _write(FakeBulkOrg(), KEYS)
    bulk_query_frame(FakeBulkOrg(), "SELECT Id, Name FROM Account")
    assert kinds == ["ingest", "query"]


def test_both_abort_a_job_past_its_deadline():
    writes = FakeBulkOrg(polls=100, deadline=3.0)
    results = _write(writes, KEYS)
    assert writes.count("PATCH", "") == 2  # UploadComplete, then Aborted
    assert {r.error_code for r in results} == {ABORTED_CODE}
    assert all(r.status is WriteStatus.ROW_FAILURE for r in results)
    assert writes.count("GET", "/unprocessedrecords/") == 1
    reads = FakeBulkOrg(polls=100, deadline=3.0)
    with pytest.raises(TransientError, match="aborted"):
        bulk_query_frame(reads, "SELECT Id FROM Account")
    assert ("PATCH", "jobs/query/750000000000000000") in reads.calls
    assert sum(writes.sleeps) == sum(reads.sleeps) >= 3.0


def test_a_failed_query_job_fails_the_read():
    with pytest.raises(SourceError, match="failed: boom"):
        bulk_query_frame(FakeBulkOrg(final="Failed"), "SELECT Id FROM Account")


def test_unprocessed_records_are_read_when_results_are_missing():
    org = FakeBulkOrg(final="Failed", fail=(KEYS[1],), unprocessed=(KEYS[4], KEYS[5]))
    results = {r.key: r for r in _write(org, KEYS)}
    assert org.count("GET", "/unprocessedrecords/") == 1
    assert results[KEYS[0]].status is WriteStatus.SUCCESS
    assert results[KEYS[1]].error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert results[KEYS[4]].error_code == results[KEYS[5]].error_code == FAILED_CODE
    assert results[KEYS[4]].message == "boom"


def test_a_clean_job_costs_no_unprocessed_read():
    org = FakeBulkOrg()
    results = _write(org, KEYS)
    assert all(r.status is WriteStatus.SUCCESS for r in results)
    assert org.count("GET", "/unprocessedrecords/") == 0


def test_a_split_upload_runs_one_job_after_another_with_every_record_once():
    org = FakeBulkOrg(polls=1)
    keys = [f"001{i:015d}" for i in range(50)]
    results = _write(org, keys, upload_limits=UploadLimits(max_bytes=400))
    jobs = org.count("POST", "jobs/ingest")
    assert jobs > 3
    assert all(len(data.encode()) <= 400 for data in org.uploads.values())
    sent = [row["Id"] for data in org.uploads.values() for row in csv.DictReader(io.StringIO(data))]
    assert sent == sorted(keys)
    assert [r.key for r in results] == keys
    assert all(r.status is WriteStatus.SUCCESS for r in results)


def test_task_rows_are_sent_ordered_by_what_id_then_key():
    org = FakeBulkOrg(polls=0)
    accounts = ["001C", "001A", "001B"]
    tasks = tuple(
        TaskChange(
            f"signal:{code}:{account}:2025-03",
            "create",
            "new",
            account_id=account,
            fields={"Subject": code, "WhatId": account},
        )
        for code in ("red_band", "low_usage")
        for account in accounts
    )
    result = apply_plan(
        org,
        Plan("Account", "Id", tasks=tasks),
        bulk_threshold=1,
        lock_retry=LockRetry(attempts=1, sleep=org.sleeps.append),
        upload_limits=UploadLimits(max_bytes=250),
    )
    assert result.methods == {"Task": "bulk"} and not result.failed
    assert org.count("POST", "jobs/ingest") > 1
    sent = [
        (row["WhatId"], row["Sync_Key__c"])
        for data in org.uploads.values()
        for row in csv.DictReader(io.StringIO(data))
    ]
    assert (
        sent == sorted(sent) and [w for w, _ in sent] == ["001A"] * 2 + ["001B"] * 2 + ["001C"] * 2
    )
