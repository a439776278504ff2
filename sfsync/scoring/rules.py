"""Segments, lifecycle phases, churn and upsell signals (SPEC §5, §6, §10), vectorised.

Thresholds come from :class:`Rules` (``mappings/rules.yaml``); the defaults are SPEC §10's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pydantic import Field

from sfsync.calendar import latest_shifted_on_or_before
from sfsync.catalogue import Severity, default_severity, signal_kind
from sfsync.configfile import StrictModel


class SegmentRules(StrictModel):
    s_min_arr: float = 5_000_000
    s_if_enterprise: bool = True
    a_min_arr: float = 1_000_000
    c_below_login_days: float = 2  # C when login days in the scoring month are below this


class PhaseRules(StrictModel):
    renewal_months_before: int = Field(default=2, ge=0)
    onboarding_below_months: int = 3
    adoption_below_months: int = 6
    expansion_below_months: int = 12


class _Signal(StrictModel):
    enabled: bool = True


class NoLoginRule(_Signal):
    severity: Severity = default_severity("no_login_60d")
    days: int = 60
    min_contract_age_days: int = 60


class DeliveriesDropRule(_Signal):
    severity: Severity = default_severity("deliveries_drop")
    max_ratio: float = 0.5


class TicketsRisingRule(_Signal):
    severity: Severity = default_severity("tickets_rising")
    min_tickets: float = 3
    min_ratio: float = 2.0


class CompetitorRule(_Signal):
    severity: Severity = default_severity("competitor")


class ContactChangedRule(_Signal):
    """The Account's main-contact field (column ``main_contact_id``) differs from the value
    stored with the previous run's snapshot (seed 001 §3.3 "担当者変更"). Never raised on a
    first run, nor when either value is unknown."""

    severity: Severity = default_severity("contact_changed")


class RedBandRule(_Signal):
    severity: Severity = default_severity("red_band")
    band: str = "red"


class ScoreDropRule(_Signal):
    severity: Severity = default_severity("score_drop")
    points: float = 15


class NearPlanLimitRule(_Signal):
    severity: Severity = default_severity("near_plan_limit")
    min_ratio: float = 0.8


class DeliveriesRisingRule(_Signal):
    severity: Severity = default_severity("deliveries_rising")
    min_ratio: float = 1.5
    min_deliveries: float = 3


class ExpansionProposalRule(_Signal):
    """Green band in the expansion phase (seed 001 §2.3, §3.4): time to propose an expansion.

    On by default (issue 12): an upsell signal like ``near_plan_limit`` and
    ``deliveries_rising``, written to ``Upsell_Signals__c`` with a proposal Task.
    """

    enabled: bool = True
    severity: Severity = default_severity("expansion_proposal")
    band: str = "green"
    phase: str = "expansion"


class TutorialNotCompletedRule(_Signal):
    """Tutorial not completed ``days`` after contract start (seed 000: the trigger mail's
    counterpart). Accounts older than ``until_days`` no longer raise it (a years-old customer
    who skipped the tutorial is not an onboarding problem)."""

    severity: Severity = default_severity("tutorial_not_completed")
    days: int = Field(default=30, ge=0)
    until_days: int = Field(default=180, ge=0)


class OnboardingVideosRule(_Signal):
    """No video views from the contract start up to the first delivery (the month of the first
    delivery included; while there is none, up to the scoring month). Raised from
    ``min_contract_age_days`` after the contract start (the video step opens C + 7) until
    ``until_days``."""

    severity: Severity = default_severity("onboarding_videos_unwatched")
    min_contract_age_days: int = Field(default=7, ge=0)
    until_days: int = Field(default=90, ge=0)


class EmailEngagementRule(_Signal):
    """Scoring-month opens or clicks at most ``max_ratio`` x the previous ``months`` months'
    average, counted only where that average is at least ``min_average_opens`` (opens) or
    ``min_average_clicks`` (clicks): small numbers halve by chance."""

    severity: Severity = default_severity("email_engagement_falling")
    max_ratio: float = Field(default=0.5, ge=0)
    months: int = Field(default=3, ge=1, le=12)
    min_average_opens: float = Field(default=5, ge=0)
    min_average_clicks: float = Field(default=5, ge=0)


class ContentInterestRule(_Signal):
    """Upsell hint: scoring-month video + document views at least ``min_ratio`` x the previous
    ``months`` months' average and at least ``min_views``."""

    severity: Severity = default_severity("content_interest_rising")
    min_ratio: float = Field(default=1.5, gt=0)
    months: int = Field(default=3, ge=1, le=12)
    min_views: float = Field(default=10, ge=0)


class SignalRules(StrictModel):
    no_login_60d: NoLoginRule = NoLoginRule()
    deliveries_drop: DeliveriesDropRule = DeliveriesDropRule()
    tickets_rising: TicketsRisingRule = TicketsRisingRule()
    competitor: CompetitorRule = CompetitorRule()
    contact_changed: ContactChangedRule = ContactChangedRule()
    red_band: RedBandRule = RedBandRule()
    score_drop: ScoreDropRule = ScoreDropRule()
    near_plan_limit: NearPlanLimitRule = NearPlanLimitRule()
    deliveries_rising: DeliveriesRisingRule = DeliveriesRisingRule()
    expansion_proposal: ExpansionProposalRule = ExpansionProposalRule()
    tutorial_not_completed: TutorialNotCompletedRule = TutorialNotCompletedRule()
    onboarding_videos_unwatched: OnboardingVideosRule = OnboardingVideosRule()
    email_engagement_falling: EmailEngagementRule = EmailEngagementRule()
    content_interest_rising: ContentInterestRule = ContentInterestRule()


