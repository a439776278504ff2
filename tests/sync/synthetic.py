"""Deterministic scoring results for sync tests and the sync benchmark.

The sync engine only needs a scores frame and a signals frame shaped like the scoring stage's
output (docs/ARCHITECTURE.md "Scoring"); generating them here keeps the sync tests independent
of the scorecard while exercising every mapped type.
"""

from __future__ import annotations

import hashlib

import pandas as pd

BANDS = ((80, "green"), (60, "yellow"), (40, "orange"), (0, "red"))
PHASES = ("onboarding", "adoption", "expansion", "maturity", "renewal")
SEGMENTS = ("S", "A", "B", "C")
CHURN = ("competitor", "deliveries_drop", "no_login_60d", "score_drop", "tickets_rising")


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def band(score: int) -> str:
    return next(name for low, name in BANDS if score >= low)


def synthetic_result(
    account_ids: list[str], *, seed: int = 1, changed: set[str] = frozenset()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, signals) for ``account_ids``; accounts in ``changed`` get a different score."""
    rows, signals = [], []
    for account_id in account_ids:
        h = _h(f"{seed}:{account_id}")
        usage, engagement = (h % 3) * 12.5, (h // 3 % 4) * 10.0
        outcome = [5.0, 12.0, 20.0, None][h // 12 % 4]
        contract = [5.0, 7.0, 10.0][h // 48 % 3]
        score = int(usage + engagement + (outcome or 0) + contract)
        if account_id in changed:
            score = max(0, score - 7)
        codes = sorted(c for i, c in enumerate(CHURN) if (h >> (20 + i)) % 9 == 0)
        if band(score) == "red":
            codes = sorted({*codes, "red_band"})
        rows.append(
            {
                "account_id": account_id,
                "health_score": score,
                "health_band": band(score),
                "usage_points": usage,
                "engagement_points": engagement,
                "outcome_points": outcome,
                "contract_points": contract,
                "health_trend": float(h // 7 % 21 - 10) if h % 5 else None,
                "lifecycle_phase": PHASES[h // 144 % 5],
                "segment": SEGMENTS[h // 720 % 4],
                "churn_signals": ";".join(codes),
                "explanation": f"usage {usage}/40, engagement {engagement}/30",
            }
        )
        severity = {"competitor": "high", "no_login_60d": "high", "red_band": "high"}
        for code in codes:
            signals.append((account_id, code, "churn", severity.get(code, "medium")))
    scores = pd.DataFrame(rows)
    scores["health_score"] = scores["health_score"].astype("Int64")
    return scores, pd.DataFrame(signals, columns=["account_id", "code", "kind", "severity"])
