"""The CS playbook as configuration: thresholds, schedules, caps, snooze and KPI targets.

Loaded from ``mappings/playbook.yaml`` (see the comments there for what every key means).
Everything the automation decides by a number comes from here, so that RevOps can tune it
without code.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from sfsync.automation.touch import TouchModelPolicy
from sfsync.catalogue import SEGMENTS, UPSELL_CODES, Severity
from sfsync.configfile import StrictModel, load_model

Priority = Literal["High", "Normal", "Low"]


class SegmentPolicy(StrictModel):
    """Touch cadence and owner capacity of one segment (SPEC §5)."""

    cadence_days: int = Field(gt=0)
    cap: int = Field(gt=0)


class OnboardingPolicy(StrictModel):
    """Offsets (days) of onboarding steps 0-4 and the 3-month completion check (seed 001 §3.1)."""

    setup_due_days: int = Field(default=3, ge=0)
    kickoff_due_days: int = Field(default=7, ge=0)
    video_open_days: int = Field(default=7, ge=0)
    pre_delivery_lead_days: int = Field(default=7, ge=0)
    pre_delivery_open_days: int = Field(default=14, ge=0)
    review_due_days: int = Field(default=7, ge=0)
    planned_first_delivery_days: int = Field(default=30, gt=0)
    complete_check_months: int = Field(default=3, gt=0)
    complete_open_days: int = Field(default=7, ge=0)
    late_grace_days: int = Field(default=14, ge=0)
    priority: Priority = "Normal"
    # Onboarding_Step__c: a completed activity of these types (case-insensitive) on or after the
    # contract start means the kickoff was held (sfsync.automation.trigger_fields)
    kickoff_held_types: list[str] = Field(default=["meeting"], min_length=1)

    @model_validator(mode="after")
    def _lead_before_open(self) -> OnboardingPolicy:
        if self.pre_delivery_open_days < self.pre_delivery_lead_days:
            raise ValueError("pre_delivery_open_days must be >= pre_delivery_lead_days")
        return self


class QbrSegmentPolicy(StrictModel):
    priority: Priority
    required: bool


class QbrPolicy(StrictModel):
    """A QBR Task per fiscal quarter for the listed segments."""

    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    due_days_before_quarter_end: int = Field(default=0, ge=0)
    segments: dict[Literal["S", "A", "B", "C"], QbrSegmentPolicy]
    # Activity types (case-insensitive) that count as "QBR held" this quarter: no QBR Task is
    # created, and an open one sfsync created is closed (SPEC §10 "meeting held this quarter").
    held_types: list[str] = Field(default=["qbr", "meeting"], min_length=1)


class RenewalPolicy(StrictModel):
    lead_months: int = Field(default=2, gt=0)
    due_days: int = Field(default=7, ge=0)
    priority: Priority = "High"


class TouchPolicy(StrictModel):
    due_days: int = Field(default=7, ge=0)
    priority: Priority = "Normal"


class HandoverPolicy(StrictModel):
    due_days: int = Field(default=7, ge=0)
    priority: Priority = "High"


class RecoveryPolicy(StrictModel):
    """Recovery playbooks by churn reason (seed 001 §3.3)."""

    reason_column: str = "churn_reason"
    salesforce_field: str = "Churn_Reason__c"
    reasons: dict[str, list[str]]
    competitor_signal: str | None = "competitor"
    priority: Priority = "High"


class UrgentMeetingPolicy(StrictModel):
    """Seed 001 §5.2 緊急対応MTG: a new churn signal of these severities on an account of
    ``alerts.escalate_segments`` or ``alerts.escalate_bands`` gives the owner's manager a Task
    due the next business day (24 hours on a weekday), key ``urgent:<account>:<scoring month>``."""

    enabled: bool = True
    severities: list[Severity] = ["high"]
    due_business_days: int = Field(default=1, ge=0)
    priority: Priority = "High"


class AlertPolicy(StrictModel):
    snooze_days: int = Field(default=14, ge=0)
    severities: list[Severity] = ["high", "medium"]
    escalate_segments: list[Literal["S", "A", "B", "C"]] = ["S"]
    escalate_bands: list[Literal["green", "yellow", "orange", "red"]] = ["red"]
    due_hours: int = Field(default=48, gt=0)
    urgent_meeting: UrgentMeetingPolicy = UrgentMeetingPolicy()
    digest_top: int = Field(default=10, ge=1, le=50)  # accounts listed in an owner's digest
    # more owners with news than this: their digests share messages (at most this many)
    owner_messages_max: int = Field(default=20, ge=1, le=500)


class KpiTargets(StrictModel):
    """Targets of SPEC §7 and the windows the KPIs are measured over."""

    churn_rate_max: float = 0.10
    nrr_min: float = 1.00
    average_score_min: float = 70
    red_share_max: float = 0.05
    active_rate_min: float = 0.80
    cadence_achievement_min: float = 0.90
    meetings_per_account_min: float = 0.5
    qbr_rate_min: float = 0.80
    onboarding_completion_min: float = 1.00
    upsell_proposals_min: int = 10
    churn_window_months: int = Field(default=12, gt=0)
    nrr_months: int = Field(default=3, gt=0)
    churn_date_column: str = "churned_on"
    upsell_codes: list[str] = list(UPSELL_CODES)
    trend_months: int = Field(default=6, gt=0)
    # churn rate: "trailing_months" = churned in the churn_window_months up to the month over
    # the accounts active at the window start; "contract_years" (seed 001 §1.1) = contracted
    # accounts that churned within churn_contract_years of their contract start over all
    # contracted accounts
    churn_definition: Literal["trailing_months", "contract_years"] = "trailing_months"
    churn_contract_years: int = Field(default=2, gt=0)
    # NRR: "arr_snapshots" = the ARR kept in the nightly score snapshots; "mrr" = an MRR file
    nrr_source: Literal["arr_snapshots", "mrr"] = "arr_snapshots"
    touch_hours: float = Field(default=48, gt=0)  # the 48-hour rule
    touch_within_48h_min: float = Field(default=0.90, ge=0, le=1)
    median_hours_to_touch_max: float = Field(default=48, gt=0)


class TaskDuePolicy(StrictModel):
    """No Task is born overdue (SPEC §10): a follow-up whose scheduled due date has already
    passed is due this many business days (Mon-Fri) after the as-of date instead."""

    grace_business_days: int = Field(default=3, ge=0)


class RampStep(StrictModel):
    """From ``start`` on, the person's cap is ``cap`` (until the next step)."""

    start: date
    cap: int = Field(gt=0)


