"""Account fields a marketing-automation tool or a record-triggered Flow listens to (seed 000,
issue 13): pure, vectorised, the as-of date an argument.

- **Onboarding step** (``onboarding_step`` → ``Onboarding_Step__c``, 0–4): where the account
  stands in the playbook's onboarding (``mappings/playbook.yaml`` ``onboarding``, the steps of
  the onboarding follow-ups in :mod:`sfsync.automation.followups`; C = contract start, F = the
  first delivery, planned F = C + ``planned_first_delivery_days`` while usage shows none):

  - empty: no contract start, or one after the as-of date;
  - **4** (review; onboarded): a delivery happened (F on or before the as-of date), or the
    onboarding period is over (after C + ``complete_check_months`` + ``late_grace_days``, when
    the onboarding follow-ups stop as well);
  - **3** (pre-delivery check): no delivery yet and the as-of date reached the step-3 Task's
    open date, planned F − ``pre_delivery_open_days``;
  - **2** (video learning): the kickoff was held (a completed activity of
    ``kickoff_held_types``, default meeting, on or after C), or the as-of date reached the
    step-2 Task's open date, C + ``video_open_days``;
  - **1** (kickoff): the setup is done: the tenant used the product (login days or deliveries
    in a usage month from C's month on), or the as-of date reached C + ``setup_due_days``;
  - **0** (setup): the contract started, nothing of the above yet.

  The highest step that applies wins. Every condition only becomes true with time or new
  activity, so while the data stays the step never goes back: a Flow listening for a change
  of the field sees each step once.
- **Tutorial completed** (``tutorial_completed_at`` → ``Tutorial_Completed_At__c``): the
  tenant's first ``tutorial_completed_at`` on or before the as-of date (the engagement input
  of SPEC §3); empty for an unlinked account or a tutorial not completed.
- **Renewal reminder date** (``renewal_reminder_date`` → ``Renewal_Reminder_Date__c``): the
  renewal date minus the playbook's ``renewal.lead_months`` (default 2, the day clamped to the
  month's end), the day the renewal follow-up Task opens too.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from sfsync.automation.followups import (
    first_delivery_dates,
    month_starts,
    onboarding_end,
    shift_months,
)
from sfsync.automation.playbook import OnboardingPolicy
from sfsync.sources.engagement import first_tutorial_completions

TRIGGER_COLUMNS = ("onboarding_step", "tutorial_completed_at", "renewal_reminder_date")
ONBOARDED = 4


def _days(n: int) -> pd.Timedelta:
    return pd.Timedelta(days=n)


def _by_account(keys: pd.Series, values: pd.Series) -> pd.Series:
    """``values`` (indexed by key) looked up for ``keys``, aligned with ``keys``."""
    values = values[~values.index.duplicated(keep="first")]
    return pd.Series(values.reindex(keys.astype("string").to_numpy()).to_numpy(), index=keys.index)


def _used_since_start(
    acc: pd.DataFrame, usage: pd.DataFrame | None, start: pd.Series, as_of: date
) -> pd.Series:
    """Per account: a usage month from its contract-start month up to the as-of month with
    login days or deliveries."""
    none = pd.Series(False, index=acc.index)
    if usage is None or usage.empty or "tenant_id" not in acc:
        return none
    activity = sum(
        pd.to_numeric(usage[c], errors="coerce").fillna(0.0)
        for c in ("login_days", "deliveries")
        if c in usage
    )
    if isinstance(activity, int):  # neither column: nothing to read
        return none
    month = month_starts(usage["month"])
    rows = ((activity > 0) & (month <= pd.Timestamp(as_of))).to_numpy(dtype=bool)
    first = month[rows].groupby(usage["tenant_id"][rows].astype("string")).min()
    since = pd.to_datetime(_by_account(acc["tenant_id"], first))
    month_of_start = start.dt.to_period("M").dt.start_time
    return (since.notna() & start.notna() & (since >= month_of_start)).fillna(False)


def _kickoff_held(
    acc: pd.DataFrame,
    activities: pd.DataFrame | None,
    start: pd.Series,
    as_of: date,
    types: list[str],
) -> pd.Series:
    """Per account: a completed activity of ``types`` between its contract start and the as-of
    date."""
    none = pd.Series(False, index=acc.index)
    if activities is None or activities.empty:
        return none
    when = pd.to_datetime(activities["date"])
    codes, kinds = pd.factorize(activities["type"].astype("string"))
    wanted = pd.Series(kinds, dtype="string").str.casefold().isin({t.casefold() for t in types})
    of_type = np.append(wanted.fillna(False).to_numpy(dtype=bool), False)[codes]  # -1: missing
    rows = (
        of_type
        & activities["completed"].fillna(False).astype(bool).to_numpy(dtype=bool)
        & (when <= pd.Timestamp(as_of)).to_numpy(dtype=bool)
    )
    latest = when[rows].groupby(activities["account_id"][rows].astype("string")).max()
    last = pd.to_datetime(_by_account(acc["account_id"], latest))
    return (last.notna() & start.notna() & (last >= start)).fillna(False)


def onboarding_steps(
    accounts: pd.DataFrame,
    *,
    as_of: date,
    policy: OnboardingPolicy,
    usage: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
    deliveries: pd.Series | None = None,
) -> pd.Series:
    """The onboarding step 0–4 of each account (``Int64``, NA when not started; index aligned
    with ``accounts``; the rule: module doc). ``accounts``: ``account_id``, ``tenant_id``,
    ``contract_start``; ``usage`` and ``activities``: the canonical frames (optional)."""
    acc = accounts.reset_index(drop=True)
    as_of_ts = pd.Timestamp(as_of)
    start = pd.to_datetime(acc["contract_start"]).astype("datetime64[ns]")
    started = start.notna() & (start <= as_of_ts)
    first = first_delivery_dates(acc, usage, as_of, deliveries)
    planned = start + _days(policy.planned_first_delivery_days)
    conditions = [
        first.notna() | (as_of_ts > onboarding_end(start, policy)),
        as_of_ts >= planned - _days(policy.pre_delivery_open_days),
        _kickoff_held(acc, activities, start, as_of, policy.kickoff_held_types)
        | (as_of_ts >= start + _days(policy.video_open_days)),
        _used_since_start(acc, usage, start, as_of)
        | (as_of_ts >= start + _days(policy.setup_due_days)),
    ]
    step = np.select([c.to_numpy(dtype=bool) for c in conditions], [ONBOARDED, 3, 2, 1], 0)
    out = pd.Series(step, dtype="Int64").where(started.to_numpy(), pd.NA)
    out.index = accounts.index
    return out


def tutorial_completed_dates(
    accounts: pd.DataFrame, usage: pd.DataFrame | None, as_of: date
) -> pd.Series:
    """Each account's first ``tutorial_completed_at`` on or before the as-of date (NaT when
    none; index aligned with ``accounts``)."""
    none = pd.Series(pd.NaT, index=accounts.index, dtype="datetime64[ns]")
    if usage is None or "tenant_id" not in accounts:
        return none
    first = first_tutorial_completions(usage, until=as_of)
    if first.empty:
        return none
    mapped = pd.to_datetime(_by_account(accounts["tenant_id"], first))
    return mapped.astype("datetime64[ns]").dt.normalize()


def renewal_reminder_dates(renewal_date: pd.Series, lead_months: int) -> pd.Series:
    """The renewal date minus ``lead_months`` months (day clamped; NaT without one)."""
    renewal = pd.to_datetime(renewal_date, errors="coerce").astype("datetime64[ns]")
    return shift_months(renewal, -lead_months)


def trigger_columns(
    account_ids: pd.Series,
    accounts: pd.DataFrame,
    *,
    as_of: date,
    onboarding: OnboardingPolicy,
    renewal_lead_months: int,
    usage: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
    deliveries: pd.Series | None = None,
) -> pd.DataFrame:
    """:data:`TRIGGER_COLUMNS` for ``account_ids`` (one row each, in their order), from the
    canonical ``accounts`` (matched by ``account_id``), ``usage`` and ``activities``."""
    ids = account_ids.astype("string").reset_index(drop=True)
    acc = accounts.drop_duplicates("account_id").assign(
        account_id=lambda f: f["account_id"].astype("string")
    )
    acc = acc.set_index("account_id").reindex(pd.Index(ids, name="account_id")).reset_index()
    for column in ("contract_start", "renewal_date"):
        if column not in acc:
            acc[column] = pd.NaT
    if "tenant_id" not in acc:
        acc["tenant_id"] = pd.NA
    return pd.DataFrame(
        {
            "account_id": ids,
            "onboarding_step": onboarding_steps(
                acc,
                as_of=as_of,
                policy=onboarding,
                usage=usage,
                activities=activities,
                deliveries=deliveries,
            ).array,
            "tutorial_completed_at": tutorial_completed_dates(acc, usage, as_of).to_numpy(),
            "renewal_reminder_date": renewal_reminder_dates(
                acc["renewal_date"], renewal_lead_months
            ).to_numpy(),
        }
    )
