"""Each owner's ranked worklist for the Slack digest: today's top accounts and why. Pure.

The list is the owner's first ``top`` accounts by ``cs_priority``
(:func:`sfsync.automation.touch.owner_worklists`: band, worst churn signal, ARR, renewal
proximity). Each line shows the account, its band and its *main reason*, in turn:

1. its top active churn signal: the highest severity, then the catalogue order; the number
   of its other churn signals goes with it. The red-band signal is no reason here: the line
   shows the band already;
2. else its renewal, when the renewal date is on or after the as-of date and at most
   ``renewal_lead_months`` months ahead (the playbook's renewal reminder lead): the days to go;
3. else no reason (the band says it all).

Accounts without an owner have no worklist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from sfsync.automation.touch import owner_worklists
from sfsync.catalogue import SEVERITIES, SIGNALS

_SEVERITY = {s: i for i, s in enumerate(SEVERITIES)}
_CATALOGUE = {s.code: i for i, s in enumerate(SIGNALS)}
_BAND_SIGNAL = "red_band"  # the line shows the band: no reason of its own


@dataclass(frozen=True)
class WorklistItem:
    """One line of an owner's worklist; the reason is ``signal`` (with ``other_signals``),
    else ``renewal_days`` (to ``renewal_date``), else none."""

    rank: int
    account_id: str
    account_name: str | None
    band: str | None
    signal: str | None = None  # the top active churn signal's code
    other_signals: int = 0  # the account's other active churn signals
    renewal_date: date | None = None
    renewal_days: int | None = None


def _value(details: pd.DataFrame, account_id: str, column: str) -> Any:
    if column not in details.columns or account_id not in details.index:
        return None
    value = details.at[account_id, column]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value


def top_churn_signals(signals: pd.DataFrame | None) -> dict[str, tuple[str, int]]:
    """Per account with active churn signals other than the red band: (its top signal's
    code, how many others)."""
    if signals is None or signals.empty:
        return {}
    churn = signals[(signals["kind"] == "churn") & (signals["code"] != _BAND_SIGNAL)]
    if churn.empty:
        return {}
    keyed = churn.assign(
        _severity=churn["severity"].map(_SEVERITY).fillna(len(SEVERITIES)),
        _order=churn["code"].map(_CATALOGUE).fillna(len(SIGNALS)),
        _id=churn["account_id"].astype(str),
    ).sort_values(["_id", "_severity", "_order", "code"], kind="stable")
    counts = keyed.groupby("_id", sort=False)["code"].nunique()
    first = keyed.drop_duplicates("_id")
    return {
        account: (str(code), int(counts[account]) - 1)
        for account, code in zip(first["_id"], first["code"], strict=True)
    }


def owner_worklist_items(
    touch: pd.DataFrame,
    signals: pd.DataFrame | None,
    details: pd.DataFrame,
    *,
    as_of: date,
    top: int,
    renewal_lead_months: int,
) -> dict[str, list[WorklistItem]]:
    """``{owner_id: items in rank order}`` (rules: module doc).

    ``touch``: ``account_id``, ``owner_id``, ``cs_priority`` (the pipeline's touch columns);
    ``signals``: the active signals (``account_id``, ``code``, ``kind``, ``severity``);
    ``details``: per account (index ``account_id``) ``name``, ``health_band``, ``renewal_date``.
    """
    if touch is None or touch.empty:
        return {}
    owned = touch[touch["owner_id"].notna() & (touch["owner_id"].astype(str) != "")]
    lists = owner_worklists(owned, top)
    reasons = top_churn_signals(signals)
    horizon = (pd.Timestamp(as_of) + pd.DateOffset(months=renewal_lead_months)).date()
    out: dict[str, list[WorklistItem]] = {}
    for owner, rows in lists.items():
        items = []
        for account_id, rank in zip(rows["account_id"], rows["cs_priority"], strict=True):
            account_id = str(account_id)
            signal, others = reasons.get(account_id, (None, 0))
            renewal, days = None, None
            if signal is None:
                when = pd.to_datetime(_value(details, account_id, "renewal_date"), errors="coerce")
                if when is not None and not pd.isna(when) and as_of <= when.date() <= horizon:
                    renewal, days = when.date(), (when.date() - as_of).days
            items.append(
                WorklistItem(
                    rank=int(rank),
                    account_id=account_id,
                    account_name=_value(details, account_id, "name"),
                    band=_value(details, account_id, "health_band"),
                    signal=signal,
                    other_signals=others,
                    renewal_date=renewal,
                    renewal_days=days,
                )
            )
        out[owner] = items
    return out
