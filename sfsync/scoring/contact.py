"""``contact_changed`` (seed 001 §3.3 "担当者変更"): the customer's main contact changed, pure.

The accounts frame carries the Account's main-contact field as ``main_contact_id`` (column
mapping ``mappings/columns/salesforce_accounts.yaml``, ``Main_Contact__c`` by default); each
run stores it with the score snapshot. An account's contact changed when both the current
value and the stored one are known and differ. The stored value is the one of the snapshot
the trend compares with (the nightly job: the latest at least 28 days older), so the signal
stays active — and its Task open — for that window after the change, instead of clearing the
next night; a job without a trend window compares with the previous snapshot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMN = "main_contact_id"


def _text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def contact_changed(
    account_ids: pd.Series, accounts: pd.DataFrame, baseline: pd.DataFrame | None
) -> np.ndarray:
    """Per account of ``account_ids`` (the rows of ``accounts``, same order), whether its
    ``main_contact_id`` differs from the one stored in ``baseline`` (the snapshot frame:
    ``account_id, main_contact_id``). False where either value is missing, for an account the
    baseline lacks, and everywhere without a baseline or without the column (first run, an
    org without the field, snapshots from before the field was stored)."""
    n = len(account_ids)
    if (
        baseline is None
        or not len(baseline)
        or COLUMN not in accounts.columns
        or COLUMN not in baseline.columns
    ):
        return np.zeros(n, dtype=bool)
    stored = baseline[["account_id", COLUMN]].copy()
    stored["account_id"] = stored["account_id"].astype("string")
    stored = stored.drop_duplicates("account_id", keep="last").set_index("account_id")[COLUMN]
    before = pd.Series(account_ids, copy=False).astype("string").map(_text(stored))
    now = _text(accounts[COLUMN].reset_index(drop=True))
    before = before.reset_index(drop=True)
    changed = now.notna() & before.notna() & (now != before)
    return changed.fillna(False).to_numpy(dtype=bool)
