"""Writer error handling against recorded Salesforce response shapes (`responses`).

End-to-end behaviour is tested on the sandbox; these tables pin the per-record error shapes.
"""

import json

import pytest
import responses

from sfsync.errors import ApiLimitError, AuthError
from sfsync.plan import FieldChange, Plan, RecordChange, TaskChange
from sfsync.salesforce.writer import LockRetry, WriteStatus, apply_plan
from tests.sync.helpers import BASE_URL, rest_client

BASE = BASE_URL
NO_SLEEP = LockRetry(attempts=3, sleep=lambda s: None)


def ids(n):
    return [f"001{i:015d}" for i in range(n)]


def account_plan(keys):
    return Plan(
        sobject="Account",
        match_field="Id",
        records=tuple(
            RecordChange(k, (FieldChange("Health_Score__c", None, 50 + i),))
            for i, k in enumerate(keys)
        ),
    )


def ok(key, created=False):
    return {"id": key, "success": True, "errors": [], "created": created}


def err(code, message, fields=()):
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": list(fields)}],
    }


@responses.activate
def test_per_record_errors_inside_a_200_are_collected_and_locks_retried_alone():
    keys = ids(250)
    calls = []

    def handler(request):
        body = json.loads(request.body)
        assert body["allOrNone"] is False
        sent = [r["id"] for r in body["records"]]
        calls.append(sent)
        out = []
        for r in body["records"]:
            if r["id"] == keys[3]:
                out.append(
                    err(
                        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                        "Score must be set",
                        ["Health_Score__c"],
                    )
                )
            elif r["id"] == keys[7] and len(calls) == 1 or r["id"] == keys[9]:
                out.append(
                    err("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
                )
            else:
                out.append(ok(r["id"]))
        return 200, {}, json.dumps(out)

    responses.add_callback(responses.PATCH, BASE + "composite/sobjects", callback=handler)
    result = apply_plan(rest_client(), account_plan(keys), lock_retry=NO_SLEEP)

    # 2 calls for 250 records (200 + 50), then only the locked records, alone
    assert [len(c) for c in calls] == [200, 50, 2, 1]
    assert calls[2] == [keys[7], keys[9]]
    assert all(c == [keys[9]] for c in calls[3:])
    by_key = {r.key: r for r in result.results}
    assert by_key[keys[3]].status is WriteStatus.ROW_FAILURE
    assert by_key[keys[3]].error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert by_key[keys[3]].message == "Score must be set (fields: Health_Score__c)"
    assert by_key[keys[7]].status is WriteStatus.SUCCESS and by_key[keys[7]].attempts == 2
    assert by_key[keys[9]].status is WriteStatus.ROW_FAILURE
    assert by_key[keys[9]].error_code == "UNABLE_TO_LOCK_ROW"
    assert by_key[keys[9]].attempts == NO_SLEEP.attempts
    assert result.counts()["written"] == 248
    assert result.methods == {"Account": "collections"}


@responses.activate
def test_tasks_are_upserted_by_sync_key():
    key = "signal:red_band:001000000000000001:2025-02"
    seen = {}

    def handler(request):
        body = json.loads(request.body)
        seen.update(body["records"][0])
        return (
            200,
            {},
            json.dumps(
                [{"id": "00T000000000000001", "success": True, "errors": [], "created": True}]
            ),
        )

    responses.add_callback(
        responses.PATCH, BASE + "composite/sobjects/Task/Sync_Key__c", callback=handler
    )
    plan = Plan(
        "Account",
        "Id",
        tasks=(TaskChange(key, "create", "new", fields={"Subject": "S", "Sync_Key__c": key}),),
    )
    result = apply_plan(rest_client(), plan)
    assert seen == {"attributes": {"type": "Task"}, "Subject": "S", "Sync_Key__c": key}
    assert result.results[0].created and result.results[0].record_id == "00T000000000000001"


@pytest.mark.parametrize(
    "status, body",
    [
        (400, [{"errorCode": "MALFORMED_QUERY", "message": "bad"}]),
        (403, [{"errorCode": "INSUFFICIENT_ACCESS", "message": "no access"}]),
        (300, [{"errorCode": "MULTIPLE_CHOICES", "message": "several records match"}]),
    ],
)
@responses.activate
def test_a_refused_request_fails_its_records_without_raising(status, body):
    responses.add(responses.PATCH, BASE + "composite/sobjects", json=body, status=status)
    result = apply_plan(rest_client(), account_plan(ids(3)), lock_retry=NO_SLEEP)
    assert [r.status for r in result.results] == [WriteStatus.JOB_FAILURE] * 3
    assert {r.error_code for r in result.results} == {body[0]["errorCode"]}


@responses.activate
def test_after_a_request_failure_the_remaining_chunks_are_not_sent():
    responses.add(
        responses.PATCH,
        BASE + "composite/sobjects",
        json=[{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}],
        status=503,
    )
    result = apply_plan(rest_client(), account_plan(ids(450)), lock_retry=NO_SLEEP)
    assert len(responses.calls) == 3  # the client's attempts for the first chunk, then stop
    assert len(result.failed) == 450
    assert {r.status for r in result.results} == {WriteStatus.JOB_FAILURE}


@responses.activate
def test_a_503_is_retried_by_the_client_and_the_records_are_written():
    responses.add(
        responses.PATCH,
        BASE + "composite/sobjects",
        json=[{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}],
        status=503,
    )
    responses.add(responses.PATCH, BASE + "composite/sobjects", json=[ok(k) for k in ids(3)])
    sleeps = []
    result = apply_plan(rest_client(sleeps), account_plan(ids(3)), lock_retry=NO_SLEEP)
    assert len(responses.calls) == 2 and len(sleeps) == 1
    assert [r.status for r in result.results] == [WriteStatus.SUCCESS] * 3


@pytest.mark.parametrize(
    "status, body, error",
    [
        (401, [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired"}], AuthError),
        (
            403,
            [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
            ApiLimitError,
        ),
    ],
)
@responses.activate
def test_an_expired_session_or_the_api_limit_stops_the_run(status, body, error):
    responses.add(responses.PATCH, BASE + "composite/sobjects", json=body, status=status)
    with pytest.raises(error):
        apply_plan(rest_client(), account_plan(ids(3)), lock_retry=NO_SLEEP)
    assert len(responses.calls) == 1


@responses.activate
def test_bulk_ingest_above_the_threshold_with_locked_rows_retried():
    keys = ids(6)
    uploaded = {}
    responses.add(responses.POST, BASE + "jobs/ingest", json={"id": "750J1", "state": "Open"})

    def upload(request):
        uploaded["csv"] = request.body.decode() if isinstance(request.body, bytes) else request.body
        return 201, {}, ""

    responses.add_callback(responses.PUT, BASE + "jobs/ingest/750J1/batches", callback=upload)
    responses.add(responses.PATCH, BASE + "jobs/ingest/750J1", json={"state": "UploadComplete"})
    responses.add(responses.GET, BASE + "jobs/ingest/750J1", json={"state": "InProgress"})
    responses.add(responses.GET, BASE + "jobs/ingest/750J1", json={"state": "JobComplete"})
    ok_rows = "".join(f'"{k}","false","{k}","{50 + i}"\n' for i, k in enumerate(keys[:4]))
    responses.add(
        responses.GET,
        BASE + "jobs/ingest/750J1/successfulResults/",
        body='"sf__Id","sf__Created","Id","Health_Score__c"\n' + ok_rows,
    )
    responses.add(
        responses.GET,
        BASE + "jobs/ingest/750J1/failedResults/",
        body='"sf__Id","sf__Error","Id","Health_Score__c"\n'
        f'"{keys[4]}","UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--","{keys[4]}","54"\n'
        f'"{keys[5]}","ENTITY_IS_DELETED:entity is deleted:--","{keys[5]}","55"\n',
    )
    responses.add(
        responses.PATCH,
        BASE + "composite/sobjects",
        json=[{"id": keys[4], "success": True, "errors": []}],
    )
    plan = account_plan(keys)
    plan = Plan(
        "Account",
        "Id",
        records=plan.records[:-1]
        + (RecordChange(keys[5], (FieldChange("Health_Score__c", 1, None),)),),
    )
    result = apply_plan(rest_client(), plan, bulk_threshold=5, lock_retry=NO_SLEEP)
    assert result.methods == {"Account": "bulk"}
    lines = uploaded["csv"].splitlines()
    assert lines[0] == "Id,Health_Score__c"
    assert lines[1] == f"{keys[0]},50"
    assert lines[6] == f"{keys[5]},#N/A"  # null is written as #N/A
    by_key = {r.key: r for r in result.results}
    assert [by_key[k].status for k in keys] == [WriteStatus.SUCCESS] * 5 + [WriteStatus.ROW_FAILURE]
    assert by_key[keys[4]].attempts == 2
    assert (by_key[keys[5]].error_code, by_key[keys[5]].message) == (
        "ENTITY_IS_DELETED",
        "entity is deleted",
    )
