"""TLS for the sandbox: a throwaway CA and a server certificate for 127.0.0.1 and localhost.

The CA and the server key/certificate are created once per data dir and reused, so that a
``REQUESTS_CA_BUNDLE`` exported by ``sfsync sandbox serve`` stays valid across restarts.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

CA_FILE = "ca.pem"
SERVER_CHAIN_FILE = "server-chain.pem"
SERVER_KEY_FILE = "server-key.pem"


@dataclass(frozen=True)
class SandboxTLS:
    """Paths of the sandbox CA bundle and the server certificate chain and key."""

    ca_bundle: Path
    server_chain: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for the sandbox's HTTPS servers."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.server_chain), str(self.server_key))
        return context


def ensure_tls(directory: Path) -> SandboxTLS:
    """Create (or reuse) the sandbox CA and server certificate under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    tls = SandboxTLS(
        ca_bundle=directory / CA_FILE,
        server_chain=directory / SERVER_CHAIN_FILE,
        server_key=directory / SERVER_KEY_FILE,
    )
    if tls.ca_bundle.exists() and tls.server_chain.exists() and tls.server_key.exists():
        return tls
    ca = trustme.CA(organization_name="sfsync sandbox")
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca.cert_pem.write_to_path(str(tls.ca_bundle))
    server.private_key_pem.write_to_path(str(tls.server_key))
    tls.server_key.chmod(0o600)
    with open(tls.server_chain, "wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    return tls
