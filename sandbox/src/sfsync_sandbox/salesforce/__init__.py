"""The sandbox Salesforce org: REST, sObject Collections, Bulk API 2.0 and OAuth over WSGI."""

from __future__ import annotations

from pathlib import Path

from sfsync_sandbox.salesforce.app import SalesforceApp


def create_app(data_dir: Path | None = None) -> SalesforceApp:
    """A WSGI app for the sandbox org whose state lives in ``data_dir`` (None: not persisted)."""
    return SalesforceApp(data_dir)


__all__ = ["SalesforceApp", "create_app"]
