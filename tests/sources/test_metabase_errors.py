"""Narrow error handling of the Metabase client (``responses``); the real HTTP path is tested
end to end against the sandbox's Metabase in test_metabase.py."""

import json
from urllib.parse import parse_qs

import pytest
import requests
import responses

from sfsync.errors import AuthError, ConfigError, SourceError
from sfsync.sources.metabase import MetabaseClient, query_response_frame, raise_if_truncated

URL = "https://mb.example.test"
CARD = {
    "id": 1,
    "dataset_query": {
        "type": "native",
        "native": {
            "query": "select … where month between {{from_month}} and {{to_month}}",
            "template-tags": {
                "from_month": {"name": "from_month", "type": "text"},
                "to_month": {"name": "to_month", "type": "text"},
            },
        },
    },
}


def client(**kw):
    kw.setdefault("api_key", "mb_KEY")
    return MetabaseClient(URL, sleep=lambda _: None, **kw)


@responses.activate
def test_card_export_sends_form_encoded_parameters():
    responses.get(f"{URL}/api/card/1", json=CARD)
    responses.post(f"{URL}/api/card/1/query/json", json=[{"tenant_id": "t", "month": "2025-02"}])
    frame = client().card_rows(1, {"from_month": "2024-02", "to_month": "2025-02"})
    assert frame.to_dict("records") == [{"tenant_id": "t", "month": "2025-02"}]
    sent = responses.calls[1].request
    assert sent.headers["x-api-key"] == "mb_KEY"
    form = parse_qs(sent.body)
    assert form["format_rows"] == ["false"]
    assert json.loads(form["parameters"][0]) == [
        {
            "type": "category",
            "target": ["variable", ["template-tag", "from_month"]],
            "value": "2024-02",
        },
        {
            "type": "category",
            "target": ["variable", ["template-tag", "to_month"]],
            "value": "2025-02",
        },
    ]


@responses.activate
def test_missing_card_is_named():
    responses.get(f"{URL}/api/card/99", status=404, body="Not found.")
    with pytest.raises(SourceError, match="Metabase card 99 does not exist"):
        client().card_rows(99)


@responses.activate
def test_a_parameter_the_card_lacks_is_an_error_not_an_unfiltered_run():
    responses.get(f"{URL}/api/card/1", json=CARD)
    with pytest.raises(SourceError, match="has no parameter\\(s\\) from_mnth") as err:
        client().card_rows(1, {"from_mnth": "2024-02"})
    assert "from_month, to_month" in str(err.value)
    assert len(responses.calls) == 1


@responses.activate
def test_session_login_and_one_relogin_on_401():
    responses.post(f"{URL}/api/session", json={"id": "sess-1"})
    responses.get(f"{URL}/api/card/1", json=CARD)
    responses.post(f"{URL}/api/card/1/query/json", status=401, body="Unauthenticated")
    responses.post(f"{URL}/api/session", json={"id": "sess-2"})
    responses.post(f"{URL}/api/card/1/query/json", json=[{"a": 1}])
    mb = MetabaseClient(URL, username="ops@example.com", password="pw", sleep=lambda _: None)
    assert len(mb.card_rows(1)) == 1
    sessions = [c.request.headers.get("X-Metabase-Session") for c in responses.calls]
    assert sessions == [None, "sess-1", "sess-1", None, "sess-2"]
    assert mb.api_calls == 5


@responses.activate
def test_refused_login_is_an_auth_error_without_the_password():
    responses.post(f"{URL}/api/session", status=401, json={"errors": {"password": "bad"}})
    mb = MetabaseClient(URL, username="ops", password="hunter2", sleep=lambda _: None)
    with pytest.raises(AuthError) as err:
        mb.card(1)
    assert "hunter2" not in str(err.value)


@responses.activate
def test_api_key_refused_is_an_auth_error_without_the_key():
    responses.get(f"{URL}/api/card/1", status=401)
    with pytest.raises(AuthError) as err:
        client(api_key="mb_SECRETKEY").card(1)
    assert "SECRETKEY" not in str(err.value)
    assert len(responses.calls) == 1  # an API key is not re-tried


@responses.activate
def test_5xx_and_connection_errors_are_retried_then_succeed():
    responses.get(f"{URL}/api/card/1", status=503)
    responses.get(f"{URL}/api/card/1", body=requests.ConnectionError("reset"))
    responses.get(f"{URL}/api/card/1", json=CARD)
    mb = client()
    assert mb.card(1)["id"] == 1
    assert mb.api_calls == 3


@responses.activate
def test_persistent_5xx_gives_up_after_max_attempts():
    responses.get(f"{URL}/api/card/1", status=502)
    waits = []
    mb = MetabaseClient(URL, api_key="k", max_attempts=3, sleep=waits.append)
    with pytest.raises(SourceError, match="502 .* after 3 attempts"):
        mb.card(1)
    assert len(responses.calls) == 3 and len(waits) == 2


@responses.activate
def test_4xx_is_not_retried():
    responses.get(f"{URL}/api/card/1", json=CARD)
    responses.post(f"{URL}/api/card/1/query/json", status=400, body="bad parameter")
    with pytest.raises(SourceError, match="400 .*bad parameter"):
        client().card_rows(1)
    assert len(responses.calls) == 2


@responses.activate
def test_failed_query_payload_is_an_error():
    responses.get(f"{URL}/api/card/1", json=CARD)
    responses.post(
        f"{URL}/api/card/1/query/json",
        status=202,
        json={"status": "failed", "error": 'relation "usage" does not exist'},
    )
    with pytest.raises(SourceError, match='relation "usage" does not exist'):
        client().card_rows(1)


@responses.activate
def test_native_sql_through_dataset_export():
    responses.post(f"{URL}/api/dataset/csv", body="tenant_id,month\nt-1,2025-02\n")
    frame = client().native_rows(2, "select … {{as_of}}", {"as_of": "2025-03-15"}, fmt="csv")
    assert frame.to_dict("records") == [{"tenant_id": "t-1", "month": "2025-02"}]
    query = json.loads(parse_qs(responses.calls[0].request.body)["query"][0])
    assert query["database"] == 2 and query["type"] == "native"
    assert query["native"]["template-tags"]["as_of"]["type"] == "text"
    assert query["parameters"][0]["value"] == "2025-03-15"


def test_truncation_is_detected():
    with pytest.raises(SourceError, match="truncated"):
        raise_if_truncated(1_048_575, 1_048_575, "card 1")
    capped = {"row_count": 2000, "data": {"cols": [{"name": "a"}], "rows": [[1]] * 2000}}
    with pytest.raises(SourceError, match="truncated the result of card 1 at 2,000 rows"):
        query_response_frame(capped, "card 1")
    small = {"row_count": 2, "data": {"cols": [{"name": "a"}], "rows": [[1], [2]]}}
    assert query_response_frame(small, "card 1")["a"].tolist() == [1, 2]


def test_missing_url_or_credentials_are_config_errors():
    with pytest.raises(ConfigError, match="metabase.url"):
        MetabaseClient("", api_key="k")
    with pytest.raises(ConfigError, match="no Metabase credentials"):
        MetabaseClient(URL)
