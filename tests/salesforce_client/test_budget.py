"""API budget: /limits, the reserve check, per-record errors left to the writer."""

from __future__ import annotations

import pytest
import responses

from sfsync.errors import ApiLimitError
from sfsync.salesforce.retry import is_retryable_error_code

from .conftest import API


def _limits(remaining, maximum=15000):
    return {"DailyApiRequests": {"Max": maximum, "Remaining": remaining}}


@responses.activate
def test_budget_above_reserve_returns_remaining(session_client):
    responses.add(responses.GET, f"{API}/limits/", json=_limits(5000))
    assert session_client.check_api_budget(1000) == 5000


@responses.activate
def test_budget_below_reserve_refuses_to_start(session_client):
    responses.add(responses.GET, f"{API}/limits/", json=_limits(999))
    with pytest.raises(ApiLimitError) as info:
        session_client.check_api_budget()  # the settings' api_reserve: 1000
    text = str(info.value)
    assert "999" in text and "15000" in text and "1000" in text
    assert "salesforce.api_reserve" in text


@responses.activate
def test_per_record_errors_inside_a_200_are_returned_not_retried(session_client, sleeps):
    body = [
        {"id": "001A", "success": True, "errors": []},
        {
            "id": None,
            "success": False,
            "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "lock", "fields": []}],
        },
        {
            "id": None,
            "success": False,
            "errors": [{"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "message": "bad"}],
        },
    ]
    responses.add(responses.PATCH, f"{API}/composite/sobjects", json=body)
    response = session_client.request(
        "PATCH", "composite/sobjects", json={"allOrNone": False, "records": []}
    )
    assert response.json() == body
    assert len(responses.calls) == 1 and sleeps == []
    codes = [r["errors"][0]["statusCode"] for r in body[1:]]
    assert [is_retryable_error_code(c) for c in codes] == [True, False]
