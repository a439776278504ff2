"""The client against the local sandbox org over real HTTPS: logins, pages, Bulk 2.0, faults.

Call counts come from the sandbox's admin counters (what the org saw), not from the client.
"""

from __future__ import annotations

import math
from datetime import date

import certifi
import pandas as pd
import pytest
from sfsync_sandbox import Sandbox

from sfsync.errors import ApiLimitError, AuthError, ConfigError
from sfsync.salesforce.auth import plan_auth_flows
from sfsync.salesforce.client import RetryPolicy, connect, soql_in
from sfsync.salesforce.retry import SalesforceSession

from .conftest import SfSettings

ACCOUNTS = 2500  # more than one SOQL page (2,000) and above the Bulk threshold
SOQL = "SELECT Id, Name, ARR__c, Enterprise__c, Renewal_Date__c, Tenant_Id__c, Owner.Email FROM Account"
FAST = dict(initial_wait=0.01, max_wait=0.05, jitter=0.01, max_attempts=10, max_seconds=60)


@pytest.fixture(scope="module")
def big_sandbox(tmp_path_factory, sandbox_credentials_dir):
    with Sandbox(
        data_dir=tmp_path_factory.mktemp("sfclient-sandbox"),
        accounts=ACCOUNTS,
        seed=7,
        as_of=date(2025, 3, 15),
        credentials_dir=sandbox_credentials_dir,
    ) as sb:
        yield sb


@pytest.fixture
def sb(big_sandbox):
    big_sandbox.admin.clear_faults()
    big_sandbox.admin.reset_counters()
    yield big_sandbox
    big_sandbox.admin.clear_faults()


def session_settings(sb) -> SfSettings:
    return SfSettings(instance_url=sb.salesforce_url, access_token=sb.access_token)


def jwt_settings(sb) -> SfSettings:
    env = sb.jwt_env()
    return SfSettings(
        instance_url=env["SFSYNC_SF_INSTANCE_URL"],
        username=env["SFSYNC_SF_USERNAME"],
        consumer_key=env["SFSYNC_SF_CONSUMER_KEY"],
        private_key_file=env["SFSYNC_SF_PRIVATE_KEY_FILE"],
        domain=env["SFSYNC_SF_DOMAIN"],
    )


def api_calls(counters) -> dict[str, int]:
    return {k: v for k, v in counters["calls"].items() if "oauth2" not in k}


def test_query_pages_over_2000_accounts(sb):
    client = connect(session_settings(sb))
    rows = client.query(SOQL)
    stored = {r["Id"]: r for r in sb.admin.records("Account")}
    assert len(rows) == ACCOUNTS == len(stored)
    assert {r["Id"] for r in rows} == set(stored)
    sample = rows[1234]
    assert sample["Name"] == stored[sample["Id"]]["Name"]
    assert "attributes" not in sample and "Owner" not in sample
    assert sample["Owner.Email"] and "@" in sample["Owner.Email"]
    counters = sb.admin.counters()
    assert counters["api_calls"] == math.ceil(ACCOUNTS / 2000) == client.api_calls
    assert client.api_usage is not None and client.api_usage.total > 0


def test_bulk_query_above_threshold_reads_only_pages(sb):
    client = connect(session_settings(sb))
    bulk = client.query_frame(SOQL, bulk_threshold=2000)
    counters = sb.admin.counters()
    calls = api_calls(counters)
    assert calls.get("POST jobs/query") == 1
    assert set(calls) <= {
        "GET query",
        "POST jobs/query",
        "GET jobs/query/{id}",
        "GET jobs/query/{id}/results",
    }
    # the COUNT() call, the job, its polls and the CSV pages: a handful, never per record
    assert counters["api_calls"] <= 8
    assert counters["api_calls"] == client.api_calls
    sb.admin.reset_counters()
    rest = client.query_frame(SOQL, bulk_threshold=10**9)
    # one COUNT() call chooses REST, then the pages of 2,000 records (none fetched twice)
    assert sb.admin.counters()["api_calls"] == 1 + math.ceil(ACCOUNTS / 2000)
    assert len(bulk) == ACCOUNTS
    assert list(bulk.columns) == list(rest.columns)
    pd.testing.assert_frame_equal(
        bulk.sort_values("Id").reset_index(drop=True),
        rest.sort_values("Id").reset_index(drop=True),
        check_dtype=False,
    )


def test_jwt_login_against_the_sandbox(sb):
    client = connect(jwt_settings(sb))
    assert client.auth_flow == "jwt"
    assert client.instance_url == sb.salesforce_url
    assert len(client.query("SELECT Id FROM User")) > 0


