"""TLS for the sandbox: a throwaway CA and a server certificate for 127.0.0.1 and localhost.

The CA and the server key/certificate are created once per data dir and reused, so that a
``REQUESTS_CA_BUNDLE`` exported by ``sfsync sandbox serve`` stays valid across restarts.
"""

from __future__ import annotations

import os
import ssl
import threading
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


_trusted: list[Path] = []
_saved_env: dict[str, str | None] = {}
_trust_lock = threading.Lock()


def trust_in_process(ca_bundle: Path, directory: Path) -> None:
    """Make ``requests`` in this process trust the sandbox CA as well as the system CAs.

    requests lets ``REQUESTS_CA_BUNDLE`` from the environment override ``Session.verify``, so
    a client that sets ``verify=sb.ca_bundle`` still fails where that variable points at the
    system bundle. While a sandbox runs, the variable points at a bundle of the system CAs plus
    every running sandbox's CA; :func:`untrust_in_process` restores it.
    """
    with _trust_lock:
        if not _trusted:
            _saved_env["REQUESTS_CA_BUNDLE"] = os.environ.get("REQUESTS_CA_BUNDLE")
        _trusted.append(ca_bundle)
        _write_trust_bundle(directory)


def untrust_in_process(ca_bundle: Path, directory: Path) -> None:
    with _trust_lock:
        if ca_bundle in _trusted:
            _trusted.remove(ca_bundle)
        if _trusted:
            _write_trust_bundle(directory)
            return
        previous = _saved_env.pop("REQUESTS_CA_BUNDLE", None)
        if previous is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = previous


def _write_trust_bundle(directory: Path) -> None:
    base = _saved_env.get("REQUESTS_CA_BUNDLE") or certifi_or_system_bundle()
    parts = [Path(base).read_text(encoding="utf-8")] if base and Path(base).is_file() else []
    parts += [p.read_text(encoding="utf-8") for p in dict.fromkeys(_trusted) if p.exists()]
    bundle = directory / f"trust-bundle-{os.getpid()}.pem"
    tmp = bundle.with_suffix(".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, bundle)
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)


def certifi_or_system_bundle() -> str | None:
    """The CA bundle requests would use without REQUESTS_CA_BUNDLE."""
    try:
        import certifi

        return certifi.where()
    except ImportError:
        return ssl.get_default_verify_paths().cafile
