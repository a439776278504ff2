"""Error shapes of the Salesforce REST API and what the client does with each (``responses``)."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
)

from sfsync.errors import ApiLimitError, AuthError, TransientError
from sfsync.salesforce.client import SalesforceApiError, connect
from sfsync.salesforce.retry import Decision, decide

from .conftest import API, INSTANCE, LOGIN

TOKEN = "00Dsecret!TOKEN"
LIMITS_URL = f"{API}/limits/"
OK_BODY = {"DailyApiRequests": {"Max": 15000, "Remaining": 14000}}


def err(status, code, message="", headers=None):
    return {
        "status": status,
        "json": [{"errorCode": code, "message": message}],
        "headers": headers or {},
    }


OK = {"status": 200, "json": OK_BODY, "headers": {"Sforce-Limit-Info": "api-usage=18/15000"}}
E503 = err(503, "SERVER_UNAVAILABLE", "down for maintenance")

# (id, responses served in order, expected exception or None, expected calls, expected sleeps)
CASES = [
    ("ok", [OK], None, 1, 0),
    ("503 twice then ok", [E503, E503, OK], None, 3, 2),
    ("500 then ok", [err(500, "UNKNOWN_EXCEPTION"), OK], None, 2, 1),
    ("502 html then ok", [{"status": 502, "body": "<html>bad gateway</html>"}, OK], None, 2, 1),
    ("lock row then ok", [err(400, "UNABLE_TO_LOCK_ROW", "unable to obtain lock"), OK], None, 2, 1),
    ("503 forever", [E503], TransientError, 4, 3),
    (
        "limit exceeded",
        [err(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")],
        ApiLimitError,
        1,
        0,
    ),
    (
        "malformed query",
        [err(400, "MALFORMED_QUERY", "unexpected token: FORM")],
        SalesforceApiError,
        1,
        0,
    ),
    (
        "invalid field",
        [err(400, "INVALID_FIELD", "No such column 'Foo__c'")],
        SalesforceApiError,
        1,
        0,
    ),
    (
        "not found",
        [err(404, "NOT_FOUND", "The requested resource does not exist")],
        SalesforceApiError,
        1,
        0,
    ),
    ("forbidden", [err(403, "INSUFFICIENT_ACCESS", "no access")], SalesforceApiError, 1, 0),
    ("connection reset then ok", [requests.ConnectionError("connection reset"), OK], None, 2, 1),
    ("read timeout then ok", [requests.ReadTimeout("read timed out"), OK], None, 2, 1),
    ("connection refused forever", [requests.ConnectionError("refused")], TransientError, 4, 3),
    (
        "expired session, no way to renew",
        [err(401, "INVALID_SESSION_ID", "Session expired or invalid")],
        AuthError,
        1,
        0,
    ),
]


def _register(url, shapes, method=responses.GET):
    for shape in shapes:
        if isinstance(shape, Exception):
            responses.add(method, url, body=shape)
        else:
            responses.add(method, url, **shape)


@pytest.mark.parametrize(
    "shapes, expected, calls, sleeps_expected",
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
@responses.activate
def test_error_shape_table(session_client, sleeps, shapes, expected, calls, sleeps_expected):
    _register(LIMITS_URL, shapes)
    if expected is None:
        assert session_client.limits() == OK_BODY
    else:
        with pytest.raises(expected) as info:
            session_client.limits()
        text = str(info.value)
        assert TOKEN not in text and "Bearer" not in text
        assert "/services/data/v62.0/limits" in text  # names the endpoint
    assert len(responses.calls) == calls
    assert session_client.api_calls == calls
    assert len(sleeps) == sleeps_expected


@responses.activate
def test_validation_error_keeps_salesforce_message(session_client):
    _register(f"{API}/query/", [err(400, "MALFORMED_QUERY", "unexpected token: FORM")])
    with pytest.raises(SalesforceApiError) as info:
        session_client.query("SELECT Id FORM Account")
    assert info.value.status == 400
    assert info.value.error_code == "MALFORMED_QUERY"
    assert "unexpected token: FORM" in str(info.value)
    assert len(responses.calls) == 1


@responses.activate
def test_simple_salesforce_calls_get_its_usual_exceptions(session_client):
    """Non-retryable errors pass through to simple-salesforce, which raises as always."""
    _register(f"{API}/query/", [err(400, "MALFORMED_QUERY", "unexpected token: FORM")])
    with pytest.raises(SalesforceMalformedRequest):
        session_client.sf.query("SELECT Id FORM Account")
    assert len(responses.calls) == 1


@responses.activate
def test_upsert_with_multiple_matches_is_not_retried(session_client):
    url = f"{API}/sobjects/Task/Sync_Key__c/signal:red_band:001:2025-02"
    body = [f"/services/data/v62.0/sobjects/Task/00T00000000000{i}AAA" for i in (1, 2)]
    responses.add(responses.PATCH, url, status=300, json=body)
    responses.add(responses.PATCH, url, status=300, json=body)
    with pytest.raises(SalesforceApiError) as info:
        session_client.request(
            "PATCH", "sobjects/Task/Sync_Key__c/signal:red_band:001:2025-02", json={"Subject": "x"}
        )
    assert info.value.status == 300
    assert info.value.content == body
    with pytest.raises(SalesforceMoreThanOneRecord):
        session_client.sf.Task.upsert("Sync_Key__c/signal:red_band:001:2025-02", {"Subject": "x"})
    assert len(responses.calls) == 2


@pytest.mark.parametrize("status", [429, 503])
@responses.activate
def test_retry_after_is_honoured(session_client, sleeps, status):
    _register(
        LIMITS_URL,
        [
            {
                "status": status,
                "json": [{"errorCode": "X", "message": "slow down"}],
                "headers": {"Retry-After": "7"},
            },
            OK,
        ],
    )
    assert session_client.limits() == OK_BODY
    assert sleeps == [7.0]


@responses.activate
def test_backoff_grows_and_is_bounded(session_client, sleeps):
    _register(LIMITS_URL, [E503])
    with pytest.raises(TransientError):
        session_client.limits()
    assert len(sleeps) == 3
    assert all(0 < s <= 1.0 + 0.5 for s in sleeps)  # max_wait + jitter


@responses.activate
def test_total_time_bound_stops_retrying(sleeps):
    from sfsync.salesforce.client import RetryPolicy

    from .conftest import SfSettings

    ticks = iter(range(0, 10_000, 50))  # every clock read jumps 50 s
    policy = RetryPolicy(
        max_attempts=100,
        max_seconds=120,
        initial_wait=0.1,
        sleep=sleeps,
        clock=lambda: next(ticks),
    )
    client = connect(SfSettings(instance_url=INSTANCE, access_token=TOKEN), policy=policy)
    _register(LIMITS_URL, [E503])
    with pytest.raises(TransientError):
        client.limits()
    assert len(responses.calls) < 10


@responses.activate
def test_expired_session_reauthenticates_exactly_once(jwt_settings, policy):
    responses.add(
        responses.POST,
        f"{LOGIN}/services/oauth2/token",
        json={"access_token": "first", "instance_url": INSTANCE},
    )
    responses.add(
        responses.POST,
        f"{LOGIN}/services/oauth2/token",
        json={"access_token": "second", "instance_url": INSTANCE},
    )
    client = connect(jwt_settings, policy=policy)
    _register(LIMITS_URL, [err(401, "INVALID_SESSION_ID", "Session expired or invalid"), OK])
    assert client.limits() == OK_BODY
    api_calls = [c for c in responses.calls if "/limits" in c.request.url]
    token_calls = [c for c in responses.calls if "oauth2/token" in c.request.url]
    assert [c.request.headers["Authorization"] for c in api_calls] == [
        "Bearer first",
        "Bearer second",
    ]
    assert len(token_calls) == 2  # login + exactly one re-auth
    assert client.sf.session_id == "second"
    assert client.sf.headers["Authorization"] == "Bearer second"
    assert client.auth_flow == "jwt"


@responses.activate
def test_session_rejected_after_reauth_is_an_auth_error(jwt_settings, policy):
    responses.add(
        responses.POST,
        f"{LOGIN}/services/oauth2/token",
        json={"access_token": "tok", "instance_url": INSTANCE},
    )
    client = connect(jwt_settings, policy=policy)
    _register(LIMITS_URL, [err(401, "INVALID_SESSION_ID", "Session expired or invalid")])
    with pytest.raises(AuthError) as info:
        client.limits()
    assert "INVALID_SESSION_ID" in str(info.value)
    assert len([c for c in responses.calls if "oauth2/token" in c.request.url]) == 2
    assert len([c for c in responses.calls if "/limits" in c.request.url]) == 2


@responses.activate
def test_handlers_built_before_reauth_send_the_new_token(jwt_settings, policy):
    """A Bulk 2.0 handler keeps the token it was built with; the session swaps it."""
    responses.add(
        responses.POST,
        f"{LOGIN}/services/oauth2/token",
        json={"access_token": "first", "instance_url": INSTANCE},
    )
    responses.add(
        responses.POST,
        f"{LOGIN}/services/oauth2/token",
        json={"access_token": "second", "instance_url": INSTANCE},
    )
    client = connect(jwt_settings, policy=policy)
    bulk2_type = client.sf.bulk2.Account  # built with "first"
    job_url = f"{API}/jobs/query/750x"
    _register(
        job_url,
        [
            err(401, "INVALID_SESSION_ID", "expired"),
            {"status": 200, "json": {"id": "750x", "state": "JobComplete"}},
            {"status": 200, "json": {"id": "750x", "state": "JobComplete"}},
        ],
    )
    bulk2_type._client.get_job("750x", is_query=True)
    bulk2_type._client.get_job("750x", is_query=True)
    auths = [
        c.request.headers["Authorization"] for c in responses.calls if "/jobs/" in c.request.url
    ]
    assert auths == ["Bearer first", "Bearer second", "Bearer second"]


@responses.activate
def test_sforce_limit_info_is_kept(session_client):
    _register(LIMITS_URL, [OK])
    session_client.limits()
    assert session_client.api_usage == (18, 15000)
    assert session_client.calls_by_kind == {"limits": 1}


def test_decide_is_the_single_judge():
    def resp(status, body):
        r = requests.Response()
        r.status_code = status
        r._content = json.dumps(body).encode()
        return r

    assert decide(resp(200, {})) is Decision.OK
    assert decide(resp(401, [{"errorCode": "INVALID_SESSION_ID"}])) is Decision.REAUTH
    assert decide(resp(403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED"}])) is Decision.LIMIT
    assert decide(resp(400, [{"errorCode": "UNABLE_TO_LOCK_ROW"}])) is Decision.RETRY
    assert decide(resp(400, [{"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION"}])) is Decision.OK
    assert decide(resp(503, "")) is Decision.RETRY
    assert decide(requests.ConnectionError()) is Decision.RETRY
    assert decide(requests.exceptions.SSLError()) is Decision.OK
    assert decide(ValueError()) is Decision.OK


@responses.activate
def test_logs_name_the_endpoint_and_never_the_token(jwt_settings, policy):
    from structlog.testing import capture_logs

    responses.add(
        responses.POST,
        f"{LOGIN}/services/oauth2/token",
        json={"access_token": "first-SECRET", "instance_url": INSTANCE},
    )
    responses.add(
        responses.POST,
        f"{LOGIN}/services/oauth2/token",
        json={"access_token": "second-SECRET", "instance_url": INSTANCE},
    )
    with capture_logs() as logs:
        client = connect(jwt_settings, policy=policy)
        _register(LIMITS_URL, [E503, err(401, "INVALID_SESSION_ID", "expired"), OK])
        client.limits()
    events = [entry["event"] for entry in logs]
    assert "salesforce_request_retried" in events and "salesforce_session_renewed" in events
    retried = next(e for e in logs if e["event"] == "salesforce_request_retried")
    assert retried["endpoint"] == "GET /services/data/v62.0/limits/"
    assert "SECRET" not in repr(logs)
