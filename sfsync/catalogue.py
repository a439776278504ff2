"""The domain's fixed vocabularies, defined once: signal codes, bands, phases, segments.

Every module that needs a signal code, its kind (churn or upsell), its default severity or the
template keys of its labels reads it from here: the rules that raise signals
(``scoring/rules.py``), the mapping validation of picklist values (``salesforce/mapping.py``),
Task building (``salesforce/tasks.py``), the playbook's KPI codes (``automation/playbook.py``),
Slack labels (``notify/messages.py``). A test checks that the Salesforce picklist metadata in
``deploy/salesforce`` lists exactly these codes.

Codes are API values (SPEC §10): they appear in Salesforce picklists, Task keys
(``signal:<code>:<account>:<YYYY-MM>``), the state store and ``sfsync score`` output, so a code
is never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SignalKind = Literal["churn", "upsell"]
Severity = Literal["high", "medium", "low"]

SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")
SLACK_SECTION = "slack"
TASK_SECTION = "tasks"


@dataclass(frozen=True)
class SignalSpec:
    """One signal code.

    ``severity`` is the default (``mappings/rules.yaml`` may override it per rule). ``rule`` is
    False for a code SPEC §6 names but no rule raises yet: it is a valid picklist value and has
    a Slack label, but nothing produces it (none today).
    """

    code: str
    kind: SignalKind
    severity: Severity
    rule: bool = True

    @property
    def slack_label_key(self) -> str:
        """Key of the signal's label in the ``slack`` template section (field ``label``)."""
        return slack_label_key(self.code)

    @property
    def task_template_key(self) -> str:
        """Key of the signal Task's subject and description in the ``tasks`` section."""
        return task_template_key(self.code)


SIGNALS: tuple[SignalSpec, ...] = (
    SignalSpec("competitor", "churn", "high"),
    # seed 001 §3.3 rates it low–medium; medium so that it makes a Task (re-onboard the new
    # contact, recovery playbook) and a Slack notice by default; rules.yaml may lower it.
    SignalSpec("contact_changed", "churn", "medium"),
    SignalSpec("deliveries_drop", "churn", "medium"),
    SignalSpec("email_engagement_falling", "churn", "medium"),
    SignalSpec("no_login_60d", "churn", "high"),
    SignalSpec("onboarding_videos_unwatched", "churn", "low"),
    SignalSpec("red_band", "churn", "high"),
    SignalSpec("score_drop", "churn", "medium"),
    SignalSpec("tickets_rising", "churn", "medium"),
    SignalSpec("tutorial_not_completed", "churn", "medium"),
    SignalSpec("content_interest_rising", "upsell", "low"),
    SignalSpec("deliveries_rising", "upsell", "low"),
    SignalSpec("expansion_proposal", "upsell", "low"),
    SignalSpec("near_plan_limit", "upsell", "low"),
)
SIGNALS_BY_CODE: dict[str, SignalSpec] = {s.code: s for s in SIGNALS}
# The tech-touch engagement signals (seed 000): raised from the engagement logs, they create
# Tasks only for accounts whose touch model has a person on it; the others get them as
# triggers (``Tech_Touch_Triggers__c``) for marketing automation and Flow.
ENGAGEMENT_CODES: tuple[str, ...] = (
    "content_interest_rising",
    "email_engagement_falling",
    "onboarding_videos_unwatched",
    "tutorial_not_completed",
)
# Touch models from most to least personal (seed 000 step 3).
TOUCH_MODELS: tuple[str, ...] = ("high", "mid", "low", "tech")

# Codes a rule can raise, alphabetical (the order of the ``;``-joined output columns).
CHURN_CODES: tuple[str, ...] = tuple(
    sorted(s.code for s in SIGNALS if s.kind == "churn" and s.rule)
)
UPSELL_CODES: tuple[str, ...] = tuple(
    sorted(s.code for s in SIGNALS if s.kind == "upsell" and s.rule)
)
# Every churn code, including those no rule raises yet: the ``Churn_Signals__c`` picklist.
CHURN_PICKLIST_CODES: tuple[str, ...] = tuple(sorted(s.code for s in SIGNALS if s.kind == "churn"))


def signal(code: str) -> SignalSpec:
    """The catalogue entry of ``code`` (KeyError naming the known codes when unknown)."""
    try:
        return SIGNALS_BY_CODE[code]
    except KeyError:
        raise KeyError(
            f"unknown signal code {code!r}; known: {', '.join(SIGNALS_BY_CODE)}"
        ) from None


def signal_kind(code: str) -> SignalKind:
    """``churn`` or ``upsell``; a code outside the catalogue counts as upsell (informational)."""
    spec = SIGNALS_BY_CODE.get(code)
    return spec.kind if spec else "upsell"


def default_severity(code: str) -> Severity:
    """The default severity of ``code``; ``low`` for a code outside the catalogue."""
    spec = SIGNALS_BY_CODE.get(code)
    return spec.severity if spec else "low"


def slack_label_key(code: str) -> str:
    """Key of a signal's label in the ``slack`` template section (also for unknown codes)."""
    return f"signal_{code}"


def task_template_key(code: str) -> str:
    """Key of a signal Task's texts in the ``tasks`` template section: ``signal.<code>``."""
    return f"signal.{code}"


# Health bands from best to worst (SPEC §10: 80–100 green, 60–79 yellow, 40–59 orange, 0–39 red).
BANDS: tuple[str, ...] = ("green", "yellow", "orange", "red")
# Lifecycle phases in life order; ``renewal`` overrides the others (SPEC §5).
PHASES: tuple[str, ...] = ("onboarding", "adoption", "expansion", "maturity", "renewal")
# Customer-success segments from most to least touch (SPEC §5).
SEGMENTS: tuple[str, ...] = ("S", "A", "B", "C")
# Direction of the health score against the trend baseline (Health_Direction__c).
DIRECTIONS: tuple[str, ...] = ("up", "flat", "down")
