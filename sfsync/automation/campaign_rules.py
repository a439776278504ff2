"""Campaign membership rules for marketing automation (seed 000, issue 13): the YAML model
and the pure evaluation.

Account Engagement (Pardot), Marketo and HubSpot all sync Campaign membership from Salesforce,
so a tech-touch mail is wired as "a contact joins Campaign X" (docs/MARKETING_AUTOMATION.md).
``mappings/campaigns.yaml`` (``write.campaigns`` of the job) lists the rules; each names a
Campaign (by Name, or by its Id ``701…``), the member status, which accounts (``when``, and
optionally their ``touch_models``) and which of their contacts (every contact, or those whose
``CS_Contact_Role__c`` is one of ``roles``; contacts who opted out of email are skipped unless
``skip_opted_out: false``).

``when`` (``kind``; the as-of date A, the contract start C):

- ``contract_day``: step mails; ``day`` <= A − C in days <= ``until_day`` (default ``day`` + 14,
  so that a night without a run, or a contact added a few days late, still joins);
- ``tutorial_completed``: the trigger mail; the tutorial was completed (``Tutorial_Completed_At__c``)
  on or before A and at most ``within_days`` (default 14) before it;
- ``customer``: every scored account whose contract started at least ``min_contract_days``
  (default 0) before A (an account without a contract start counts when that is 0): monthly tips;
- ``signal``: the account has the active signal ``signal`` (e.g. ``content_interest_rising``
  for release notices to accounts that showed interest);
- ``renewal_reminder``: ``Renewal_Reminder_Date__c`` (renewal date − the playbook's
  ``renewal.lead_months``) <= A <= the renewal date.

**Campaign period.** A contact is a member of a Campaign once (the platform's rule, and what
sfsync keys on), so the Campaign is the period: a rule with a fixed Campaign adds a contact
once ever. A rule that recurs names a Campaign per period with ``{month}`` (``YYYY-MM`` of A)
or ``{year}`` (``YYYY``) in the name, e.g. ``"テックタッチ: 月次Tipsメール {month}"``: each month
is a new Campaign, so each contact joins each month's once. The marketing team creates the
period Campaigns ahead (they are usually children of a series Campaign).

:func:`eligible_accounts` (which accounts each rule wants today) and :func:`member_rows`
(which of their contacts) are pure; the Salesforce reads and the insert plan are in
:mod:`sfsync.automation.campaign_stage` and :mod:`sfsync.salesforce.campaign_members`.
"""

from __future__ import annotations

import re
import string
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from sfsync.automation.touch import TouchModel
from sfsync.catalogue import SIGNALS_BY_CODE
from sfsync.configfile import StrictModel, load_model
from sfsync.salesforce.campaign_members import CampaignTarget

DEFAULT_WINDOW_DAYS = 14
PLACEHOLDERS = {"month": "%Y-%m", "year": "%Y"}
CAMPAIGN_ID = re.compile(r"701[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?")
RULE_NAME = re.compile(r"[a-z][a-z0-9_]*")
ELIGIBLE_COLUMNS = ("rule", "account_id")
MEMBER_COLUMNS = ("rule", "account_id", "contact_id")
FACT_COLUMNS = (
    "account_id",
    "touch_model",
    "contract_start",
    "renewal_date",
    "renewal_reminder_date",
    "tutorial_completed_at",
)


class ContractDay(StrictModel):
    """Step mail: from day ``day`` after the contract start (0 = the start) to ``until_day``."""

    kind: Literal["contract_day"]
    day: int = Field(ge=0)
    until_day: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ContractDay:
        if self.until_day is not None and self.until_day < self.day:
            raise ValueError(f"until_day ({self.until_day}) must not be before day ({self.day})")
        return self

    @property
    def last_day(self) -> int:
        """The last day after the contract start on which the rule applies."""
        return self.until_day if self.until_day is not None else self.day + DEFAULT_WINDOW_DAYS


class TutorialCompleted(StrictModel):
    """Trigger mail: the tutorial was completed at most ``within_days`` ago."""

    kind: Literal["tutorial_completed"]
    within_days: int = Field(default=DEFAULT_WINDOW_DAYS, ge=0)


