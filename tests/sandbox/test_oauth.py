"""OAuth token endpoint: JWT bearer, client credentials, password; sessions belong to users."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from simple_salesforce import Salesforce

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _token(sb, data, auth=None):
    return sb.requests_session().post(
        f"{sb.salesforce_url}/services/oauth2/token", data=data, auth=auth
    )


def _assertion(sb, **overrides):
    claims = {"iss": sb.consumer_key, "sub": sb.integration_username, "aud": "https://login.salesforce.com",
              "exp": int(time.time()) + 300}  # fmt: skip
    claims.update(overrides)
    key = Path(sb.jwt_private_key_file).read_text()
    return jwt.encode(claims, key, algorithm="RS256")


def test_jwt_bearer_flow_gives_a_working_session(sandbox):
    response = _token(sandbox, {"grant_type": JWT_GRANT, "assertion": _assertion(sandbox)})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert body["instance_url"] == sandbox.salesforce_url and body["token_type"] == "Bearer"
    assert body["id"].endswith(f"/{sandbox.integration_user_id}")
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"],
                    session=sandbox.requests_session())  # fmt: skip
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] >= 150


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"iss": "someone-else"}, "invalid_client_id"),
        ({"sub": "nobody@example.com"}, "invalid_grant"),
        ({"exp": int(time.time()) - 10}, "invalid_grant"),
        ({"aud": "https://evil.example.com"}, "invalid_grant"),
    ],
)
def test_jwt_bearer_rejects_bad_assertions(sandbox, overrides, error):
    response = _token(
        sandbox, {"grant_type": JWT_GRANT, "assertion": _assertion(sandbox, **overrides)}
    )
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_jwt_signed_by_another_key_is_rejected(sandbox, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    claims = {"iss": sandbox.consumer_key, "sub": sandbox.integration_username,
              "aud": "https://login.salesforce.com", "exp": int(time.time()) + 300}  # fmt: skip
    response = _token(
        sandbox, {"grant_type": JWT_GRANT, "assertion": jwt.encode(claims, pem, algorithm="RS256")}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_client_credentials_flow(sandbox):
    response = _token(sandbox, {"grant_type": "client_credentials", "client_id": sandbox.client_id,
                                "client_secret": sandbox.client_secret})  # fmt: skip
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert (
        sandbox.simple_salesforce(session_id=token).query("SELECT Id FROM User LIMIT 1")[
            "totalSize"
        ]
        == 1
    )
    basic = _token(
        sandbox,
        {"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert basic.status_code == 200
    wrong = _token(sandbox, {"grant_type": "client_credentials", "client_id": sandbox.client_id,
                             "client_secret": "nope"})  # fmt: skip
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"
    assert sandbox.client_secret not in wrong.text


def test_password_flow(sandbox):
    data = {"grant_type": "password", "client_id": sandbox.client_id, "client_secret": sandbox.client_secret,
            "username": sandbox.integration_username,
            "password": sandbox.integration_password + sandbox.security_token}  # fmt: skip
    assert _token(sandbox, data).status_code == 200
    data["password"] = sandbox.integration_password
    assert _token(sandbox, data).json()["error"] == "invalid_grant"


def test_writes_are_attributed_to_the_session_user(sandbox_factory):
    sb = sandbox_factory(accounts=3)
    csm = next(u for u in sb.admin.records("User") if u["Id"] != sb.integration_user_id)
    sf = sb.simple_salesforce(session_id=sb.new_session(csm["Id"]))
    task_id = sf.Task.create({"Subject": "Mine"})["id"]
    rec = sf.Task.get(task_id)
    assert rec["OwnerId"] == rec["CreatedById"] == rec["LastModifiedById"] == csm["Id"]


def test_userinfo_names_the_session_user(sandbox_factory):
    """sfsync asks userinfo who it writes as, to tell its own Task edits from a CSM's."""
    from sfsync.salesforce.client import connect
    from sfsync.salesforce.reader import integration_user_id

    sb = sandbox_factory(accounts=3)
    session = sb.requests_session()
    url = f"{sb.salesforce_url}/services/oauth2/userinfo"
    info = session.get(url, headers={"Authorization": f"Bearer {sb.access_token}"}).json()
    assert info["user_id"] == sb.integration_user_id
    assert session.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    client = connect({"instance_url": sb.salesforce_url, "access_token": sb.access_token})
    assert integration_user_id(client) == sb.integration_user_id
