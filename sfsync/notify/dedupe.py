"""Which churn signals to alert on this run, and which episodes cleared. Pure.

A signal (account, code) is alerted when it is active now and
- it has no episode in the ledger yet (``new``), or
- its latest episode is cleared (``reappeared``: episode + 1), or
- its open episode was last alerted ``snooze_days`` or more days before the as-of date
  (``snooze_ended``: same episode, alerted again).
An open episode whose signal is no longer active is ``cleared``.
Only churn signals with an alerting severity (playbook ``alerts.severities``) are tracked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd


@dataclass(frozen=True)
class AlertDecision:
    """``alert``: account_id, code, severity, episode, reason; ``cleared``: account_id, code,
    episode."""

    alert: pd.DataFrame
    cleared: pd.DataFrame


def alerting_signals(signals: pd.DataFrame | None, severities: list[str]) -> pd.DataFrame:
    """Active churn signals with an alerting severity (account_id, code, severity), unique."""
    cols = ["account_id", "code", "severity"]
    if signals is None or signals.empty:
        return pd.DataFrame(columns=cols)
    s = signals
    if "kind" in s:
        s = s[s["kind"] == "churn"]
    s = s[s["severity"].isin(severities)]
    return s[cols].drop_duplicates(["account_id", "code"]).reset_index(drop=True)


def decide_alerts(
    active: pd.DataFrame, ledger: pd.DataFrame, *, as_of: date, snooze_days: int
) -> AlertDecision:
    """Compare the active alerting signals with the latest ledger episode of each signal."""
    led = ledger.copy()
    if led.empty:
        led = pd.DataFrame(
            {
                "account_id": pd.Series(dtype="object"),
                "code": pd.Series(dtype="object"),
                "episode": pd.Series(dtype="int64"),
                "last_alerted_on": pd.Series(dtype="datetime64[ns]"),
                "cleared_on": pd.Series(dtype="datetime64[ns]"),
            }
        )
    led = led.astype({"account_id": "object", "code": "object"})
    led["last_alerted_on"] = pd.to_datetime(led["last_alerted_on"])
    led["cleared_on"] = pd.to_datetime(led["cleared_on"])
    act = active.astype({"account_id": "object", "code": "object"})
    merged = act.merge(led, on=["account_id", "code"], how="left")
    as_of_ts = pd.Timestamp(as_of)
    no_episode = merged["episode"].isna()
    is_cleared = merged["cleared_on"].notna()
    snoozed_out = (
        ~no_episode
        & ~is_cleared
        & (merged["last_alerted_on"] + pd.Timedelta(days=snooze_days) <= as_of_ts)
    )
    reason = pd.Series(pd.NA, index=merged.index, dtype="object")
    reason[no_episode] = "new"
    reason[~no_episode & is_cleared] = "reappeared"
    reason[snoozed_out & (snooze_days > 0)] = "snooze_ended"
    episode = merged["episode"].fillna(0).astype(int)
    episode = episode.where(~(~no_episode & is_cleared), episode + 1)
    episode = episode.where(~no_episode, 1)
    alert = merged.assign(episode=episode, reason=reason)[reason.notna()]
    alert = alert[["account_id", "code", "severity", "episode", "reason"]].reset_index(drop=True)

    open_eps = led[led["cleared_on"].isna()]
    still = open_eps.merge(
        act[["account_id", "code"]], on=["account_id", "code"], how="left", indicator=True
    )
    cleared = still[still["_merge"] == "left_only"][["account_id", "code", "episode"]]
    cleared = cleared.astype({"episode": int}).reset_index(drop=True)
    return AlertDecision(alert=alert, cleared=cleared)
