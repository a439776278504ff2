"""Salesforce-style record ids (15 characters plus the 3-character case-safe suffix)."""

from __future__ import annotations

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

KEY_PREFIXES = {
    "Account": "001",
    "User": "005",
    "Task": "00T",
    "Event": "00U",
    "Contact": "003",
    "Health_Score_History__c": "a01",
}


def case_safe_suffix(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitively unique."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if ch.isupper())
        suffix += _ALPHABET[bits]
    return suffix


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


def to_18(record_id: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters."""
    return record_id if len(record_id) == 18 else record_id + case_safe_suffix(record_id)
