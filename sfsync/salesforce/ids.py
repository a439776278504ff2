"""Salesforce record ids: 15 case-sensitive characters, or 18 with the case-safe suffix.

Ids from the REST API are 18 characters; ids typed into a spreadsheet or kept by another system
are often the 15-character form, and two of those may differ only in letter case. sfsync keys
Tasks by account id inside a case-insensitive unique external ID (``Sync_Key__c``), so every id
is brought to its 18-character form before a key is built from it (:func:`to_18`).
"""

from __future__ import annotations

import re

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_PATTERN = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def case_safe_suffix(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitively unique."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if ch.isupper())
        suffix += _ALPHABET[bits]
    return suffix


def to_18(record_id: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters (the suffix recomputed from the
    15 case-sensitive characters, so an 18-character id with a wrong suffix is corrected)."""
    return record_id[:15] + case_safe_suffix(record_id[:15])


def is_record_id(value: str) -> bool:
    """True for a 15- or 18-character id made of letters and digits."""
    return ID_PATTERN.fullmatch(value) is not None
