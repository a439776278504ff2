"""Campaign members against the org (issue 13): resolve the rules' Campaigns, read the contacts
and the memberships Salesforce holds, and build the ``CampaignMember`` inserts.

A contact is a member of a Campaign once: Salesforce refuses a second membership with
``DUPLICATE_VALUE`` ("Already a campaign member."). So the plan reads the memberships of this
run's Campaigns and contacts first and inserts only the missing ones (:func:`member_inserts`,
pure); a ``DUPLICATE_VALUE`` at write time (a concurrent insert, or a retried request whose
first answer was lost) means the contact is a member already, which the writer counts as
written (``ObjectInsert.duplicate_is_done``). A re-run or a retry never adds anyone twice.

The org is checked before anything is planned (:func:`org_problems`, :func:`resolve_campaigns`):
a rule whose Campaign the org does not have (or has twice under one name), whose member status
the org does not list, or whose contact roles are not values of ``CS_Contact_Role__c`` adds
nobody and is named in the plan's problems and the run summary (``sfsync validate --org``
reports the same problems ahead); the other rules and the rest of the run go on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sfsync.frames import isin
from sfsync.plan import FieldChange, PlanProblem, RecordChange
from sfsync.salesforce.ids import to_18, to_18_column
from sfsync.salesforce.query import IN_CLAUSE_MAX_URL_CHARS, soql_in
from sfsync.salesforce.reader import IN_LIST_MAX

SOBJECT = "CampaignMember"
CAMPAIGN = "Campaign"
CONTACT = "Contact"
ROLE_FIELD = "CS_Contact_Role__c"
OPT_OUT_FIELD = "HasOptedOutOfEmail"
CONTACT_COLUMNS = ("contact_id", "account_id", "role", "opted_out")


@dataclass(frozen=True)
class CampaignTarget:
    """One rule as the org sees it today: its Campaign (Name or Id, the period filled in), the
    member status it sets and the contact roles it picks (empty: every contact)."""

    rule: str
    campaign: str
    by_id: bool
    status: str
    roles: tuple[str, ...] = ()


def _problem(target: CampaignTarget, key: str, message: str, source: str) -> PlanProblem:
    return PlanProblem(
        f"rules.{target.rule}",
        key,
        f"{message} ({source} rules.{target.rule}.{key}); this rule adds nobody until it is fixed",
    )


def _picklist(describe: dict[str, Any], field: str) -> list[str] | None:
    """Active picklist values of ``field`` (None: no such field)."""
    for f in describe.get("fields", []):
        if f.get("name", "").lower() == field.lower():
            return [v["value"] for v in f.get("picklistValues", []) if v.get("active", True)]
    return None


def org_problems(
    targets: Iterable[CampaignTarget],
    member_describe: dict[str, Any],
    contact_describe: dict[str, Any],
    source: str,
) -> list[PlanProblem]:
    """What the org lacks for each rule: its member status (checked when the org lists
    CampaignMember statuses), or its contact roles (values of ``CS_Contact_Role__c``)."""
    statuses = _picklist(member_describe, "Status") or []
    roles = _picklist(contact_describe, ROLE_FIELD)
    problems = []
    for target in targets:
        if statuses and target.status not in statuses:
            problems.append(
                _problem(
                    target,
                    "status",
                    f"member status {target.status!r} is not a CampaignMember status of the "
                    f"org; statuses: {', '.join(statuses)}",
                    source,
                )
            )
        if target.roles and roles is None:
            problems.append(
                _problem(
                    target,
                    "roles",
                    f"the org's Contact has no field {ROLE_FIELD} (deploy deploy/salesforce)",
                    source,
                )
            )
        elif target.roles:
            unknown = [r for r in target.roles if r not in (roles or [])]
            if unknown:
                problems.append(
                    _problem(
                        target,
                        "roles",
                        f"{', '.join(map(repr, unknown))} not a value of Contact.{ROLE_FIELD}; "
                        f"values: {', '.join(roles or [])}",
                        source,
                    )
                )
    return problems


def resolve_campaigns(
    salesforce: Any, targets: list[CampaignTarget], source: str
) -> tuple[dict[str, str], list[PlanProblem]]:
    """``rule -> Campaign Id`` (18 characters) of every rule whose Campaign the org has once,
    and a problem for each other rule (no such Campaign; two Campaigns with that Name)."""
    names = [t.campaign for t in targets if not t.by_id]
    ids = [to_18(t.campaign) for t in targets if t.by_id]
    by_name: dict[str, list[str]] = {}
    known: set[str] = set()
    for field, values in (("Name", names), ("Id", ids)):
        for condition in soql_in(field, values):
            for row in salesforce.query(f"SELECT Id, Name FROM {CAMPAIGN} WHERE {condition}"):
                record_id = to_18(str(row["Id"]))
                known.add(record_id)
                by_name.setdefault(str(row["Name"]), []).append(record_id)
    resolved: dict[str, str] = {}
    problems: list[PlanProblem] = []
    for target in targets:
        if target.by_id:
            found = [to_18(target.campaign)] if to_18(target.campaign) in known else []
        else:
            found = sorted(set(by_name.get(target.campaign, [])))
        if len(found) == 1:
            resolved[target.rule] = found[0]
        elif not found:
            what = "with the Id" if target.by_id else "named"
            problems.append(
                _problem(
                    target,
                    "campaign",
                    f"the org has no Campaign {what} {target.campaign!r} (create it, or fix "
                    "the name; the integration user needs read access to Campaigns)",
                    source,
                )
            )
        else:
            problems.append(
                _problem(
                    target,
                    "campaign",
                    f"{len(found)} Campaigns are named {target.campaign!r} "
                    f"({', '.join(found)}): name the Campaign by its Id",
                    source,
                )
            )
    return resolved, problems


def read_contacts(
    salesforce: Any,
    account_ids: Iterable[str],
    contact_describe: dict[str, Any],
    *,
    in_list_max: int = IN_LIST_MAX,
) -> pd.DataFrame:
    """The contacts of ``account_ids`` (:data:`CONTACT_COLUMNS`; ``role`` empty when the org
    has no ``CS_Contact_Role__c``), Ids in 18 characters.

    Sized like :mod:`sfsync.salesforce.reader`: up to ``in_list_max`` accounts are read with
    ``AccountId IN (...)`` queries; more read every Contact that has an account with
    ``query_frame`` (one COUNT() call, then REST pages or a Bulk API 2.0 query above the
    bulk threshold), and the contacts of ``account_ids`` are picked out by column."""
    fields = _contact_fields(contact_describe)
    keys = sorted(set(account_ids))
    select = f"SELECT {', '.join(fields)} FROM {CONTACT}"
    if len(keys) <= in_list_max:
        records: list[dict[str, Any]] = []
        for condition in soql_in("AccountId", keys):
            records += salesforce.query(f"{select} WHERE {condition}")
        return _contacts_frame(pd.DataFrame.from_records(records, columns=fields), fields)
    frame = salesforce.query_frame(f"{select} WHERE AccountId != null").reindex(columns=fields)
    keep = isin(to_18_column(frame["AccountId"]), to_18_column(pd.Series(keys, dtype="str")))
    return _contacts_frame(frame[keep.to_numpy()].reset_index(drop=True), fields)


def _contact_fields(contact_describe: dict[str, Any]) -> list[str]:
    """The Contact fields to read: Id, AccountId, and the role and email opt-out fields when
    the org has them."""
    has_role = _picklist(contact_describe, ROLE_FIELD) is not None
    has_opt_out = any(f.get("name") == OPT_OUT_FIELD for f in contact_describe.get("fields", []))
    return ["Id", "AccountId"] + [ROLE_FIELD] * has_role + [OPT_OUT_FIELD] * has_opt_out


def _contacts_frame(raw: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """:data:`CONTACT_COLUMNS` of Contact rows as read: REST values or the text of a Bulk
    query (``opted_out`` is True for ``True`` and for ``"true"``). Ids and roles are Python
    strings (a missing role NaN; None throughout when the org has no role field)."""
    if ROLE_FIELD in fields:
        role = raw[ROLE_FIELD].astype("str").astype(object)
    else:
        role = pd.Series([None] * len(raw), index=raw.index, dtype=object)
    opted = raw[OPT_OUT_FIELD] if OPT_OUT_FIELD in fields else pd.Series(None, index=raw.index)
    return pd.DataFrame(
        {
            "contact_id": to_18_column(raw["Id"]).astype(object),
            "account_id": to_18_column(raw["AccountId"]).astype(object),
            "role": role,
            "opted_out": opted.astype("str").str.lower().eq("true").to_numpy(dtype=bool),
        },
        columns=list(CONTACT_COLUMNS),
    )


def read_memberships(
    salesforce: Any,
    campaign_ids: Iterable[str],
    contact_ids: Iterable[str],
    *,
    in_list_max: int = IN_LIST_MAX,
) -> set[tuple[str, str]]:
    """``(Campaign Id, Contact Id)`` of the memberships Salesforce holds among these Campaigns
    and contacts (read before planning: only missing memberships are inserted).

    Up to ``in_list_max`` contacts are read with ``CampaignId IN (...) AND ContactId IN (...)``
    queries; more read every membership of these Campaigns (a handful of Ids) with
    ``query_frame`` and keep those of ``contact_ids`` by column."""
    campaigns = soql_in("CampaignId", sorted(set(campaign_ids)))
    contacts = pd.unique(pd.Series(contact_ids, dtype="str"))
    select = f"SELECT CampaignId, ContactId FROM {SOBJECT}"
    if len(contacts) <= in_list_max:
        contacts = sorted(contacts)
        records: list[dict[str, Any]] = []
        for campaign_condition in campaigns:
            room = IN_CLAUSE_MAX_URL_CHARS - len(campaign_condition) * 3  # URL-encoded at most x3
            for contact_condition in soql_in("ContactId", contacts, max_url_chars=max(room, 2_000)):
                records += salesforce.query(
                    f"{select} WHERE {campaign_condition} AND {contact_condition}"
                )
        frame = pd.DataFrame.from_records(records, columns=["CampaignId", "ContactId"])
    else:
        frames = [
            salesforce.query_frame(f"{select} WHERE {c}").reindex(
                columns=["CampaignId", "ContactId"]
            )
            for c in campaigns
        ]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return _membership_pairs(frame, contacts)


def _membership_pairs(frame: pd.DataFrame, contact_ids: Any) -> set[tuple[str, str]]:
    """``(Campaign Id, Contact Id)`` in 18 characters of the CampaignMember rows ``frame``
    whose contact is one of ``contact_ids``."""
    if frame.empty:
        return set()
    campaign = to_18_column(frame["CampaignId"])
    contact = to_18_column(frame["ContactId"])
    keep = isin(contact, to_18_column(pd.Series(contact_ids, dtype="str")))
    return set(zip(campaign[keep].tolist(), contact[keep].tolist(), strict=True))


@dataclass(frozen=True)
class MemberInserts:
    """The memberships to insert, and how many wanted ones Salesforce holds already."""

    records: tuple[RecordChange, ...]
    already_members: int


def member_key(rule: str, campaign_id: str, contact_id: str) -> str:
    """``<rule>:<campaign id>:<contact id>``: names one membership in the plan and the ledger."""
    return f"{rule}:{campaign_id}:{contact_id}"


def member_inserts(
    rows: pd.DataFrame,
    campaigns: dict[str, str],
    statuses: dict[str, str],
    existing: set[tuple[str, str]],
    retry_keys: Iterable[str] = (),
) -> MemberInserts:
    """One insert per wanted membership Salesforce does not hold (pure). ``rows``: ``rule``,
    ``contact_id`` in priority order (the first rule wins when two rules name one Campaign);
    ``campaigns``/``statuses``: per rule; ``existing``: :func:`read_memberships`;
    ``retry_keys``: keys whose earlier insert failed (marked as retries)."""
    retry = set(retry_keys)
    seen = set(existing)
    records: list[RecordChange] = []
    already = 0
    for rule, contact in zip(rows["rule"], rows["contact_id"], strict=True):
        campaign = campaigns.get(str(rule))
        if campaign is None:
            continue
        pair = (campaign, str(contact))
        if pair in seen:
            already += pair in existing
            continue
        seen.add(pair)
        key = member_key(str(rule), campaign, str(contact))
        changes = (
            FieldChange("CampaignId", None, campaign),
            FieldChange("ContactId", None, str(contact)),
            FieldChange("Status", None, statuses[str(rule)]),
        )
        records.append(RecordChange(key, changes, retry=key in retry))
    return MemberInserts(tuple(records), already)
