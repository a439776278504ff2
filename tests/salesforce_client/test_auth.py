"""Authentication flows: selection, JWT assertion contents, token requests, errors."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from pydantic import SecretStr

from sfsync.errors import AuthError, ConfigError
from sfsync.salesforce.auth import jwt_audience, login_url, plan_auth_flows
from sfsync.salesforce.client import connect

from .conftest import INSTANCE, LOGIN, SfSettings


def _form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


@pytest.mark.parametrize(
    "domain, expected",
    [
        (None, "https://login.salesforce.com"),
        ("login", "https://login.salesforce.com"),
        ("test", "https://test.salesforce.com"),
        ("acme.my", "https://acme.my.salesforce.com"),
        ("acme.my.salesforce.com", "https://acme.my.salesforce.com"),
        ("https://127.0.0.1:8443/", "https://127.0.0.1:8443"),
        ("127.0.0.1:8443", "https://127.0.0.1:8443"),
    ],
)
def test_login_url(domain, expected):
    assert login_url(domain) == expected


def test_jwt_audience():
    assert jwt_audience("https://login.salesforce.com") == "https://login.salesforce.com"
    assert jwt_audience("https://test.salesforce.com") == "https://test.salesforce.com"
    assert jwt_audience("https://acme.my.salesforce.com") == "https://login.salesforce.com"
    assert (
        jwt_audience("https://acme--uat.sandbox.my.salesforce.com") == "https://test.salesforce.com"
    )
    assert jwt_audience("https://127.0.0.1:8443") == "https://127.0.0.1:8443"


@responses.activate
def test_jwt_bearer_assertion_contents(jwt_settings, rsa_key_pem, policy):
    responses.add(
        responses.POST,
        f"{LOGIN}/services/oauth2/token",
        json={"access_token": "00Dtoken", "instance_url": INSTANCE + "/"},
    )
    before = int(time.time())
    client = connect(jwt_settings, policy=policy)
    form = _form(responses.calls[0])
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        form["assertion"],
        rsa_key_pem[1],
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
    )
    assert claims["iss"] == "3MVG-consumer"
    assert claims["sub"] == "integration@acme.example"
    assert claims["aud"] == "https://login.salesforce.com"
    assert before < claims["exp"] <= int(time.time()) + 180
    assert jwt.get_unverified_header(form["assertion"])["alg"] == "RS256"
    assert client.instance_url == INSTANCE
    assert client.sf.session_id == "00Dtoken"
    assert client.sf.base_url == f"{INSTANCE}/services/data/v62.0/"
    assert client.auth_flow == "jwt"
    assert client.api_calls == 0  # the token request is not an API call


@responses.activate
def test_jwt_against_a_full_url_domain(rsa_key_pem, policy):
    sandbox = "https://127.0.0.1:8443"
    settings = SfSettings(
        consumer_key="ck", private_key_file=str(rsa_key_pem[0]), username="u@x", domain=sandbox
    )
    responses.add(
        responses.POST,
        f"{sandbox}/services/oauth2/token",
        json={"access_token": "t", "instance_url": sandbox},
    )
    client = connect(settings, policy=policy)
    claims = jwt.decode(
        _form(responses.calls[0])["assertion"],
        rsa_key_pem[1],
        algorithms=["RS256"],
        audience=sandbox,
    )
    assert claims["aud"] == sandbox
    assert client.sf.base_url == f"{sandbox}/services/data/v62.0/"


@responses.activate
def test_jwt_refusal_is_an_auth_error_without_secrets(jwt_settings, policy):
    responses.add(
        responses.POST,
        f"{LOGIN}/services/oauth2/token",
        status=400,
        json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
    )
    with pytest.raises(AuthError) as info:
        connect(jwt_settings, policy=policy)
    text = str(info.value)
    assert "invalid_grant" in text and "user hasn't approved" in text
    assert "assertion" not in text and "PRIVATE KEY" not in text
    assert len(responses.calls) == 1  # a refusal is not retried


def test_unreadable_private_key_names_the_file(tmp_path, policy):
    settings = SfSettings(
        consumer_key="ck", private_key_file=str(tmp_path / "nope.key"), username="u"
    )
    with pytest.raises(ConfigError) as info:
        connect(settings, policy=policy)
    assert "nope.key" in str(info.value)


@responses.activate
def test_client_credentials_against_my_domain(policy):
    settings = SfSettings(
        client_id="cid", client_secret=SecretStr("csecret"), domain="acme.my.salesforce.com"
    )
    responses.add(
        responses.POST,
        f"{INSTANCE}/services/oauth2/token",
        json={"access_token": "cc-token", "instance_url": INSTANCE},
    )
    client = connect(settings, policy=policy)
    form = _form(responses.calls[0])
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "csecret",
    }
    assert client.auth_flow == "client_credentials"
    assert client.sf.session_id == "cc-token"


@responses.activate
def test_client_credentials_refusal_hides_the_secret(policy):
    settings = SfSettings(client_id="cid", client_secret="csecret", instance_url=INSTANCE)
    responses.add(
        responses.POST,
        f"{INSTANCE}/services/oauth2/token",
        status=400,
        json={"error": "invalid_client", "error_description": "invalid client credentials"},
    )
    with pytest.raises(AuthError) as info:
        connect(settings, policy=policy)
    assert "csecret" not in str(info.value)
    assert "invalid_client" in str(info.value)


@responses.activate
def test_password_grant_when_a_client_id_is_set(policy):
    settings = SfSettings(
        username="u@x", password="pw", security_token="TOK", client_id="cid", domain="test"
    )
    responses.add(
        responses.POST,
        "https://test.salesforce.com/services/oauth2/token",
        json={"access_token": "pw-token", "instance_url": INSTANCE},
    )
    client = connect(settings, policy=policy)
    form = _form(responses.calls[0])
    assert form["grant_type"] == "password"
    assert form["password"] == "pwTOK"
    assert client.auth_flow == "password"


@responses.activate
def test_password_soap_login_without_client_id(policy):
    settings = SfSettings(username="u@x", password="pw", security_token="TOK")
    soap = (
        '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="x"><soapenv:Body><loginResponse>'
        "<result><serverUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D</serverUrl>"
        "<sessionId>soap-session</sessionId></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    responses.add(responses.POST, "https://login.salesforce.com/services/Soap/u/62.0", body=soap)
    client = connect(settings, policy=policy)
    assert client.sf.session_id == "soap-session"
    assert client.instance_url == INSTANCE
    body = responses.calls[0].request.body
    body = body.decode() if isinstance(body, bytes) else body
    assert "u@x" in body and "pwTOK" in body  # password + security token, SOAP envelope


@pytest.mark.parametrize(
    "settings, first",
    [
        (
            SfSettings(
                instance_url=INSTANCE,
                access_token="t",
                consumer_key="c",
                private_key_file="k",
                username="u",
            ),
            "session",
        ),
        (SfSettings(consumer_key="c", private_key_file="k", username="u", password="p"), "jwt"),
        (
            SfSettings(
                client_id="c", client_secret="s", domain="acme.my", username="u", password="p"
            ),
            "client_credentials",
        ),
        (SfSettings(username="u", password="p"), "password"),
    ],
)
def test_flow_preference(settings, first):
    assert plan_auth_flows(settings)[0].name == first


def test_nothing_configured_names_the_env_variables():
    with pytest.raises(ConfigError) as info:
        plan_auth_flows(SfSettings())
    text = str(info.value)
    for name in (
        "SFSYNC_SF_INSTANCE_URL",
        "SFSYNC_SF_ACCESS_TOKEN",
        "SFSYNC_SF_CONSUMER_KEY",
        "SFSYNC_SF_PRIVATE_KEY_FILE",
        "SFSYNC_SF_USERNAME",
        "SFSYNC_SF_PASSWORD",
    ):
        assert name in text


def test_half_configured_flow_says_what_is_missing():
    with pytest.raises(ConfigError) as info:
        plan_auth_flows(SfSettings(consumer_key="c", access_token=SecretStr("secret-tok")))
    text = str(info.value)
    assert "salesforce.private_key_file" in text and "salesforce.instance_url" in text
    assert "secret-tok" not in text


def test_secret_str_and_dict_settings_are_accepted():
    flows = plan_auth_flows({"instance_url": INSTANCE, "access_token": SecretStr("t")})
    assert flows[0].obtain(None).access_token == "t"
    assert "t'" not in repr(flows[0].obtain(None))
