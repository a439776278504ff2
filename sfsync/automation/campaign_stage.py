"""The Campaign-membership step of a run's plan (issue 13): rules → Campaigns → contacts →
the ``CampaignMember`` rows Salesforce does not hold yet.

The compute stage already knows which accounts each rule wants today
(:func:`sfsync.automation.campaign_rules.eligible_accounts`, pure). This step checks the org
(member status, contact roles, the Campaigns by Name or Id), reads the contacts of those
accounts and the memberships of those Campaigns and contacts, and plans the inserts
(:mod:`sfsync.salesforce.campaign_members`). Reads: two describes (cached by the client), one
Campaign query, and the contacts and memberships sized like the other large reads: the
Contact and CampaignMember queries of the wanted accounts and contacts in ``IN (...)`` chunks
for a small scope, otherwise every Contact with an account and every membership of this run's
Campaigns through ``query_frame`` (Bulk API 2.0 above the bulk threshold), the needed rows
picked out by column. A rule the org cannot serve adds nobody and is listed in
:attr:`CampaignPlan.problems`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import structlog

from sfsync.automation.campaign_rules import CampaignRules, member_rows, rule_targets
from sfsync.plan import ObjectInsert, PendingWrite, PlanProblem
from sfsync.ports import SalesforceApi
from sfsync.salesforce.campaign_members import (
    CONTACT,
    CONTACT_COLUMNS,
    SOBJECT,
    member_inserts,
    org_problems,
    read_contacts,
    read_memberships,
    resolve_campaigns,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CampaignPlan:
    """The Campaign members a run inserts, and what it found on the way."""

    insert: ObjectInsert
    problems: tuple[PlanProblem, ...] = ()
    resolved: tuple[PendingWrite, ...] = ()  # earlier failed inserts that need no write now
    already_members: int = 0  # wanted memberships Salesforce holds already
    by_rule: dict[str, int] = field(default_factory=dict)  # inserts planned per rule


def plan_campaign_members(
    salesforce: SalesforceApi,
    rules: CampaignRules,
    eligible: pd.DataFrame,
    *,
    as_of: date,
    source: str,
    pending: list[PendingWrite] | None = None,
) -> CampaignPlan:
    """The ``CampaignMember`` inserts of this run. ``eligible``: ``rule``, ``account_id`` (the
    compute stage's); ``source``: the rules file, named in the problems; ``pending``: the
    failure ledger (earlier failed inserts are retried when still wanted, resolved when not)."""
    targets = rule_targets(rules, as_of)
    contact_describe = salesforce.describe(CONTACT)
    problems = org_problems(targets, salesforce.describe(SOBJECT), contact_describe, source)
    campaigns, missing = resolve_campaigns(salesforce, targets, source)
    problems += missing
    broken = {p.key.removeprefix("rules.") for p in problems}
    usable = {rule: cid for rule, cid in campaigns.items() if rule not in broken}
    chosen = eligible[eligible["rule"].isin(list(usable))]
    contacts = pd.DataFrame(columns=list(CONTACT_COLUMNS))
    if not chosen.empty:
        contacts = read_contacts(salesforce, chosen["account_id"].astype(str), contact_describe)
    rows = member_rows(chosen, contacts, rules)
    existing: set[tuple[str, str]] = set()
    if not rows.empty:
        wanted = {usable[r] for r in rows["rule"]}
        existing = read_memberships(salesforce, wanted, rows["contact_id"].astype(str))
    ledger = [p for p in pending or [] if p.sobject == SOBJECT]
    planned = member_inserts(
        rows,
        usable,
        {t.rule: t.status for t in targets},
        existing,
        retry_keys=[p.key for p in ledger],
    )
    keys = {r.key for r in planned.records}
    insert = ObjectInsert(SOBJECT, planned.records, duplicate_is_done=True)
    by_rule = insert.counts_by_group()
    log.info(
        "campaign_members_planned",
        accounts=int(chosen["account_id"].nunique()),
        members=len(planned.records),
        already_members=planned.already_members,
        rules_skipped=sorted(broken),
    )
    return CampaignPlan(
        insert,
        tuple(problems),
        tuple(p for p in ledger if p.key not in keys),
        planned.already_members,
        by_rule,
    )