class Rules(StrictModel):
    segments: SegmentRules = SegmentRules()
    phases: PhaseRules = PhaseRules()
    signals: SignalRules = SignalRules()


@dataclass(frozen=True)
class Signal:
    code: str
    kind: str  # churn | upsell
    severity: str
    active: np.ndarray  # bool per account


def _truthy(values) -> np.ndarray:
    return pd.array(values, dtype="boolean").fillna(False).to_numpy(dtype=bool)


SEGMENTS = ["S", "A", "C", "B"]
PHASES = ["renewal", "onboarding", "adoption", "expansion", "maturity", None]


def segment(frame: pd.DataFrame, linked: np.ndarray, rules: SegmentRules) -> np.ndarray:
    """Index into :data:`SEGMENTS` per account (SPEC §10). Missing ARR counts as 0; an
    account without tenant is never C."""
    arr = np.nan_to_num(frame["arr"].to_numpy(dtype=np.float64), nan=0.0)
    enterprise = _truthy(frame["is_enterprise"]) & rules.s_if_enterprise
    logins = frame["login_days_this_month"].to_numpy(dtype=np.float64)
    low_usage = linked & (np.nan_to_num(logins, nan=0.0) < rules.c_below_login_days)
    conditions = [(arr >= rules.s_min_arr) | enterprise, arr >= rules.a_min_arr, low_usage]
    return np.select(conditions, [0, 1, 2], default=3).astype(np.int8)


def lifecycle_phase(frame: pd.DataFrame, as_of: date, rules: PhaseRules) -> np.ndarray:
    """Index into :data:`PHASES` per account; the last (None) when there is no contract start
    and the renewal rule does not hold."""
    renewal = frame["renewal_date"].to_numpy(dtype="datetime64[D]")
    # as_of >= renewal - k months  <=>  renewal <= the latest such day (month shifts keep order)
    last_day = latest_shifted_on_or_before(as_of, rules.renewal_months_before)
    in_renewal = ~np.isnat(renewal) & (renewal <= np.datetime64(last_day, "D"))
    months = frame["months_since_contract_start"].to_numpy(dtype=np.float64)
    known = ~np.isnan(months)
    return np.select(
        [
            in_renewal,
            known & (months < rules.onboarding_below_months),
            known & (months < rules.adoption_below_months),
            known & (months < rules.expansion_below_months),
            known,
        ],
        [0, 1, 2, 3, 4],
        default=5,
    ).astype(np.int8)


def compute_signals(
    frame: pd.DataFrame,
    linked: np.ndarray,
    band: np.ndarray,
    score_change: np.ndarray,
    phase: np.ndarray,
    rules: SignalRules,
    contact_changed: np.ndarray | None = None,
) -> list[Signal]:
    """Every enabled signal with its per-account mask. ``score_change`` is current minus
    previous score (NaN without a previous score). ``contact_changed``: per account, whether
    the main contact differs from the previous snapshot's (:mod:`sfsync.scoring.contact`;
    None: never)."""

    def col(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=np.float64)

    out: list[Signal] = []

    def add(code: str, rule, mask: np.ndarray) -> None:
        if rule.enabled:
            out.append(Signal(code, signal_kind(code), rule.severity, np.asarray(mask, dtype=bool)))

    r = rules.no_login_60d
    contract_age = col("days_since_contract_start")
    since_login = col("days_since_last_login")
    old_enough = np.isnan(contract_age) | (contract_age >= r.min_contract_age_days)
    idle = np.isnan(since_login) | (since_login >= r.days)
    add("no_login_60d", r, linked & old_enough & idle)

    this, prev = col("deliveries_this_month"), col("deliveries_previous_month")
    with np.errstate(invalid="ignore"):
        r = rules.deliveries_drop
        add("deliveries_drop", r, linked & (prev > 0) & (this <= r.max_ratio * prev))
        r = rules.tickets_rising
        t_this, t_prev = col("support_tickets_this_month"), col("support_tickets_previous_month")
        rising = (t_this >= r.min_tickets) & (t_this >= r.min_ratio * t_prev)
        add("tickets_rising", r, linked & rising)
        add("competitor", rules.competitor, _truthy(frame["competitor_evaluation"]))
        changed = np.zeros(len(frame), dtype=bool) if contact_changed is None else contact_changed
        add("contact_changed", rules.contact_changed, changed)
        add("red_band", rules.red_band, band == rules.red_band.band)
        add("score_drop", rules.score_drop, -score_change >= rules.score_drop.points)
        r = rules.near_plan_limit
        add("near_plan_limit", r, linked & (col("plan_usage_ratio") >= r.min_ratio))
        r = rules.deliveries_rising
        grow = (this >= r.min_ratio * prev) & (this >= r.min_deliveries)
        add("deliveries_rising", r, linked & grow)
    r = rules.expansion_proposal
    add("expansion_proposal", r, (band == r.band) & (phase == r.phase))
    return out
