"""KPIs counted from the Tasks sfsync created (pure: a canonical Tasks frame in, counts out).

The Tasks frame (from :func:`sfsync.sources.sfsync_tasks.read_sfsync_tasks` or a CSV) has
``sync_key``, ``activity_date`` and, when known, ``completed`` (done by a person: a Task sfsync
closed itself is not completed) and ``completed_at``.

- Onboarding steps 0–4 (seed 001 §3.1): the Tasks keyed ``onboarding_<step>:<account>:<contract
  start>`` (:mod:`sfsync.automation.followups`). An account completed its onboarding when every
  step Task it was given is completed; accounts given none are not counted.
- Upsell proposals made: completed upsell Tasks (key ``upsell:<code>:<account>:<month>``)
  completed in the month, one per (account, code).
"""

from __future__ import annotations

import pandas as pd

ONBOARDING_STEPS = ("setup", "kickoff", "video", "pre_delivery", "review")  # steps 0-4
STEP_COLUMNS = ["step", "name", "tasks", "completed"]


def _key_parts(tasks: pd.DataFrame) -> pd.DataFrame:
    keys = tasks["sync_key"].astype("string").fillna("")
    parts = keys.str.split(":", n=3, expand=True).reindex(columns=range(4))
    return parts


def _completed(tasks: pd.DataFrame) -> pd.Series:
    if "completed" not in tasks:
        return pd.Series(True, index=tasks.index)
    return tasks["completed"].astype("boolean").fillna(False).astype(bool)


def completion_dates(tasks: pd.DataFrame) -> pd.Series:
    """When each Task was completed: ``completed_at`` when known, else its ``activity_date``."""
    at = pd.to_datetime(tasks.get("completed_at"), errors="coerce")
    if at is None or not isinstance(at, pd.Series):
        at = pd.Series(pd.NaT, index=tasks.index, dtype="datetime64[ns]")
    when = pd.to_datetime(tasks["activity_date"], errors="coerce")
    return at.fillna(when)


def onboarding_steps(tasks: pd.DataFrame, accounts: set) -> tuple[pd.DataFrame, int, int]:
    """Per step 0–4 (rows step, name, tasks, completed) for ``accounts``, then the number of
    those accounts that were given onboarding Tasks and of those that completed all of theirs."""
    parts = _key_parts(tasks)
    rule = parts[0].fillna("")
    account = parts[1]
    done = _completed(tasks)
    mine = account.isin(accounts)
    rows = []
    given: set = set()
    open_: set = set()
    for i, step in enumerate(ONBOARDING_STEPS):
        sel = mine & (rule == f"onboarding_{step}")
        rows.append(
            {"step": i, "name": step, "tasks": int(sel.sum()), "completed": int((sel & done).sum())}
        )
        given |= set(account[sel])
        open_ |= set(account[sel & ~done])
    return pd.DataFrame(rows, columns=STEP_COLUMNS), len(given), len(given - open_)


def upsell_proposals(
    tasks: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, codes: list[str]
) -> int:
    """Distinct (account, code) upsell Tasks completed in ``[start, end]``."""
    if tasks is None or tasks.empty:
        return 0
    parts = _key_parts(tasks)
    when = completion_dates(tasks)
    sel = (
        (parts[0] == "upsell")
        & parts[1].isin(codes)
        & _completed(tasks)
        & (when >= start)
        & (when <= end + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1))
    )
    return len(set(zip(parts[1][sel], parts[2][sel], strict=True)))
