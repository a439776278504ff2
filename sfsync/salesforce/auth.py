"""Salesforce authentication: pick a flow from the settings and obtain an access token.

Flows, in order of preference (the first one fully configured is used to start; the first
one able to *renew* a session is used when Salesforce answers INVALID_SESSION_ID):

1. ``session`` — ``instance_url`` + ``access_token`` (cannot renew itself),
2. ``jwt`` — OAuth 2.0 JWT bearer: ``consumer_key``, ``private_key_file``, ``username``,
   ``domain`` (``login`` | ``test`` | a My Domain host | a full URL),
3. ``client_credentials`` — ``client_id`` + ``client_secret`` against the My Domain (or
   instance) token endpoint,
4. ``password`` — ``username`` + ``password`` (+ ``security_token``): the OAuth password grant
   when a ``client_id`` is configured, else simple-salesforce's SOAP login.

Token requests are implemented here with requests + PyJWT because simple-salesforce builds
``https://{domain}.salesforce.com`` itself, which cannot reach a My Domain URL given in full or
the local sandbox. Secrets never appear in messages or logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
import structlog
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.login import SalesforceLogin

from sfsync.errors import AuthError, ConfigError, ConfigProblem
from sfsync.log import register_secrets

from .retry import error_messages, response_content

log = structlog.get_logger(__name__)

JWT_LIFETIME_SECONDS = 170  # Salesforce accepts at most 3 minutes


@dataclass(frozen=True)
class Token:
    """An access token and the instance it is valid for."""

    access_token: str
    instance_url: str

    def __repr__(self) -> str:  # never print the token
        return f"Token(instance_url={self.instance_url!r}, access_token=***)"


@dataclass(frozen=True)
class AuthFlow:
    """One way to obtain a token. ``obtain(session)`` performs the login."""

    name: str
    obtain: Callable[[requests.Session], Token]
    can_renew: bool = True


def setting(settings: Any, name: str) -> Any:
    """Read one field of the salesforce settings block: SecretStr unwrapped, blanks → None."""
    value = getattr(settings, name, None)
    if value is None and isinstance(settings, dict):
        value = settings.get(name)
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def login_url(domain: str | None) -> str:
    """The base URL of the authorization server for a ``domain`` setting.

    ``login``/``test`` → ``https://login|test.salesforce.com``; a full URL is used as given;
    a host with a dot-suffix of salesforce/force.com or a port is used as ``https://host``;
    anything else follows simple-salesforce (``acme.my`` → ``https://acme.my.salesforce.com``).
    """
    d = (domain or "login").strip().rstrip("/")
    if d.startswith(("https://", "http://")):
        return d
    if d.endswith((".salesforce.com", ".force.com", ".salesforce.mil")) or ":" in d:
        return f"https://{d}"
    if d.replace(".", "").replace("-", "").isalnum() and d.count(".") >= 2:
        return f"https://{d}"  # some other full host name
    return f"https://{d}.salesforce.com"


def jwt_audience(login: str) -> str:
    """The ``aud`` claim: login/test for Salesforce-hosted My Domains, else the login URL.

    Salesforce documents ``https://login.salesforce.com`` (``https://test.salesforce.com`` for
    sandboxes) as the audience even when the token is requested from a My Domain; a
    non-Salesforce authorization server (such as the local sandbox) expects its own URL.
    """
    host = urlsplit(login).hostname or ""
    if host.endswith(".sandbox.my.salesforce.com") or host == "test.salesforce.com":
        return "https://test.salesforce.com"
    if host.endswith(".salesforce.com"):
        return "https://login.salesforce.com"
    return login


def build_jwt_assertion(
    consumer_key: str, username: str, audience: str, private_key: str, *, now: float | None = None
) -> str:
    """The signed RS256 assertion of the JWT bearer flow (iss, sub, aud, exp ≤ 3 min)."""
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": consumer_key,
        "sub": username,
        "aud": audience,
        "exp": issued + JWT_LIFETIME_SECONDS,
    }
    return jwt.encode(claims, private_key, algorithm="RS256")


def request_token(
    session: requests.Session, token_url: str, data: dict[str, str], flow: str
) -> Token:
    """POST an OAuth token request; a refusal becomes an AuthError without any secret."""
    response = session.post(
        token_url, data=data, headers={"Accept": "application/json"}, allow_redirects=False
    )
    if response.status_code != 200:
        detail = (
            error_messages(response_content(response), limit=300) or f"HTTP {response.status_code}"
        )
        raise AuthError(
            f"Salesforce {flow} login at {token_url} was refused: {detail}",
            hint=_FLOW_HINTS.get(flow),
        )
    try:
        body = response.json()
        token = Token(
            access_token=body["access_token"], instance_url=body["instance_url"].rstrip("/")
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise AuthError(
            f"Salesforce {flow} login at {token_url} returned an unexpected answer "
            f"(HTTP {response.status_code}, no access_token/instance_url)"
        ) from None
    log.info("salesforce_authenticated", flow=flow, instance_url=token.instance_url)
    return token


_FLOW_HINTS = {
    "jwt": "check that the connected app's consumer key, the certificate matching the private "
    "key, the username, and SFSYNC_SF_DOMAIN (login, test or your My Domain) are right, and that "
    "the user is pre-authorized for the app",
    "client_credentials": "check the connected app's client id/secret, that the client "
    "credentials flow is enabled with a run-as user, and that the My Domain URL is used",
    "password": "check username, password and security token (or the connected app's client "
    "id/secret)",
}


def _read_private_key(path: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    "salesforce settings",
                    "salesforce.private_key_file",
                    f"cannot read the private key file {path}: {exc.strerror or exc}",
                )
            ],
            hint="set SFSYNC_SF_PRIVATE_KEY_FILE to the PEM file of the connected app's key",
        ) from None


def _jwt_flow(settings: Any) -> AuthFlow:
    consumer_key = setting(settings, "consumer_key")
    key_file = setting(settings, "private_key_file")
    username = setting(settings, "username")
    base = login_url(setting(settings, "domain"))

    def obtain(session: requests.Session) -> Token:
        key = _read_private_key(key_file)
        try:
            assertion = build_jwt_assertion(consumer_key, username, jwt_audience(base), key)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(
                [
                    ConfigProblem(
                        "salesforce settings",
                        "salesforce.private_key_file",
                        f"{key_file} is not a usable RSA private key ({type(exc).__name__})",
                    )
                ]
            ) from None
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        return request_token(session, f"{base}/services/oauth2/token", data, "jwt")

    return AuthFlow("jwt", obtain)


def _client_credentials_flow(settings: Any, base: str) -> AuthFlow:
    data = {
        "grant_type": "client_credentials",
        "client_id": setting(settings, "client_id"),
        "client_secret": setting(settings, "client_secret"),
    }
    return AuthFlow(
        "client_credentials",
        lambda session: request_token(
            session, f"{base}/services/oauth2/token", data, "client_credentials"
        ),
    )


def _password_flow(settings: Any, api_version: str) -> AuthFlow:
    username = setting(settings, "username")
    password = setting(settings, "password")
    security_token = setting(settings, "security_token") or ""
    client_id = setting(settings, "client_id")
    client_secret = setting(settings, "client_secret")
    domain = setting(settings, "domain")
    base = login_url(domain)

    def oauth(session: requests.Session) -> Token:
        data = {
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": password + security_token,
        }
        if client_secret:
            data["client_secret"] = client_secret
        return request_token(session, f"{base}/services/oauth2/token", data, "password")

    def soap(session: requests.Session) -> Token:
        try:
            session_id, instance = SalesforceLogin(
                username=username,
                password=password,
                security_token=security_token,
                session=session,
                domain=None,  # the same login host as the OAuth flows (host:port included)
                scratch_url=base,
                sf_version=api_version,
            )
        except SalesforceAuthenticationFailed as exc:
            raise AuthError(
                f"Salesforce password login was refused: {exc.code}: {exc.message}",
                hint=_FLOW_HINTS["password"],
            ) from None
        log.info("salesforce_authenticated", flow="password", instance_url=f"https://{instance}")
        return Token(access_token=session_id, instance_url=f"https://{instance}")

    return AuthFlow("password", oauth if client_id else soap)


def plan_auth_flows(settings: Any, api_version: str = "62.0") -> list[AuthFlow]:
    """The usable flows, most preferred first; a ConfigError when none is fully configured."""
    has = {name: setting(settings, name) is not None for name in _FIELDS}
    flows: list[AuthFlow] = []
    if has["instance_url"] and has["access_token"]:
        token = Token(
            access_token=setting(settings, "access_token"),
            instance_url=setting(settings, "instance_url").rstrip("/"),
        )
        flows.append(AuthFlow("session", lambda session: token, can_renew=False))
    if has["consumer_key"] and has["private_key_file"] and has["username"]:
        flows.append(_jwt_flow(settings))
    if has["client_id"] and has["client_secret"]:
        domain = setting(settings, "domain")
        if domain and domain not in ("login", "test"):
            flows.append(_client_credentials_flow(settings, login_url(domain)))
        elif has["instance_url"]:
            flows.append(
                _client_credentials_flow(settings, setting(settings, "instance_url").rstrip("/"))
            )
    if has["username"] and has["password"]:
        flows.append(_password_flow(settings, api_version))
    if flows:
        return flows
    raise ConfigError(_missing_problems(has), hint=_NOTHING_SET_HINT)


_FIELDS = (
    "instance_url",
    "access_token",
    "consumer_key",
    "private_key_file",
    "username",
    "password",
    "client_id",
    "client_secret",
    "domain",
)

_NOTHING_SET_HINT = (
    "set one of: SFSYNC_SF_INSTANCE_URL + SFSYNC_SF_ACCESS_TOKEN (an existing session); "
    "SFSYNC_SF_CONSUMER_KEY + SFSYNC_SF_PRIVATE_KEY_FILE + SFSYNC_SF_USERNAME [+ SFSYNC_SF_DOMAIN] "
    "(JWT bearer); SFSYNC_SF_CLIENT_ID + SFSYNC_SF_CLIENT_SECRET with a My Domain in "
    "SFSYNC_SF_DOMAIN "
    "(client credentials); SFSYNC_SF_USERNAME + SFSYNC_SF_PASSWORD + SFSYNC_SF_SECURITY_TOKEN"
)


def _missing_problems(has: dict[str, bool]) -> list[ConfigProblem]:
    """Explain which half-configured flow is missing what (or that nothing is set)."""
    groups = {
        "existing session": ("instance_url", "access_token"),
        "JWT bearer flow": ("consumer_key", "private_key_file", "username"),
        "client credentials flow": ("client_id", "client_secret"),
        "username/password login": ("username", "password"),
    }
    problems = []
    for label, fields in groups.items():
        present = [f for f in fields if has[f]]
        if present and len(present) < len(fields):
            missing = ", ".join(f"salesforce.{f}" for f in fields if not has[f])
            problems.append(
                ConfigProblem("salesforce settings", "salesforce", f"{label}: missing {missing}")
            )
    if has["client_id"] and has["client_secret"] and not problems:
        problems.append(
            ConfigProblem(
                "salesforce settings",
                "salesforce.domain",
                "client credentials flow: needs the My Domain (salesforce.domain) or "
                "salesforce.instance_url to know the token endpoint",
            )
        )
    if not problems:
        problems.append(
            ConfigProblem("salesforce settings", "salesforce", "no Salesforce credentials are set")
        )
    return problems


class Authenticator:
    """Holds the planned flows; ``login()`` starts a session, ``renew()`` replaces it."""

    def __init__(self, flows: list[AuthFlow], session: requests.Session) -> None:
        self.flows = flows
        self.session = session
        self.flow_used: str | None = None

    def login(self) -> Token:
        """Obtain a token with the most preferred flow."""
        flow = self.flows[0]
        self.flow_used = flow.name
        return _registered(flow.obtain(self.session))

    @property
    def can_renew(self) -> bool:
        return any(flow.can_renew for flow in self.flows)

    def renew(self) -> Token:
        """A fresh token from the first flow that can log in by itself."""
        for flow in self.flows:
            if flow.can_renew:
                self.flow_used = flow.name
                return _registered(flow.obtain(self.session))
        raise AuthError("the Salesforce session cannot be renewed: no login flow is configured")


def _registered(token: Token) -> Token:
    """Mask a token obtained at run time (JWT, password, renewals) wherever it would appear."""
    register_secrets([token.access_token])
    return token
