"""``salesforce.retry``, ``metabase.retry`` and ``slack.retry``: validated settings that reach
every retry policy (Salesforce requests, locked records, Metabase, Slack); unset keys keep the
production defaults."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import responses
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from sfsync.config import RetrySettings, load_settings
from sfsync.errors import ConfigError, SourceError
from sfsync.notify.retry import retry_handlers
from sfsync.salesforce.client import RetryPolicy, connect
from sfsync.salesforce.writer import LockRetry
from sfsync.sources.metabase import MetabaseClient

INSTANCE = "https://acme.my.salesforce.com"
TINY = RetrySettings(attempts=3, wait_initial_seconds=0.01, wait_max_seconds=0.02)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sfsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_retry_blocks_are_read_from_sfsync_yaml(tmp_path):
    settings = load_settings(
        write(
            tmp_path,
            "salesforce:\n  retry: {attempts: 2, wait_initial_seconds: 0.01}\n"
            "metabase:\n  retry: {wait_max_seconds: 0.5}\n"
            "slack:\n  retry: {attempts: 1}\n",
        ),
        env={},
    )
    assert settings.salesforce.retry == RetrySettings(attempts=2, wait_initial_seconds=0.01)
    assert settings.metabase.retry.wait_max_seconds == 0.5
    assert settings.slack.retry.attempts == 1


def test_unset_retry_keeps_every_default(tmp_path):
    settings = load_settings(write(tmp_path, "timezone: Asia/Tokyo\n"), env={})
    assert settings.salesforce.retry == RetrySettings()
    policy = RetryPolicy.from_settings(settings.salesforce.retry)
    assert (policy.max_attempts, policy.initial_wait, policy.max_wait, policy.jitter) == (
        6,
        0.5,
        30.0,
        0.5,
    )
    assert LockRetry.from_settings(settings.salesforce.retry) == LockRetry()
    mb = MetabaseClient.from_settings(SimpleNamespace(url="https://mb.test", api_key="k"))
    assert (mb.max_attempts, mb.wait_initial, mb.wait_max) == (4, 0.5, 10.0)


@pytest.mark.parametrize(
    "text, key",
    [
        ("salesforce:\n  retry: {attempts: 0}\n", "salesforce.retry.attempts"),
        ("metabase:\n  retry: {wait_initial_seconds: -1}\n", "metabase.retry.wait_initial_seconds"),
        ("slack:\n  retry: {tries: 3}\n", "slack.retry.tries"),
    ],
)
def test_bad_retry_settings_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env={})
    assert key in str(info.value)


@responses.activate
def test_salesforce_client_takes_its_policy_from_the_settings():
    settings = SimpleNamespace(instance_url=INSTANCE, access_token="00Dx!tok", retry=TINY)
    client = connect(settings)
    assert (client.policy.max_attempts, client.policy.initial_wait) == (3, 0.01)
    assert client.policy.max_wait == 0.02 and client.policy.jitter == 0.01
    assert LockRetry.from_settings(client.retry_settings) == LockRetry(
        attempts=3, initial_wait=0.01, max_wait=0.02
    )


@responses.activate
def test_metabase_waits_follow_the_settings():
    responses.get("https://mb.test/api/card/1", status=503)
    waits: list[float] = []
    mb = MetabaseClient.from_settings(
        SimpleNamespace(url="https://mb.test", api_key="k", retry=TINY), sleep=waits.append
    )
    with pytest.raises(SourceError, match="after 3 attempts"):
        mb.request("GET", "/api/card/1")
    assert len(responses.calls) == 3 and len(waits) == 2
    assert all(0 < w <= 0.02 for w in waits)


def _slack_429(handler, retry_after: str) -> float:
    waits: list[float] = []
    handler.sleep = waits.append
    handler.prepare_for_next_attempt(
        state=RetryState(),
        request=HttpRequest(method="POST", url="https://slack.test/api/x", headers={}),
        response=HttpResponse(status_code=429, headers={"Retry-After": [retry_after]}),
    )
    return waits[0]


def test_slack_defaults_honour_retry_after():
    connection, rate_limit, server = retry_handlers(None)
    assert isinstance(rate_limit, RateLimitErrorRetryHandler)  # posting_client keeps it
    assert (connection.max_retry_count, rate_limit.max_retry_count) == (1, 3)
    assert server.max_retry_count == 1
    assert 7 <= _slack_429(rate_limit, "7") < 8
    assert 0.5 <= connection.interval_calculator.calculate_sleep_duration(0) < 1.5


def test_slack_settings_bound_attempts_and_waits():
    connection, rate_limit, server = retry_handlers(TINY)
    assert (connection.max_retry_count, rate_limit.max_retry_count) == (1, 2)
    assert _slack_429(rate_limit, "30") <= 0.02  # wait_max_seconds caps a Retry-After
    assert connection.interval_calculator.calculate_sleep_duration(3) <= 0.02
    single = retry_handlers(RetrySettings(attempts=1))
    assert [h.max_retry_count for h in single] == [0, 0, 0]
