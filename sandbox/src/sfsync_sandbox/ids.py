"""Salesforce-style record ids (15 characters plus the 3-character case-safe suffix)."""

from __future__ import annotations

from sfsync.salesforce.ids import case_safe_suffix, to_18

__all__ = ["KEY_PREFIXES", "case_safe_suffix", "make_id", "to_18"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

KEY_PREFIXES = {
    "Account": "001",
    "User": "005",
    "Task": "00T",
    "Event": "00U",
    "Contact": "003",
    "Campaign": "701",
    "Opportunity": "006",
    "CampaignMember": "00v",
    "Health_Score_History__c": "a01",
}


def make_id(sobject: str, number: int, pod: str = "5g") -> str:
    """A deterministic 18-character id for the ``number``-th record of ``sobject``."""
    prefix = KEY_PREFIXES.get(sobject, "a0Z")
    body = ""
    n = number
    for _ in range(10):
        n, r = divmod(n, 62)
        body = _BASE62[r] + body
    id15 = prefix + pod + body
    return id15 + case_safe_suffix(id15)