class PersonCapacity(StrictModel):
    """One person's cap (accounts), optionally ramping up (a new hire), and the segments the
    person can take over in reassignment suggestions (empty: any)."""

    user: str = Field(min_length=1)  # Salesforce username (or email) or User Id
    cap: int = Field(gt=0)
    ramp: list[RampStep] = []
    segments: list[Literal["S", "A", "B", "C"]] = []

    @model_validator(mode="after")
    def _ramp_in_order(self) -> PersonCapacity:
        starts = [step.start for step in self.ramp]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("ramp steps must have increasing start dates")
        return self

    def cap_on(self, day: date) -> int:
        """The cap in effect on ``day``: the latest ramp step started by then (the first step
        before it starts), else ``cap``."""
        if not self.ramp:
            return self.cap
        current = self.ramp[0].cap
        for step in self.ramp:
            if step.start <= day:
                current = step.cap
        return current


class CapacityPolicy(StrictModel):
    """Per-person caps (seed 001 §4.1) and reassignment suggestions."""

    people: list[PersonCapacity] = []
    max_suggestions: int = Field(default=10, ge=0)

    @model_validator(mode="after")
    def _unique_people(self) -> CapacityPolicy:
        seen = [p.user.casefold() for p in self.people]
        duplicates = sorted({u for u in seen if seen.count(u) > 1})
        if duplicates:
            raise ValueError(f"people listed twice: {', '.join(duplicates)}")
        return self


class TaskLimitPolicy(StrictModel):
    """At most ``per_owner_per_day`` new Tasks per owner and as-of day (None: unlimited); the
    rest wait for a later night, ranked by severity, segment and ARR. With ``exempt_urgent``
    High-priority signal Tasks of S-segment accounts are always created (and still count)."""

    per_owner_per_day: int | None = Field(default=10, ge=1)
    exempt_urgent: bool = True


class Playbook(StrictModel):
    segments: dict[Literal["S", "A", "B", "C"], SegmentPolicy]
    overall_cap: int = Field(default=30, gt=0)
    onboarding: OnboardingPolicy = OnboardingPolicy()
    qbr: QbrPolicy
    renewal: RenewalPolicy = RenewalPolicy()
    touch: TouchPolicy = TouchPolicy()
    handover: HandoverPolicy = HandoverPolicy()
    recovery: RecoveryPolicy
    alerts: AlertPolicy = AlertPolicy()
    kpi: KpiTargets = KpiTargets()
    task_due: TaskDuePolicy = TaskDuePolicy()
    capacity: CapacityPolicy = CapacityPolicy()
    task_limit: TaskLimitPolicy = TaskLimitPolicy()
    touch_model: TouchModelPolicy = TouchModelPolicy()

    @model_validator(mode="after")
    def _all_segments(self) -> Playbook:
        missing = [s for s in SEGMENTS if s not in self.segments]
        if missing:
            raise ValueError(f"segments must define S, A, B and C (missing {', '.join(missing)})")
        return self


DEFAULT_PLAYBOOK = Path("mappings/playbook.yaml")


def load_playbook(path: str | Path = DEFAULT_PLAYBOOK) -> Playbook:
    """Load and validate the playbook; every problem is reported with file and key path."""
    return load_model(path, Playbook)
