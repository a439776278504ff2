"""Deterministic sample book of business for the sandbox: users, accounts, activities, usage.

The default book (``accounts=150``) mirrors the company of seed 001: a webinar SaaS with a CS
team of eight owners (糸谷, head of CS, manages 嘉生, 盛島 and 山田; 嘉生, CS manager, manages
津田, 鈴木, 高見 and 酒井) holding 8 / 21 / 30 / 30 / 25 / 25 / 8 / 3 accounts (never more than
30 each, SPEC §5), plus the integration user that sfsync runs as and one deactivated former CSM.
Larger books (``accounts=100_000`` for benchmarks) keep the eight named owners and add generated
CSMs with at most 25 accounts each, grouped in teams of eight under generated managers.

Each account gets a *tier* that drives ARR and touch frequency, a *lifecycle phase* that drives
its contract dates, and a behaviour *archetype* that drives its usage rows, so that the default
scorecard produces a spread of bands, segments, phases and signals:

============== ======= =================================================================
archetype      share   usage in the scoring month (the last complete month before as_of)
============== ======= =================================================================
healthy        ~44 %   3–9 deliveries, 8–20 login days, steady; recently touched
low_usage      ~14 %   0–1 deliveries, 0–1 login days, some months idle (segment C)
declining       ~8 %   deliveries ≤ 50 % of the previous month (``deliveries_drop``)
idle            ~6 %   no usage row for ≥ 3 months, last login ≥ 60 days ago (``no_login_60d``)
ticket_spike    ~6 %   ≥ 3 support tickets and ≥ 2× the previous month (``tickets_rising``)
near_limit      ~7 %   plan usage ratio ≥ 0.8 (upsell ``near_plan_limit``)
rising          ~7 %   deliveries ≥ 1.5× the previous month and ≥ 3 (``deliveries_rising``)
competitor      ~4 %   ordinary usage, ``Competitor_Evaluation__c`` true (``competitor``)
unlinked       ~4 %   no ``Tenant_Id__c``: usage not applicable (``unlinked_tenant``)
churned         6 %   churned on its renewal date 3–360 days before as_of (``Churn_Date__c``,
                       ``Churn_Reason__c``): usage fades over the 4 months before, none after
============== ======= =================================================================

Churn (``sample_data/churn.py``): exactly 6 % of the book churned over the last 12 months
(taken from the drawn archetypes, S tier half as often), each with its renewal date equal to
its churn date and a reason from the recovery playbook of seed 001 §3.3; their last touches
predate the churn and they have no open Tasks. Another 3 %, among the declining, idle,
ticket-spike and competitor accounts, have a ``Churn_Reason__c`` without a churn date
(customers who stated an intent to leave: the recovery playbooks act on them).

Onboarding accounts (contract < 3 months) only have usage since their contract start.
Tiers: ``S`` (ARR ≥ 5M JPY or ``Enterprise__c``), ``A`` (1M–5M), ``B`` (< 1M). B accounts with
the ``low_usage`` archetype fall into segment C. Phases (by contract dates as of ``as_of``):
onboarding ~8 %, adoption ~10 %, expansion ~15 %, renewal ~15 % (a few already past their
renewal date), maturity the rest; ~1 % have no contract start, ~1 % no renewal date.
Contacts (``sample_data/contacts.py``): a primary contact (主担当) per account, a decision
maker (決裁者) and mostly an admin for S and A accounts, zero to two users each;
the primary contact is the account's ``Main_Contact__c``, and ``SampleData.contact_changes``
names about 4 % of the live accounts whose main contact hands over to their next contact before
the next month (``contact_changed`` once applied); five active tech-touch Campaigns without
members. Engagement logs (``sample_data/engagement.py``): mail
opens and clicks, video and document views fade before churn and rise for some healthy
accounts; the per-content log behind them is ``SampleData.content_log()``.
Seed-000 inputs (``sample_data/adoption.py``): the adoption-step checklists and market fields
on each Account, following its archetype and tier, so that ``sfsync run seed000`` spreads.
Activities: completed Tasks (Call/Email/Meeting) and past Events (Meeting/QBR) with the latest
touch < 30, 30–59, ≥ 60 days ago or never, meetings in the last quarter more likely for S/A,
plus open Tasks due in the future. Names are mostly Japanese (株式会社…), a few English, and a
handful carry apostrophes, quotes and backslashes to exercise quoting.

The book depends on ``seed`` alone (same names, owners, ARR, archetypes); ``as_of`` only places
its dates. ``SampleData.profiles`` records each account's tier, phase and archetype (the
generator's intent), for tests, demos and benchmarks; it is not loaded into any service.
``SampleData.slack_users()`` gives the active users in the shape the Slack sandbox takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from sfsync_sandbox.sample_data.accounts import (
    INDUSTRIES,
    INDUSTRY_BENCHMARKS,
    INDUSTRY_P,
    arr_by_tier,
    company_names,
    contract_dates,
)
from sfsync_sandbox.sample_data.activities import activities
from sfsync_sandbox.sample_data.adoption import adoption_fields
from sfsync_sandbox.sample_data.churn import CHURN_REASONS, churn_reasons, pick_churned
from sfsync_sandbox.sample_data.common import add_months, make_ids
from sfsync_sandbox.sample_data.contacts import campaigns, contacts, main_contacts
from sfsync_sandbox.sample_data.engagement import content_log
from sfsync_sandbox.sample_data.people import owner_plan, tiers
from sfsync_sandbox.sample_data.usage import USAGE_MONTHS, usage_rows

__all__ = [
    "ARCHETYPES",
    "CHURN_REASONS",
    "INDUSTRY_BENCHMARKS",
    "PHASES",
    "USAGE_MONTHS",
    "SampleData",
    "generate",
    "make_ids",
]

ARCHETYPES = (
    "healthy",
    "low_usage",
    "declining",
    "idle",
    "ticket_spike",
    "near_limit",
    "rising",
    "competitor",
    "unlinked",
    "churned",  # not drawn: chosen afterwards (sample_data/churn.py)
)
_DRAWN = ARCHETYPES[:-1]
_ARCHETYPE_P = np.array([0.44, 0.14, 0.08, 0.06, 0.06, 0.07, 0.07, 0.04, 0.04])
PHASES = ("onboarding", "adoption", "expansion", "renewal", "maturity")
_PHASE_P = np.array([0.08, 0.10, 0.15, 0.15, 0.52])


@dataclass(frozen=True)
class SampleData:
    """The generated book: frames in Salesforce field names, usage in canonical columns."""

    users: pd.DataFrame
    accounts: pd.DataFrame
    tasks: pd.DataFrame
    events: pd.DataFrame
    usage: pd.DataFrame
    profiles: pd.DataFrame
    as_of: date
    seed: int = 7
    contacts: pd.DataFrame | None = None  # customer contacts with their CS role
    campaigns: pd.DataFrame | None = None  # the tech-touch Campaigns (no members)
    #: main-contact hand-overs (``Id``, ``Main_Contact__c``) a few customers announce before
    #: the next month: apply them between two runs to see ``contact_changed``
    contact_changes: pd.DataFrame | None = None

    def content_log(self) -> pd.DataFrame:
        """The per-content engagement log behind the usage rows' video, document and mail
        figures (``sample_data/engagement.py``); built on demand, as it is ten times as long."""
        return content_log(self.usage, self.seed)

    def slack_users(self) -> list[dict]:
        """Active users as ``{"id", "name", "email"}`` dicts for the Slack sandbox."""
        active = self.users[self.users["IsActive"]]
        return [
            {"id": f"U{i:08d}", "name": name, "email": email}
            for i, (name, email) in enumerate(
                zip(active["Name"], active["Email"], strict=True), start=1
            )
        ]


def generate(accounts: int = 150, seed: int = 7, as_of: date | None = None) -> SampleData:
    """Generate a deterministic sample book of ``accounts`` customer accounts.

    The same ``seed`` and ``as_of`` always give the same frames. ``as_of`` defaults to today;
    usage covers the 13 complete calendar months before it.
    """
    if accounts < 1:
        raise ValueError(f"accounts must be at least 1, got {accounts}")
    as_of = as_of or date.today()
    # seeded by `seed` alone: the same seed gives the same book whatever the as-of date,
    # with its dates placed relative to as_of
    rng = np.random.default_rng(seed)
    today = np.datetime64(as_of, "D")

    users, owner_of = owner_plan(accounts)
    n = accounts
    account_ids = make_ids("Account", n)
    tier = tiers(rng, owner_of, users)
    archetype = np.asarray(_DRAWN, dtype=object)[rng.choice(len(_DRAWN), n, p=_ARCHETYPE_P)]
    phase = np.asarray(PHASES, dtype=object)[rng.choice(len(PHASES), n, p=_PHASE_P)]
    # make sure small books still show every archetype and phase
    protected = np.zeros(n, dtype=bool)
    if n >= 40:
        spots = rng.permutation(n)
        archetype[spots[: len(_DRAWN)]] = _DRAWN
        phase[spots[len(_DRAWN) : len(_DRAWN) + len(PHASES)]] = PHASES
        protected[spots[: len(_DRAWN) + len(PHASES)]] = True
    # big customers are rarely self-serve
    archetype[(tier == "S") & (archetype == "low_usage")] = "healthy"
    churned, churn_days_ago = pick_churned(rng, tier, protected)
    archetype[churned] = "churned"
    phase[churned] = "renewal"  # the renewal date (= churn date) is past

    industry = np.asarray(INDUSTRIES, dtype=object)[rng.choice(len(INDUSTRIES), n, p=INDUSTRY_P)]
    owner_key = users.set_index("Id")["Username"].str.split("@").str[0].reindex(owner_of)
    industry[(owner_key == "morishima").to_numpy()] = "Finance"
    industry[(owner_key == "yamada").to_numpy()] = "Consulting"

    start, renewal = contract_dates(rng, phase, today)
    no_start = (rng.random(n) < 0.01) & (phase == "maturity")
    no_renewal = (rng.random(n) < 0.01) & (phase == "maturity") & ~no_start
    start[no_start] = np.datetime64("NaT")
    renewal[no_renewal] = np.datetime64("NaT")
    churn_date = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    churn_date[churned] = today - churn_days_ago[churned]
    renewal[churned] = churn_date[churned]  # not renewed: the contract ended on its renewal date
    start[churned] = add_months(renewal[churned], -12 * rng.integers(1, 5, churned.sum()))
    reason = churn_reasons(rng, archetype, churned)

    arr = arr_by_tier(rng, tier)
    enterprise = (tier == "S") & (rng.random(n) < 0.5)
    arr[enterprise & (rng.random(n) < 0.3)] = np.round(rng.uniform(2e6, 4.8e6), -4)
    tenant = np.asarray([f"tnt-{i + 1:06d}" for i in range(n)], dtype=object)
    linked = archetype != "unlinked"

    accounts_frame = pd.DataFrame(
        {
            "Id": account_ids,
            "Name": company_names(rng, industry),
            "OwnerId": owner_of,
            "Industry": industry,
            "ARR__c": arr,
            "Enterprise__c": enterprise,
            "Contract_Start_Date__c": pd.to_datetime(start),
            "Renewal_Date__c": pd.to_datetime(renewal),
            "Tenant_Id__c": pd.array(np.where(linked, tenant, None), dtype="str"),
            "Competitor_Evaluation__c": archetype == "competitor",
            "Churn_Date__c": pd.to_datetime(churn_date),
            "Churn_Reason__c": pd.array(reason, dtype="str"),
        }
    )
    contact_rows = contacts(seed, account_ids, owner_of, tier)
    main_contact, contact_changes = main_contacts(seed, contact_rows, account_ids, ~churned)
    accounts_frame["Main_Contact__c"] = main_contact
    seed000 = adoption_fields(np.random.default_rng([seed, 17]), tier, phase, archetype)
    accounts_frame = pd.concat([accounts_frame, seed000], axis=1)
    usage = usage_rows(
        rng,
        tenant[linked],
        archetype[linked],
        industry[linked],
        start[linked],
        today,
        churn_date=churn_date[linked],
        engagement_rng=np.random.default_rng([seed, 13]),
    )
    tasks, events = activities(
        rng, account_ids, owner_of, tier, archetype, start, today, churn_date=churn_date
    )
    profiles = pd.DataFrame(
        {"Id": account_ids, "tier": tier, "phase": phase, "archetype": archetype}
    )
    return SampleData(
        users=users,
        accounts=accounts_frame,
        tasks=tasks,
        events=events,
        usage=usage,
        profiles=profiles,
        as_of=as_of,
        seed=seed,
        contacts=contact_rows,
        contact_changes=contact_changes,
        campaigns=campaigns(as_of, _head_of_cs(users)),
    )


def _head_of_cs(users: pd.DataFrame) -> str:
    """The Id of the head of CS (糸谷), who owns the tech-touch Campaigns."""
    head = users.loc[users["Username"].str.startswith("itoya@"), "Id"]
    return str(head.iloc[0]) if len(head) else str(users["Id"].iloc[0])
