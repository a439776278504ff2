"""Fixtures for the Salesforce client's narrow (``responses``) tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sfsync.salesforce.client import RetryPolicy, SalesforceClient, connect

INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v62.0"
LOGIN = "https://login.salesforce.com"


@dataclass
class SfSettings:
    """Same field names as ``Settings.salesforce`` (docs/ARCHITECTURE.md)."""

    instance_url: str | None = None
    access_token: str | None = None
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    consumer_key: str | None = None
    private_key_file: str | None = None
    domain: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    api_version: str = "62.0"
    bulk_threshold: int = 2000
    api_reserve: int = 1000


class Sleeps(list):
    """A fake ``sleep`` that records the requested waits."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, max_seconds=60, initial_wait=0.1, max_wait=1, sleep=sleeps)


@pytest.fixture(scope="session")
def rsa_key_pem(tmp_path_factory) -> tuple[Path, bytes]:
    """A generated RSA key: (path of the private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("keys") / "server.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public


@pytest.fixture
def session_client(policy) -> SalesforceClient:
    """A client on an existing session (cannot renew itself)."""
    return connect(SfSettings(instance_url=INSTANCE, access_token="00Dsecret!TOKEN"), policy=policy)


@pytest.fixture
def jwt_settings(rsa_key_pem) -> SfSettings:
    return SfSettings(
        consumer_key="3MVG-consumer",
        private_key_file=str(rsa_key_pem[0]),
        username="integration@acme.example",
        domain="login",
    )
