# The row-by-row closable follow-up keys that the column operations replaced (issue 14, compute
# stage), kept verbatim as the reference the equivalence tests compare against. Not used by sfsync.
# ruff: noqa
"""Follow-up Tasks whose reason went away (SPEC §10): which keys sfsync may close, and why. Pure.

Returns ``sync_key -> reason`` for the follow-up Tasks this run can name; the plan closes the
ones still open, unedited and not wanted by this run (``sfsync.salesforce.closing``):

- ``qbr_held``: ``qbr:<account>:<this fiscal quarter>`` when a completed activity of
  ``qbr.held_types`` (QBR or meeting) lies in the quarter up to the as-of date;
- ``onboarding_done``: ``onboarding_video`` and ``onboarding_pre_delivery`` once the first
  delivery happened (those steps come before it), and every ``onboarding_<step>`` once the
  onboarding period is over (contract start + ``complete_check_months`` + ``late_grace_days``).

``renewal_passed`` (a ``renewal_reminder:<account>:<renewal date>`` whose date lies before the
as-of date) needs no frame: the plan reads it from the key.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from tests.perf.reference_followups import first_delivery_dates, onboarding_end
from sfsync.automation.playbook import Playbook
from sfsync.calendar import fiscal_quarter

ONBOARDING_STEPS = ("setup", "kickoff", "video", "pre_delivery", "review", "complete")
BEFORE_DELIVERY = ("video", "pre_delivery")


def qbr_held_keys(
    accounts: pd.DataFrame, activities: pd.DataFrame | None, as_of: date, playbook: Playbook
) -> dict[str, str]:
    """``qbr:<account>:<quarter>`` -> ``qbr_held`` for the accounts with a QBR held this quarter."""
    if activities is None or activities.empty:
        return {}
    label, qstart, _ = fiscal_quarter(as_of, playbook.qbr.fiscal_year_start_month)
    types = {t.casefold() for t in playbook.qbr.held_types}
    when = pd.to_datetime(activities["date"])
    held = activities[
        activities["type"].astype("string").str.lower().isin(types).fillna(False)
        & activities["completed"].fillna(False).astype(bool)
        & (when >= pd.Timestamp(qstart))
        & (when <= pd.Timestamp(as_of))
    ]
    ids = set(accounts["account_id"].astype(str)) & set(held["account_id"].astype(str))
    return {f"qbr:{a}:{label}": "qbr_held" for a in sorted(ids)}


def onboarding_done_keys(
    accounts: pd.DataFrame, usage: pd.DataFrame | None, as_of: date, playbook: Playbook
) -> dict[str, str]:
    """``onboarding_<step>:<account>:<contract start>`` -> ``onboarding_done`` for steps that
    are no longer needed (delivery happened, or the onboarding period is over)."""
    if "contract_start" not in accounts:
        return {}
    acc = accounts.reset_index(drop=True)
    ob = playbook.onboarding
    start = pd.to_datetime(acc["contract_start"]).astype("datetime64[ns]")
    over = onboarding_end(start, ob)
    first = first_delivery_dates(acc, usage, as_of)
    out: dict[str, str] = {}
    as_of_ts = pd.Timestamp(as_of)
    for account, c, end, f in zip(acc["account_id"], start, over, first, strict=True):
        if pd.isna(c):
            continue
        steps: tuple[str, ...] = ()
        if as_of_ts > end:
            steps = ONBOARDING_STEPS
        elif not pd.isna(f):
            steps = BEFORE_DELIVERY
        period = c.strftime("%Y-%m-%d")
        for step in steps:
            out[f"onboarding_{step}:{account}:{period}"] = "onboarding_done"
    return out


def closable_followups(
    accounts: pd.DataFrame,
    *,
    as_of: date,
    playbook: Playbook,
    activities: pd.DataFrame | None = None,
    usage: pd.DataFrame | None = None,
) -> dict[str, str]:
    """Every follow-up key this run knows the reason of has gone away, with the reason."""
    out = qbr_held_keys(accounts, activities, as_of, playbook)
    out.update(onboarding_done_keys(accounts, usage, as_of, playbook))
    return out