class Customer(StrictModel):
    """Every scored account whose contract is at least ``min_contract_days`` old."""

    kind: Literal["customer"]
    min_contract_days: int = Field(default=0, ge=0)


class SignalActive(StrictModel):
    """The account has the active signal ``signal`` (a code of the signal catalogue)."""

    kind: Literal["signal"]
    signal: str

    @field_validator("signal")
    @classmethod
    def _known(cls, code: str) -> str:
        if code not in SIGNALS_BY_CODE:
            raise ValueError(
                f"unknown signal {code!r}; signals: {', '.join(sorted(SIGNALS_BY_CODE))}"
            )
        return code


class RenewalReminder(StrictModel):
    """From ``Renewal_Reminder_Date__c`` up to the renewal date."""

    kind: Literal["renewal_reminder"]


When = Annotated[
    ContractDay | TutorialCompleted | Customer | SignalActive | RenewalReminder,
    Field(discriminator="kind"),
]


class CampaignRule(StrictModel):
    """One rule: which contacts of which accounts join which Campaign, with which status."""

    campaign: str = Field(min_length=1, max_length=80)  # a Campaign Name (80) or Id
    status: str = Field(default="Sent", min_length=1, max_length=40)
    when: When
    roles: list[str] = []  # CS_Contact_Role__c values; empty: every contact of the account
    touch_models: list[TouchModel] = []  # empty: every touch model
    skip_opted_out: bool = True  # contacts with HasOptedOutOfEmail are not added

    @field_validator("campaign")
    @classmethod
    def _placeholders(cls, name: str) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(name) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{exc} (write a literal brace as {{{{ or }}}})") from None
        unknown = [f for f in fields if f not in PLACEHOLDERS]
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{unknown[0]}}}; the campaign name may use "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )
        if fields and CAMPAIGN_ID.fullmatch(name.format(month="", year="")):
            raise ValueError("a Campaign Id takes no placeholder; name the Campaign instead")
        return name

    @property
    def periodic(self) -> bool:
        """The Campaign name has a ``{month}`` or ``{year}`` placeholder (a Campaign per period)."""
        return any(field for _, field, _, _ in string.Formatter().parse(self.campaign))

    @property
    def by_id(self) -> bool:
        """The rule names its Campaign by Id (15 or 18 characters, prefix 701)."""
        return CAMPAIGN_ID.fullmatch(self.campaign) is not None

    def campaign_on(self, as_of: date) -> str:
        """The Campaign Name (or Id) of the period containing ``as_of``."""
        return self.campaign.format(**{k: as_of.strftime(f) for k, f in PLACEHOLDERS.items()})


class CampaignRules(StrictModel):
    """``mappings/campaigns.yaml``: the rules, by name (the name keys the run's results)."""

    rules: dict[str, CampaignRule] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _names(cls, rules: dict[str, CampaignRule]) -> dict[str, CampaignRule]:
        bad = [name for name in rules if not RULE_NAME.fullmatch(name)]
        if bad:
            raise ValueError(
                f"rule name {bad[0]!r}: use lower-case letters, digits and _ (it starts a "
                "member's key in the plan)"
            )
        return rules


def load_campaign_rules(path: str | Path) -> CampaignRules:
    """Load and validate the rules; every problem is reported with file and key path."""
    return load_model(path, CampaignRules)


def rule_targets(rules: CampaignRules, as_of: date) -> list[CampaignTarget]:
    """Every rule's Campaign of the period containing ``as_of``, in file order."""
    return [
        CampaignTarget(name, rule.campaign_on(as_of), rule.by_id, rule.status, tuple(rule.roles))
        for name, rule in rules.rules.items()
    ]


def _days_since(dates: pd.Series, as_of: date) -> pd.Series:
    return (pd.Timestamp(as_of) - pd.to_datetime(dates, errors="coerce")).dt.days


