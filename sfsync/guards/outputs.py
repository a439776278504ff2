"""The output guard (SPEC §12), a mass-change brake: pure functions.

Like the brakes of reverse-ETL tools, a run compares what it is about to write with what the
recent runs wrote, and stops before writing when it would change far more than usual:

- ``red_turn_share``: accounts turning red (red now, not red at their previous stored score),
  as a share of the accounts that have a previous score;
- ``new_churn_signal_share``: churn signals that were not active at the previous stored score,
  per account that has one;
- ``rewrite_share``: accounts whose visible fields change (score, band, category points, phase,
  segment, signals — not the scoring time, the trend and its direction or the explanation
  text, which move a little every day), as a share of the accounts in scope;
- ``campaign_member_share``: contacts the plan adds to Campaigns (``write.campaigns``) per
  account in scope (a rule that suddenly matches everyone).

A figure fails when it exceeds ``max(floor, factor × its largest value in the recent runs)``.
Without recent runs (a new org, a first run) there is nothing to compare with: no check. A
recent run that had no previous scores (a first run) measured no turns and no new signals: it
is no baseline for those two, so the second night is held to the floors.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from sfsync.guards.inputs import GuardFinding

OUTPUT_FIGURES = (
    "red_turn_share",
    "new_churn_signal_share",
    "rewrite_share",
    "campaign_member_share",
)
# figures measured on every run (the others only against previous scores)
_ALWAYS_MEASURED = frozenset({"rewrite_share", "campaign_member_share"})
# scoring-result columns whose Account fields change without anything visible changing: the
# scoring time and the explanation (mapped ``write: with_changes``, see :func:`quiet_fields`).
# ``health_trend`` is not quiet: it compares with the score 28 days older, so it changes only
# when the score really moved, and that change is written and seen.
QUIET_COLUMNS = frozenset({"scored_at", "explanation"})

_LABELS = {
    "red_turn_share": "accounts turning red",
    "new_churn_signal_share": "new churn signals per account",
    "rewrite_share": "accounts whose visible fields change",
    "campaign_member_share": "contacts added to Campaigns per account",
}


def _codes(value: Any) -> set[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return set()
    return {c for c in str(value).split(";") if c}


def output_figures(
    scores: pd.DataFrame,
    previous: pd.DataFrame | None,
    churn_signals: pd.DataFrame,
    *,
    changed_records: Iterable[Iterable[str]],
    quiet_fields: Iterable[str],
    records_in_scope: int,
    campaign_members: int = 0,
) -> dict[str, Any]:
    """The figures of a run's output (JSON-able): counts and the three shares.

    ``churn_signals`` has ``account_id`` and ``code`` (this run's active churn signals);
    ``previous`` the previous stored scores (``account_id``, ``health_band``, ``signals``);
    ``changed_records`` the Salesforce fields that change, per planned record;
    ``campaign_members`` the Campaign members the plan inserts.
    """
    quiet = set(quiet_fields)
    rewrites = sum(1 for fields in changed_records if set(fields) - quiet)
    figures: dict[str, Any] = {
        "accounts": len(scores),
        "records_in_scope": int(records_in_scope),
        "rewrites": rewrites,
        "rewrite_share": rewrites / records_in_scope if records_in_scope else 0.0,
        "campaign_members": int(campaign_members),
        "campaign_member_share": campaign_members / records_in_scope if records_in_scope else 0.0,
    }
    if previous is None or previous.empty:
        figures.update(compared=0, red_turns=0, new_churn_signals=0)
        figures.update(red_turn_share=0.0, new_churn_signal_share=0.0)
        return figures
    before = previous.drop_duplicates("account_id").set_index("account_id")
    now = scores.drop_duplicates("account_id").set_index("account_id")
    common = now.index.intersection(before.index)
    red_now = now.loc[common, "health_band"].astype("string") == "red"
    red_before = before.loc[common, "health_band"].astype("string") == "red"
    red_turns = int((red_now.fillna(False) & ~red_before.fillna(False)).sum())
    earlier = {a: _codes(v) for a, v in before.loc[common, "signals"].items()}
    new_signals = sum(
        1
        for account, code in zip(churn_signals["account_id"], churn_signals["code"], strict=True)
        if account in earlier and code not in earlier[account]
    )
    compared = len(common)
    figures.update(
        compared=compared,
        red_turns=red_turns,
        new_churn_signals=new_signals,
        red_turn_share=red_turns / compared if compared else 0.0,
        new_churn_signal_share=new_signals / compared if compared else 0.0,
    )
    return figures


def _figure(name: str, value: float) -> str:
    """A share as a percentage, a count per account as a number."""
    return f"{value:.2f}" if name == "campaign_member_share" else f"{value:.0%}"


def check_outputs(
    figures: dict[str, Any],
    recent: list[dict[str, Any]],
    limits: dict[str, tuple[float, float]],
) -> list[GuardFinding]:
    """Every figure above its limit (``limits``: name → (floor, factor); a figure without one
    is not checked); none without history."""
    if not recent:
        return []
    findings = []
    for name in OUTPUT_FIGURES:
        if name not in limits:
            continue
        floor, factor = limits[name]
        # a run without previous scores (a first run) measured no turns and no new signals
        measured = [r for r in recent if name in _ALWAYS_MEASURED or r.get("compared")]
        baseline = max((float(r.get(name) or 0.0) for r in measured), default=0.0)
        limit = max(floor, factor * baseline)
        value = float(figures.get(name) or 0.0)
        if value > limit:
            counts = {
                "red_turn_share": f"{figures.get('red_turns', 0):,} of {figures.get('compared', 0):,}",
                "new_churn_signal_share": f"{figures.get('new_churn_signals', 0):,} for "
                f"{figures.get('compared', 0):,} accounts",
                "rewrite_share": f"{figures.get('rewrites', 0):,} of "
                f"{figures.get('records_in_scope', 0):,}",
                "campaign_member_share": f"{figures.get('campaign_members', 0):,} for "
                f"{figures.get('records_in_scope', 0):,} accounts",
            }[name]
            findings.append(
                GuardFinding(
                    name,
                    "plan",
                    f"{_LABELS[name]}: {_figure(name, value)} ({counts}), against at most "
                    f"{_figure(name, baseline)} in the {len(recent)} recent run(s); the limit is "
                    f"{_figure(name, limit)} (max of floor {_figure(name, floor)} and {factor:g} "
                    f"× recent, setting guards.output.{name})",
                )
            )
    return findings
