"""Churned and at-risk customers: who left (and when and why), who says they might.

Seed 001 §1 targets a churn rate of at most 10 %; the sample book loses ``CHURN_SHARE`` (6 %)
of its accounts over the 12 months before ``as_of``, each on its renewal date (the contract
was not renewed), with a reason from the recovery playbook of seed 001 §3.3. A further
``AT_RISK_SHARE`` (3 %) of accounts, chosen among those that already show a risk (declining,
idle, ticket spike, competitor), have told their CSM why they may leave: ``Churn_Reason__c``
is set but ``Churn_Date__c`` is empty, which is what the recovery-playbook Tasks act on.

Values are the API names of the ``Churn_Reason__c`` picklist in deploy/salesforce.
"""

from __future__ import annotations

import numpy as np

CHURN_REASONS = ("cost", "missing_feature", "contact_change", "competitor", "project_ended")
# cost and ended projects are the usual reasons; a changed contact the rarest
_CHURN_REASON_P = np.array([0.30, 0.20, 0.10, 0.15, 0.25])
CHURN_SHARE = 0.06
AT_RISK_SHARE = 0.03
_RISKY = ("declining", "idle", "ticket_spike", "competitor")
_WINDOW_DAYS = 360  # churn dates lie 3..360 days before as_of


def pick_churned(
    rng: np.random.Generator, tier: np.ndarray, protected: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Choose the churned accounts and their churn date as days before ``as_of``.

    Exactly ``round(CHURN_SHARE * n)`` accounts (at least one in a book of 20 or more), S tier
    half as likely as the others; accounts in ``protected`` (the spots that keep every
    archetype and phase present) are never chosen. Returns (mask, days_ago; 0 = not churned).
    """
    n = len(tier)
    count = int(round(CHURN_SHARE * n))
    if n >= 20:
        count = max(count, 1)
    weight = np.where(tier == "S", 0.5, 1.0)
    weight[protected] = 0.0
    churned = np.zeros(n, dtype=bool)
    candidates = np.flatnonzero(weight > 0)
    count = min(count, len(candidates))
    if count:
        p = weight[candidates] / weight[candidates].sum()
        churned[rng.choice(candidates, count, replace=False, p=p)] = True
    days_ago = np.zeros(n, dtype=np.int64)
    days_ago[churned] = rng.integers(3, _WINDOW_DAYS + 1, churned.sum())
    return churned, days_ago


def churn_reasons(
    rng: np.random.Generator, archetype: np.ndarray, churned: np.ndarray
) -> np.ndarray:
    """``Churn_Reason__c`` per account (object array, None = not set).

    Every churned account has a reason; ``round(AT_RISK_SHARE * n)`` risky accounts that have
    not churned have one too (a competitor-evaluating account names ``competitor``).
    """
    n = len(archetype)
    reason = np.full(n, None, dtype=object)
    options = np.asarray(CHURN_REASONS, dtype=object)
    reason[churned] = options[rng.choice(len(options), churned.sum(), p=_CHURN_REASON_P)]
    risky = np.flatnonzero(np.isin(archetype, _RISKY) & ~churned)
    count = min(int(round(AT_RISK_SHARE * n)), len(risky))
    at_risk = rng.permutation(risky)[:count]
    not_competitor = options[options != "competitor"]
    reason[at_risk] = not_competitor[rng.integers(0, len(not_competitor), count)]
    reason[at_risk[archetype[at_risk] == "competitor"]] = "competitor"
    return reason