def _applies(when: When, facts: pd.DataFrame, signals: pd.DataFrame | None, as_of: date):
    as_of_ts = pd.Timestamp(as_of)
    if isinstance(when, ContractDay):
        age = _days_since(facts["contract_start"], as_of)
        return (age >= when.day) & (age <= when.last_day)
    if isinstance(when, TutorialCompleted):
        ago = _days_since(facts["tutorial_completed_at"], as_of)
        return (ago >= 0) & (ago <= when.within_days)
    if isinstance(when, Customer):
        age = _days_since(facts["contract_start"], as_of)
        return (age >= when.min_contract_days) | (age.isna() & (when.min_contract_days == 0))
    if isinstance(when, SignalActive):
        if signals is None or signals.empty:
            return pd.Series(False, index=facts.index)
        having = signals.loc[signals["code"] == when.signal, "account_id"].astype(str)
        return facts["account_id"].astype(str).isin(set(having))
    reminder = pd.to_datetime(facts["renewal_reminder_date"], errors="coerce")
    renewal = pd.to_datetime(facts["renewal_date"], errors="coerce")
    return (reminder <= as_of_ts) & (as_of_ts <= renewal)


def eligible_accounts(
    facts: pd.DataFrame, signals: pd.DataFrame | None, rules: CampaignRules, as_of: date
) -> pd.DataFrame:
    """``rule``, ``account_id`` of every account each rule wants as of ``as_of`` (rule order,
    then account order).

    ``facts``: one row per scored account with :data:`FACT_COLUMNS`; ``signals``: the run's
    active signals (``account_id``, ``code``)."""
    facts = facts.reset_index(drop=True)
    parts = []
    for name, rule in rules.rules.items():
        mask = _applies(rule.when, facts, signals, as_of).fillna(False).astype(bool)
        if rule.touch_models:
            mask &= facts["touch_model"].isin(rule.touch_models).fillna(False).astype(bool)
        ids = facts.loc[mask.to_numpy(), "account_id"].astype(str)
        parts.append(pd.DataFrame({"rule": name, "account_id": ids.to_numpy()}))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ELIGIBLE_COLUMNS})
    return pd.concat(parts, ignore_index=True).astype("object")


def _rule_order(column: pd.Series, rules: CampaignRules) -> pd.Series:
    """A sort key: a rule's position in the rules file for the ``rule`` column (other columns
    as they are)."""
    if column.name != "rule":
        return column
    codes = pd.Categorical(column, categories=list(rules.rules)).codes
    return pd.Series(codes, index=column.index)


def member_rows(
    eligible: pd.DataFrame, contacts: pd.DataFrame, rules: CampaignRules
) -> pd.DataFrame:
    """``rule``, ``account_id``, ``contact_id``: the contacts of the eligible accounts each rule
    adds (its ``roles``; opted-out contacts skipped unless the rule says otherwise), rule order,
    then contact Id order. ``contacts``: ``contact_id``, ``account_id``, ``role``, ``opted_out``."""
    empty = pd.DataFrame({c: pd.Series(dtype="object") for c in MEMBER_COLUMNS})
    if eligible.empty or contacts.empty:
        return empty
    joined = eligible.merge(contacts, on="account_id", how="inner")
    keep = pd.Series(True, index=joined.index)
    for name, rule in rules.rules.items():
        mine = joined["rule"] == name
        if rule.roles:
            keep &= ~mine | joined["role"].isin(rule.roles).fillna(False).astype(bool)
        if rule.skip_opted_out:
            keep &= ~mine | ~joined["opted_out"].fillna(False).astype(bool)
    out = joined.loc[keep.to_numpy(), list(MEMBER_COLUMNS)]
    out = out.sort_values(["rule", "contact_id"], key=lambda c: _rule_order(c, rules))
    return out.reset_index(drop=True).astype("object") if len(out) else empty


def campaign_facts(desired: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """:data:`FACT_COLUMNS` of the scored accounts: the touch model and trigger fields of the
    desired Account fields, the contract and renewal dates of the canonical accounts."""
    dates = [c for c in ("contract_start", "renewal_date") if c in accounts.columns]
    info = accounts[["account_id", *dates]].drop_duplicates("account_id")
    info = info.astype({"account_id": "string"})
    own = [c for c in FACT_COLUMNS if c in desired.columns and c not in dates]
    facts = desired[own].astype({"account_id": "string"}).merge(info, on="account_id", how="left")
    for column in FACT_COLUMNS:
        if column not in facts.columns:
            facts[column] = pd.NaT if column != "touch_model" else None
    return facts[list(FACT_COLUMNS)]
