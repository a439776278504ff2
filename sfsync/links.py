"""Links to Salesforce records, for the messages and reports people open them from."""

from __future__ import annotations


def record_url(instance_url: str, account_id: str) -> str:
    """Lightning URL of an Account record."""
    return f"{instance_url.rstrip('/')}/lightning/r/Account/{account_id}/view"
