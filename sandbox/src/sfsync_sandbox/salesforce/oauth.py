"""Sessions and the OAuth 2.0 token endpoint (JWT bearer, client credentials, password).

The sandbox makes its own throwaway connected app: an RSA key pair whose certificate
verifies JWT assertions, a consumer key/secret, and an integration user with a password and
security token. They live in the data dir so that a restarted sandbox accepts the same
credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

APP_FILE = "connected_app.json"
PRIVATE_KEY_FILE = "jwt-private-key.pem"
CERT_FILE = "jwt-cert.pem"
SESSIONS_FILE = "sessions.json"
INTEGRATION_USERNAME = "sfsync.integration@sandbox.sfsync.invalid"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class ConnectedApp:
    """The sandbox's connected app and integration-user credentials (all throwaway)."""

    consumer_key: str
    consumer_secret: str
    private_key_file: str
    certificate_file: str
    integration_username: str
    integration_password: str
    security_token: str


def ensure_connected_app(directory: Path) -> ConnectedApp:
    """Load the connected app from ``directory``, creating keys and secrets the first time."""
    directory.mkdir(parents=True, exist_ok=True)
    app_file = directory / APP_FILE
    if app_file.exists():
        return ConnectedApp(**json.loads(app_file.read_text(encoding="utf-8")))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfsync sandbox connected app")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_path = directory / PRIVATE_KEY_FILE
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path = directory / CERT_FILE
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    app = ConnectedApp(
        consumer_key="3MVG9sandbox" + secrets.token_hex(20),
        consumer_secret=secrets.token_hex(32).upper(),
        private_key_file=str(key_path),
        certificate_file=str(cert_path),
        integration_username=INTEGRATION_USERNAME,
        integration_password="Sbx-" + secrets.token_urlsafe(12),
        security_token=secrets.token_urlsafe(18)[:24],
    )
    app_file.write_text(json.dumps(asdict(app), indent=2), encoding="utf-8")
    app_file.chmod(0o600)
    return app


class Sessions:
    """Access tokens and the user each belongs to; persisted so restarts keep them valid."""

    def __init__(self, org_id: str, directory: Path | None = None) -> None:
        self.org_id = org_id
        self.directory = directory
        self._lock = threading.Lock()
        self._tokens: dict[str, dict[str, Any]] = {}
        if directory and (directory / SESSIONS_FILE).exists():
            self._tokens = json.loads((directory / SESSIONS_FILE).read_text(encoding="utf-8"))

    def create(self, user_id: str) -> str:
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(72)}"
        with self._lock:
            self._tokens[token] = {"user_id": user_id, "issued_at": time.time(), "expired": False}
            self._save()
        return token

    def user_for(self, token: str) -> str | None:
        entry = self._tokens.get(token)
        if entry is None or entry["expired"]:
            return None
        return entry["user_id"]

    def expire_all(self) -> None:
        """Session expiry fault: every current session becomes invalid."""
        with self._lock:
            for entry in self._tokens.values():
                entry["expired"] = "fault"
            self._save()

    def revive_expired_by_fault(self) -> None:
        with self._lock:
            for entry in self._tokens.values():
                if entry["expired"] == "fault":
                    entry["expired"] = False
            self._save()

    def _save(self) -> None:
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / SESSIONS_FILE
            path.write_text(json.dumps(self._tokens), encoding="utf-8")
            path.chmod(0o600)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def token_response(
    *,
    form: dict[str, str],
    basic_auth: tuple[str, str] | None,
    app: ConnectedApp,
    sessions: Sessions,
    find_user: Any,
    instance_url: str,
) -> dict[str, Any]:
    """Handle ``POST /services/oauth2/token``; raises :class:`OAuthError`.

    ``find_user(username)`` returns the active User record for a username, or None.
    """
    grant = form.get("grant_type", "")
    if grant == JWT_GRANT:
        user = _jwt_user(form.get("assertion", ""), app, find_user, instance_url)
    elif grant == "client_credentials":
        client_id, client_secret = basic_auth or (
            form.get("client_id", ""),
            form.get("client_secret", ""),
        )
        _check_client(app, client_id, client_secret)
        user = find_user(app.integration_username)
    elif grant == "password":
        _check_client(app, form.get("client_id", ""), form.get("client_secret", ""))
        user = find_user(form.get("username", ""))
        expected = app.integration_password + app.security_token
        if (
            user is None
            or form.get("username") != app.integration_username
            or not hmac.compare_digest(form.get("password", ""), expected)
        ):
            raise OAuthError("invalid_grant", "authentication failure")
    else:
        raise OAuthError("unsupported_grant_type", "grant type not supported")
    if user is None:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    token = sessions.create(user["Id"])
    issued_at = str(int(time.time() * 1000))
    identity = f"{instance_url}/id/{sessions.org_id}/{user['Id']}"
    signature = base64.b64encode(
        hmac.new(
            app.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
    ).decode()
    body = {
        "access_token": token,
        "instance_url": instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
    }
    if grant == "client_credentials":
        body["scope"] = "api"
    return body


def _check_client(app: ConnectedApp, client_id: str, client_secret: str) -> None:
    if not hmac.compare_digest(client_id, app.consumer_key):
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if not hmac.compare_digest(client_secret, app.consumer_secret):
        raise OAuthError("invalid_client", "invalid client credentials")


def _jwt_user(assertion: str, app: ConnectedApp, find_user: Any, instance_url: str) -> dict:
    if not assertion:
        raise OAuthError("invalid_request", "assertion is required")
    public_key = x509.load_pem_x509_certificate(
        Path(app.certificate_file).read_bytes()
    ).public_key()
    audiences = [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        instance_url,
    ]
    try:
        claims = jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            audience=audiences,
            options={"require": ["iss", "sub", "aud", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise OAuthError("invalid_grant", "expired access/refresh token") from None
    except jwt.InvalidAudienceError:
        raise OAuthError("invalid_grant", "audience is invalid") from None
    except jwt.InvalidSignatureError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    except jwt.PyJWTError as exc:
        raise OAuthError("invalid_grant", f"invalid assertion: {type(exc).__name__}") from None
    if claims["iss"] != app.consumer_key:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    user = find_user(claims["sub"])
    if user is None:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    return user