def test_client_credentials_and_password_logins(sb):
    host = sb.salesforce_url.removeprefix("https://")
    cc = connect(SfSettings(client_id=sb.client_id, client_secret=sb.client_secret, domain=host))
    assert cc.auth_flow == "client_credentials"
    assert cc.query("SELECT Id FROM Account LIMIT 1")
    # with client id + secret set, client credentials is preferred; the password grant is
    # the last resort, exercised here on its own
    settings = SfSettings(
        username=sb.integration_username,
        password=sb.integration_password,
        security_token=sb.security_token,
        client_id=sb.client_id,
        client_secret=sb.client_secret,
        domain=host,
    )
    flows = plan_auth_flows(settings)
    assert [f.name for f in flows] == ["client_credentials", "password"]
    token = flows[1].obtain(SalesforceSession())
    assert token.instance_url == sb.salesforce_url
    assert sb.simple_salesforce(session_id=token.access_token).query("SELECT Id FROM User")[
        "totalSize"
    ]
    settings.password = "wrong"
    with pytest.raises(AuthError, match="authentication failure"):
        plan_auth_flows(settings)[1].obtain(SalesforceSession())


def test_wrong_jwt_user_is_refused_clearly(sb):
    settings = jwt_settings(sb)
    settings.username = "nobody@example.invalid"
    with pytest.raises(AuthError, match="user hasn't approved this consumer"):
        connect(settings)


def test_faults_503_and_session_expiry_are_survived(sb):
    baseline = connect(session_settings(sb)).query_frame(SOQL, bulk_threshold=10**9)
    client = connect(jwt_settings(sb), policy=RetryPolicy(**FAST))
    sb.admin.reset_counters()
    sb.admin.set_faults(seed=11, http_503=0.2, session_expiry_after=2)
    rows = client.query(SOQL)
    bulk = client.query_frame(SOQL, bulk_threshold=2000)
    faults = sb.admin.counters()["faults"]
    assert faults.get("http_503", 0) >= 1
    assert faults.get("session_expiry") == 1
    assert sb.admin.counters()["calls"].get("POST oauth2/token") == 1  # exactly one re-auth
    assert len(rows) == ACCOUNTS
    assert {r["Id"] for r in rows} == set(baseline["Id"])
    pd.testing.assert_frame_equal(
        bulk.sort_values("Id").reset_index(drop=True),
        baseline.sort_values("Id").reset_index(drop=True),
        check_dtype=False,
    )


def test_dropped_connections_are_survived(sb):
    client = connect(session_settings(sb), policy=RetryPolicy(**FAST))
    sb.admin.set_faults(seed=5, drop_connection=0.3)
    ids = [r["Id"] for r in client.query("SELECT Id FROM Account")]
    sizes = [len(client.query("SELECT Id FROM User")) for _ in range(10)]
    assert sb.admin.counters()["faults"].get("drop_connection", 0) >= 1
    assert len(set(ids)) == ACCOUNTS
    assert len(set(sizes)) == 1 and sizes[0] > 0


def test_expired_session_without_a_login_flow_is_an_auth_error(sb):
    client = connect(
        SfSettings(instance_url=sb.salesforce_url, access_token=sb.new_session()),
        policy=RetryPolicy(**FAST),
    )
    sb.admin.set_faults(session_expiry_after=0)
    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        client.query("SELECT Id FROM Account")


def test_api_budget_and_request_limit(sb):
    client = connect(session_settings(sb), policy=RetryPolicy(**FAST))
    sb.admin.set_faults(daily_api_remaining=500)
    with pytest.raises(
        ApiLimitError, match=r"only 49\d of 100000 .* fewer than the reserve of 1000"
    ):
        client.check_api_budget(1000)
    assert client.check_api_budget(100) <= 500
    sb.admin.set_faults(daily_api_remaining=0)
    before = client.api_calls
    with pytest.raises(ApiLimitError, match="REQUEST_LIMIT_EXCEEDED"):
        client.query("SELECT Id FROM Account")
    assert client.api_calls == before + 1  # stopped at once, not retried


def test_soql_in_chunks_query_the_sandbox(sb):
    client = connect(session_settings(sb))
    ids = [r["Id"] for r in sb.admin.records("Account")]
    found = []
    for condition in soql_in("Id", ids):
        found += [r["Id"] for r in client.query(f"SELECT Id FROM Account WHERE {condition}")]
    assert sorted(found) == sorted(ids)
    assert len(soql_in("Id", ids)) > 1


def test_tls_is_verified(sb, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    client = connect(session_settings(sb), verify=certifi.where())
    with pytest.raises(ConfigError, match="TLS verification failed"):
        client.limits()


@pytest.mark.parametrize("which, flow", [("env", "session"), ("jwt_env", "jwt")])
def test_settings_from_the_environment(sb, which, flow):
    """The foundation's Settings (SecretStr, Path, env overrides) feed connect() as they are."""
    from sfsync.config import load_settings

    settings = load_settings(None, env=getattr(sb, which)())
    client = connect(settings.salesforce, timezone=settings.timezone)
    assert client.auth_flow == flow
    assert client.limits()["DailyApiRequests"]["Max"] > 0
