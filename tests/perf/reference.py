"""The row-by-row implementations that the vectorised ones replaced (issue 14 item 6), kept
verbatim as the reference the equivalence tests compare against. Not used by sfsync."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from sfsync.plan import FieldChange, PendingWrite, PlanProblem, RecordChange
from sfsync.salesforce.ids import to_18
from sfsync.salesforce.mapping import ObjectMapping
from sfsync.salesforce.normalise import ValueProblem, is_null, normalise, same
from sfsync.salesforce.query import IN_CLAUSE_MAX_URL_CHARS, soql_in


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return frame.to_dict(orient="records")


def _pending_by_key(pending: Iterable[PendingWrite], sobject: str) -> dict[str, PendingWrite]:
    return {p.key: p for p in pending if p.sobject == sobject}


def diff_records(
    desired: pd.DataFrame,
    current: pd.DataFrame,
    mapping: ObjectMapping,
    *,
    tz: ZoneInfo,
    pending: Iterable[PendingWrite] = (),
) -> tuple[list[RecordChange], list[PlanProblem], list[PendingWrite], int]:
    """Field changes per record; problems; pending failures that need no write; scope size."""
    key_column, key_field = mapping.match.column, mapping.match.field
    retry = _pending_by_key(pending, mapping.sobject)
    current_by_key = {str(r[key_field]): r for r in _records(current)}
    counts = Counter(str(k) for k in desired[key_column]) if not desired.empty else Counter()
    changes: list[RecordChange] = []
    problems: list[PlanProblem] = []
    resolved: list[PendingWrite] = []
    seen: set[str] = set()
    for row in _records(desired):
        raw_key = row.get(key_column)
        if is_null(raw_key):
            problems.append(PlanProblem("", key_column, "missing record key; row left out"))
            continue
        key = str(raw_key)
        if counts[key] > 1:
            if key not in seen:
                problems.append(
                    PlanProblem(key, key_column, f"appears {counts[key]} times; record left out")
                )
            seen.add(key)
            continue
        seen.add(key)
        now = current_by_key.get(key)
        if now is None:
            problems.append(
                PlanProblem(
                    key, key_field, f"no {mapping.sobject} with {key_field} {key} in Salesforce"
                )
            )
            continue
        forced = set(retry[key].fields) if key in retry else set()
        record_changes: list[FieldChange] = []
        visible = False  # a field written "always" changes (or is retried)
        try:
            for column, spec in mapping.fields.items():
                value = row.get(column)
                if spec.null_policy == "leave" and is_null(value) and spec.field not in forced:
                    continue
                new = normalise(value, spec, tz, desired=True)
                old = normalise(now.get(spec.field), spec, tz, desired=False)
                if not same(old, new, spec) or spec.field in forced:
                    record_changes.append(FieldChange(spec.field, old, new))
                    visible = visible or spec.write == "always" or spec.field in forced
        except ValueProblem as exc:
            problems.append(PlanProblem(key, spec.field, f"{column}: {exc}"))
            continue
        if not visible:  # only "with_changes" fields differ: they never force a write
            record_changes = []
        if record_changes:
            changes.append(RecordChange(key, tuple(record_changes), retry=key in retry))
        elif key in retry:
            resolved.append(retry[key])
    resolved.extend(p for k, p in retry.items() if k not in seen)
    return changes, problems, resolved, len(seen)


def csv_frame(text: str) -> pd.DataFrame:
    """The Bulk 2.0 result page reader before pyarrow's: pandas' C reader, every column text."""
    if not text.strip():
        return pd.DataFrame()
    return pd.read_csv(
        io.StringIO(text), dtype="str", keep_default_na=False, na_values=[""], encoding="utf-8"
    )


def find_mislinks(accounts: pd.DataFrame, usage: pd.DataFrame, *, linked_before) -> list:
    """sfsync.sources.tenants.find_mislinks before issue 14 (a Python set of the usage
    tenants): the rows it reported, as (account id, name, tenant id)."""
    if usage.empty or "tenant_id" not in accounts.columns:
        return []
    seen = set(usage["tenant_id"].dropna().astype(str))
    linked = accounts.loc[accounts["tenant_id"].notna()]
    if "contract_start" in linked.columns:
        start = pd.to_datetime(linked["contract_start"], errors="coerce")
        linked = linked.loc[(start.isna() | (start < pd.Timestamp(linked_before))).to_numpy()]
    missing = linked.loc[~linked["tenant_id"].astype(str).isin(seen)]
    names = missing["name"] if "name" in missing.columns else pd.Series("", index=missing.index)
    rows = zip(missing["account_id"], names.fillna(""), missing["tenant_id"], strict=True)
    return [(str(a), str(n), str(t)) for a, n, t in rows]


def with_measure_points(scores: pd.DataFrame, explanations: pd.DataFrame | None) -> pd.DataFrame:
    """sfsync.state.snapshots.with_measure_points before issue 14: the points pivoted out of
    the long explanation frame."""
    if explanations is None or explanations.empty or "measure" not in explanations.columns:
        return scores
    wide = explanations.pivot_table(
        index="account_id", columns="measure", values="points", aggfunc="first", dropna=False
    )
    wide = wide.apply(pd.to_numeric, errors="coerce").astype("float64")
    wide = wide[sorted(wide.columns)]
    texts = pd.Series(
        wide.to_json(orient="records", lines=True).splitlines(), index=wide.index, dtype="object"
    )
    out = scores.copy()
    out["measure_points"] = out["account_id"].map(texts)
    return out


ROLE = "CS_Contact_Role__c"
OPT_OUT = "HasOptedOutOfEmail"


def read_contacts(
    salesforce: Any, account_ids: Iterable[str], contact_describe: dict[str, Any]
) -> pd.DataFrame:
    """The Campaign stage's Contact read before it was sized (IN lists over every account)."""
    fields = ["Id", "AccountId"]
    roles = [
        f for f in contact_describe.get("fields", []) if f.get("name", "").lower() == ROLE.lower()
    ]
    has_role = bool(roles)
    has_opt_out = any(f.get("name") == OPT_OUT for f in contact_describe.get("fields", []))
    fields += [ROLE] * has_role + [OPT_OUT] * has_opt_out
    rows: list[dict[str, Any]] = []
    for condition in soql_in("AccountId", sorted(set(account_ids))):
        rows += salesforce.query(f"SELECT {', '.join(fields)} FROM Contact WHERE {condition}")
    return pd.DataFrame(
        {
            "contact_id": [to_18(str(r["Id"])) for r in rows],
            "account_id": [to_18(str(r["AccountId"])) for r in rows],
            "role": [r.get(ROLE) for r in rows],
            "opted_out": [bool(r.get(OPT_OUT)) for r in rows],
        },
        columns=["contact_id", "account_id", "role", "opted_out"],
    ).astype({"contact_id": "object", "account_id": "object", "role": "object"})


def read_memberships(
    salesforce: Any, campaign_ids: Iterable[str], contact_ids: Iterable[str]
) -> set[tuple[str, str]]:
    """The Campaign stage's CampaignMember read before it was sized (IN lists of contacts)."""
    campaigns = soql_in("CampaignId", sorted(set(campaign_ids)))
    found: set[tuple[str, str]] = set()
    for campaign_condition in campaigns:
        room = IN_CLAUSE_MAX_URL_CHARS - len(campaign_condition) * 3
        for contact_condition in soql_in(
            "ContactId", sorted(set(contact_ids)), max_url_chars=max(room, 2_000)
        ):
            soql = (
                "SELECT CampaignId, ContactId FROM CampaignMember "
                f"WHERE {campaign_condition} AND {contact_condition}"
            )
            for row in salesforce.query(soql):
                found.add((to_18(str(row["CampaignId"])), to_18(str(row["ContactId"]))))
    return found
