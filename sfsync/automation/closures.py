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

from collections import ChainMap
from collections.abc import Iterator, Mapping
from datetime import date

import numpy as np
import pandas as pd

from sfsync.automation.followups import first_delivery_dates, onboarding_end
from sfsync.automation.playbook import Playbook
from sfsync.calendar import fiscal_quarter
from sfsync.frames import isin

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
    held = (
        activities["type"].astype("string").str.lower().isin(types).fillna(False)
        & activities["completed"].fillna(False).astype(bool)
        & (when >= pd.Timestamp(qstart))
        & (when <= pd.Timestamp(as_of))
    )
    held_ids = activities["account_id"][held.to_numpy(dtype=bool)].astype(str)
    account_ids = accounts["account_id"].astype(str).dropna()
    found = account_ids[isin(account_ids, held_ids).to_numpy(dtype=bool)]
    ids = np.sort(pd.unique(found.to_numpy(dtype=object)))  # str order, as sorted() gives
    return dict.fromkeys(("qbr:" + ids + f":{label}").tolist(), "qbr_held")


def _key_suffixes(account_ids: pd.Series, start: pd.Series) -> np.ndarray:
    """``:<account>:<contract start YYYY-MM-DD>`` per row (object array of text; a missing
    account id spelled ``nan``, as an f-string spells it)."""
    ids = account_ids.astype("string").fillna("nan")
    period = start.dt.strftime("%Y-%m-%d").astype("string")
    return (":" + ids + ":" + period).to_numpy(dtype=object)


class OnboardingDone(Mapping[str, str]):
    """``onboarding_<step>:<account>:<contract start>`` -> ``onboarding_done`` without a key
    per step and account (half a million at 100,000 accounts, of which the plan looks up the
    few open onboarding Tasks): per ``:<account>:<contract start>`` whether every step is done
    (the onboarding period is over) or only the steps before the first delivery."""

    def __init__(self, suffixes: list[str], every: list[bool]) -> None:
        self._every: dict[str, bool] = {}
        for suffix, all_steps in zip(suffixes, every, strict=True):
            self._every[suffix] = self._every.get(suffix, False) or all_steps
        self._prefixes = {f"onboarding_{step}": step for step in ONBOARDING_STEPS}

    def __getitem__(self, key: str) -> str:
        cut = key.find(":") if isinstance(key, str) else -1
        step = self._prefixes.get(key[:cut]) if cut > 0 else None
        every = self._every.get(key[cut:]) if step is not None else None
        if every is None or not (every or step in BEFORE_DELIVERY):
            raise KeyError(key)
        return "onboarding_done"

    def __iter__(self) -> Iterator[str]:
        for suffix, every in self._every.items():
            steps = ONBOARDING_STEPS if every else (s for s in ONBOARDING_STEPS
                                                    if s in BEFORE_DELIVERY)  # fmt: skip
            yield from (f"onboarding_{step}{suffix}" for step in steps)

    def __len__(self) -> int:
        return sum(len(ONBOARDING_STEPS) if every else len(BEFORE_DELIVERY)
                   for every in self._every.values())  # fmt: skip


def onboarding_done_keys(
    accounts: pd.DataFrame,
    usage: pd.DataFrame | None,
    as_of: date,
    playbook: Playbook,
    deliveries: pd.Series | None = None,
) -> Mapping[str, str]:
    """``onboarding_<step>:<account>:<contract start>`` -> ``onboarding_done`` for steps that
    are no longer needed (delivery happened, or the onboarding period is over); in account
    order, each account's steps in :data:`ONBOARDING_STEPS` order (an :class:`OnboardingDone`)."""
    if "contract_start" not in accounts:
        return {}
    acc = accounts.reset_index(drop=True)
    ob = playbook.onboarding
    start = pd.to_datetime(acc["contract_start"]).astype("datetime64[ns]")
    over = onboarding_end(start, ob)
    first = first_delivery_dates(acc, usage, as_of, deliveries)
    as_of_ts = pd.Timestamp(as_of)
    started = start.notna().to_numpy(dtype=bool)
    ended = started & (as_of_ts > over).to_numpy(dtype=bool)
    delivered = started & ~ended & first.notna().to_numpy(dtype=bool)
    rows = np.flatnonzero(ended | delivered)
    if not len(rows):
        return {}
    suffixes = _key_suffixes(acc["account_id"].iloc[rows], start.iloc[rows])
    return OnboardingDone(suffixes.tolist(), ended[rows].tolist())


def closable_followups(
    accounts: pd.DataFrame,
    *,
    as_of: date,
    playbook: Playbook,
    activities: pd.DataFrame | None = None,
    usage: pd.DataFrame | None = None,
    deliveries: pd.Series | None = None,
) -> Mapping[str, str]:
    """Every follow-up key this run knows the reason of has gone away, with the reason
    (``deliveries``: :func:`~sfsync.automation.followups.first_deliveries` of ``usage``)."""
    held = qbr_held_keys(accounts, activities, as_of, playbook)
    return ChainMap(held, onboarding_done_keys(accounts, usage, as_of, playbook, deliveries))  # type: ignore[arg-type]
