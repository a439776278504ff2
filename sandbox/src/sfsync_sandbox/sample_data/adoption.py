"""Seed-000 inputs of the sample book: adoption-step checklists and market inputs per Account.

The seed-000 scorecard (``mappings/scorecards/seed000.yaml``) reads, per Account, three
adoption-step checklists that CSMs tick (job postings 5 steps, applicant management 5, paid ad
slots 4; steps are done in order) and the market inputs (main employment type hired, number of
recruiting areas, yearly job-media spend). Values follow the account's health, so that the
scorecard spreads the book over its bands the way the default scorecard does:

- the share of steps done follows the behaviour archetype (healthy, rising and near-limit
  accounts have done most steps; low-usage, idle and churned ones few) and is halved for
  accounts in their onboarding months; paid ads lag the other two areas;
- market inputs follow the tier (S accounts recruit in more areas and spend more on media)
  and the adoption (a customer that uses more of the product recruits wider and spends
  more); part-time hiring (the strongest response) is more common among healthy accounts;
- about 5 % leave the employment type and 5 % the media spend empty (not applicable: the
  score is re-normalised over what is known).

Drawn from its own generator (``rng``), so that adding these columns leaves every other sample
figure (and so every default score) as it was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CHECKLISTS = {"Postings": 5, "Management": 5, "Paid_Ads": 4}
EMPLOYMENT_TYPES = ("part-time", "contract", "full-time", "outsourcing")

# archetype -> mean share of adoption steps done
_ADOPTION = {"healthy": 0.92, "rising": 0.95, "near_limit": 0.95, "competitor": 0.65,
             "ticket_spike": 0.6, "declining": 0.5, "unlinked": 0.65, "low_usage": 0.3,
             "idle": 0.25, "churned": 0.2}  # fmt: skip
_PAID_ADS_FACTOR = 0.85
_ONBOARDING_FACTOR = 0.5
# tier -> (fewest areas, most areas, median media spend in JPY of an account that has done
# every step; one that has done none spends 60 % of it)
_MARKET = {"S": (3, 9, 10_000_000), "A": (2, 7, 8_000_000), "B": (1, 6, 6_000_000)}
_EMPTY_SHARE = 0.05


def field_name(area: str, step: int) -> str:
    """The Account checkbox of ``step`` (1-based) of checklist ``area``."""
    return f"Adoption_{area}_Step{step}__c"


def adoption_fields(
    rng: np.random.Generator, tier: np.ndarray, phase: np.ndarray, archetype: np.ndarray
) -> pd.DataFrame:
    """Per account (in input order) the checklist checkboxes and market fields, in Salesforce
    field names (``Employment_Type__c`` holds the picklist API names, None when empty)."""
    n = len(tier)
    share = pd.Series(archetype).map(_ADOPTION).fillna(0.5).to_numpy(dtype=np.float64)
    share = np.where(phase == "onboarding", share * _ONBOARDING_FACTOR, share)
    # one propensity per account, so that the three checklists agree with each other
    propensity = np.clip(share + rng.normal(0, 0.1, n), 0, 1)
    columns: dict[str, object] = {}
    for area, steps in CHECKLISTS.items():
        p = propensity * (_PAID_ADS_FACTOR if area == "Paid_Ads" else 1.0)
        done = rng.binomial(steps, np.clip(p, 0, 1))
        for step in range(1, steps + 1):
            columns[field_name(area, step)] = done >= step

    tiers = pd.Series(tier)
    low = tiers.map({t: m[0] for t, m in _MARKET.items()}).to_numpy(dtype=np.int64)
    high = tiers.map({t: m[1] for t, m in _MARKET.items()}).to_numpy(dtype=np.int64)
    # the more a customer has adopted, the wider it recruits and the more it spends on media
    areas = low + rng.binomial(high - low, 0.2 + 0.7 * propensity)
    columns["Recruiting_Area_Count__c"] = areas.astype(np.float64)
    median = tiers.map({t: m[2] for t, m in _MARKET.items()}).to_numpy(dtype=np.float64)
    spend = np.round(median * (0.6 + 0.4 * propensity) * np.exp(rng.normal(0, 0.3, n)), -4)
    spend[rng.random(n) < _EMPTY_SHARE] = np.nan
    columns["Annual_Media_Spend__c"] = spend
    healthy = propensity >= 0.6
    p_healthy, p_other = [0.6, 0.2, 0.14, 0.06], [0.35, 0.25, 0.28, 0.12]
    kinds = np.where(
        healthy,
        rng.choice(len(EMPLOYMENT_TYPES), n, p=p_healthy),
        rng.choice(len(EMPLOYMENT_TYPES), n, p=p_other),
    )
    employment = np.asarray(EMPLOYMENT_TYPES, dtype=object)[kinds]
    employment[rng.random(n) < _EMPTY_SHARE] = None
    columns["Employment_Type__c"] = employment
    return pd.DataFrame(columns)
