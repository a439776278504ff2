"""Upsell Opportunities for sales (SPEC §10, optional; ``write.opportunity`` of the job).

When enabled, each new upsell signal (account + signal code + scoring month) also gets one
Opportunity, upserted by ``Opportunity.Sync_Key__c`` with the upsell Task's key
``upsell:<code>:<account_id>:<scoring month>``. Sales owns the Opportunity once it exists: a key
Salesforce already holds is never written again (:func:`new_opportunities`).

:func:`build_upsell_opportunities` is pure: from the desired upsell Tasks (the frame of
:func:`sfsync.salesforce.upsell.build_upsell_tasks`) and the accounts it returns the records
(Name from the template field ``opportunity_name`` of ``tasks.upsell.<code>``, AccountId,
OwnerId = the Task's owner, i.e. the account owner or the fallback user, StageName, CloseDate
``close_days`` after the as-of date, Amount an optional share of the account's ARR).
:func:`opportunity_org_problems` checks the org's describe before anything is written.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from sfsync.calendar import month_text, scoring_month
from sfsync.catalogue import TASK_SECTION, UPSELL_CODES
from sfsync.errors import ConfigProblem
from sfsync.frames import iter_records
from sfsync.jobs import OpportunitySpec
from sfsync.plan import FieldChange, RecordChange
from sfsync.salesforce.query import soql_in
from sfsync.salesforce.upsell import RULE, TEMPLATE_PLACEHOLDERS, upsell_template_key
from sfsync.templates import TemplateSet

SOBJECT = "Opportunity"
KEY_FIELD = "Sync_Key__c"
PARENT_FIELD = "AccountId"
NAME_LENGTH = 120  # Opportunity.Name is a string(120)
NAME_TEMPLATE_FIELD = "opportunity_name"


def opportunity_template_problems(templates: TemplateSet) -> list[ConfigProblem]:
    """Every upsell code's template has an ``opportunity_name`` (needed when enabled)."""
    problems: list[ConfigProblem] = []
    for code in UPSELL_CODES:
        key = upsell_template_key(code)
        if templates.has(TASK_SECTION, key) and NAME_TEMPLATE_FIELD not in templates.fields(
            TASK_SECTION, key
        ):
            problems.append(
                ConfigProblem(
                    templates.file_of(TASK_SECTION, key),
                    f"{TASK_SECTION}.{key}.{NAME_TEMPLATE_FIELD}",
                    "required field is missing (the Opportunity name; write.opportunity is "
                    f"enabled; language {templates.language})",
                )
            )
    return problems


def opportunity_org_problems(spec: OpportunitySpec, describe: dict[str, Any]) -> list[str]:
    """What the org lacks for the Opportunities: the key field, or the configured stage."""
    fields = {f["name"]: f for f in describe.get("fields", [])}
    problems = []
    key = fields.get(KEY_FIELD)
    if key is None or not key.get("externalId"):
        problems.append(
            f"{SOBJECT}.{KEY_FIELD} is missing or not an external ID (deploy deploy/salesforce "
            "and give the integration user the sfsync_Integration permission set)"
        )
    stage = fields.get("StageName")
    values = [v["value"] for v in (stage or {}).get("picklistValues", []) if v.get("active")]
    if values and spec.stage not in values:
        problems.append(
            f"write.opportunity.stage: {spec.stage!r} is not an active Opportunity stage of the "
            f"org; choose one of: {', '.join(values)}"
        )
    return problems


def build_upsell_opportunities(
    tasks: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    as_of: date,
    spec: OpportunitySpec,
    templates: TemplateSet,
) -> tuple[RecordChange, ...]:
    """One Opportunity record per desired upsell Task (pure); every field new (an upsert)."""
    if tasks is None or tasks.empty:
        return ()
    chosen = tasks[tasks["rule"] == RULE]
    info = accounts.drop_duplicates("account_id").set_index("account_id")
    close = as_of + timedelta(days=spec.close_days)
    records = []
    for rec in iter_records(chosen.sort_values("sync_key")):
        account_id = str(rec["account_id"])
        row = info.loc[account_id] if account_id in info.index else None
        values = dict.fromkeys(TEMPLATE_PLACEHOLDERS, "")
        values.update(
            account_name=_text(None if row is None else row.get("name")),
            account_id=account_id,
            scoring_month=month_text(scoring_month(as_of)),
            due_date=close.isoformat(),
        )
        text = templates.render(TASK_SECTION, upsell_template_key(str(rec["signal_code"])), values)
        fields: dict[str, Any] = {
            "Name": _fit(text[NAME_TEMPLATE_FIELD], NAME_LENGTH),
            PARENT_FIELD: account_id,
            "StageName": spec.stage,
            "CloseDate": close.isoformat(),
        }
        owner = rec.get("owner_id")
        if owner is not None and not pd.isna(owner) and str(owner):
            fields["OwnerId"] = str(owner)
        amount = _amount(None if row is None else row.get("arr"), spec.amount_arr_share)
        if amount is not None:
            fields["Amount"] = amount
        changes = tuple(FieldChange(name, None, value) for name, value in fields.items())
        records.append(RecordChange(str(rec["sync_key"]), changes))
    return tuple(records)


def existing_keys_query(keys: list[str]) -> list[str]:
    """SOQL reading which of ``keys`` Salesforce already holds (one query per chunk)."""
    return [f"SELECT {KEY_FIELD} FROM {SOBJECT} WHERE {cond}" for cond in soql_in(KEY_FIELD, keys)]


def new_opportunities(
    records: tuple[RecordChange, ...], existing: set[str]
) -> tuple[RecordChange, ...]:
    """The records whose key Salesforce does not hold yet (sales owns the others)."""
    return tuple(r for r in records if r.key not in existing)


def _amount(arr: Any, share: float | None) -> float | None:
    if share is None or arr is None or pd.isna(arr):
        return None
    return round(float(arr) * share)


def _fit(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)
