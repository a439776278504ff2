"""Shared test data for the sync tests: an Account describe like the default org schema."""

from __future__ import annotations

from typing import Any

from sfsync.catalogue import CHURN_CODES, DIRECTIONS, ENGAGEMENT_CODES, TOUCH_MODELS, UPSELL_CODES


def _field(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "updateable": True, "externalId": False, **extra}


def _picklist(name: str, values: list[str], type_: str = "picklist") -> dict[str, Any]:
    return _field(name, type_, picklistValues=[{"value": v, "active": True} for v in values])


def account_describe(
    drop: set[str] = frozenset(), override: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """An Account describe with the SPEC §8 fields (canonical picklist spelling capitalised)."""
    fields = [
        _field("Id", "id", updateable=False),
        _field("Name", "string", length=255),
        _field("Health_Score__c", "double", scale=0),
        _picklist("Health_Band__c", ["Green", "Yellow", "Orange", "Red"]),
        _field("Health_Usage__c", "double"),
        _field("Health_Engagement__c", "double"),
        _field("Health_Outcome__c", "double"),
        _field("Health_Contract__c", "double"),
        _field("Health_Trend__c", "double"),
        _picklist("Health_Direction__c", list(DIRECTIONS)),
        _picklist(
            "Lifecycle_Phase__c", ["Onboarding", "Adoption", "Expansion", "Maturity", "Renewal"]
        ),
        _picklist("CS_Segment__c", ["S", "A", "B", "C"]),
        _picklist("Churn_Signals__c", list(CHURN_CODES), type_="multipicklist"),
        _picklist("Upsell_Signals__c", list(UPSELL_CODES), type_="multipicklist"),
        _field("Last_QBR_Date__c", "date"),
        _field("Health_Scored_At__c", "datetime"),
        _field("Health_Explanation__c", "textarea", length=32768),
        _picklist("Touch_Model__c", list(TOUCH_MODELS)),
        _field("CS_Priority__c", "double", scale=0),
        _picklist("Tech_Touch_Triggers__c", sorted(ENGAGEMENT_CODES), type_="multipicklist"),
        _field("Onboarding_Step__c", "double", scale=0),
        _field("Tutorial_Completed_At__c", "date"),
        _field("Renewal_Reminder_Date__c", "date"),
    ]
    override = override or {}
    out = []
    for f in fields:
        if f["name"] in drop:
            continue
        out.append({**f, **override.get(f["name"], {})})
    return {"name": "Account", "fields": out}


BASE_URL = "https://org.example.com/services/data/v62.0/"

# the Account fields a CSM sees change (mappings/account_fields.yaml, visible ones)
VISIBLE_HEALTH_FIELDS = (
    "Health_Score__c",
    "Health_Band__c",
    "Health_Usage__c",
    "Health_Engagement__c",
    "Health_Outcome__c",
    "Health_Contract__c",
    "Health_Trend__c",
    "Health_Direction__c",
    "Lifecycle_Phase__c",
    "CS_Segment__c",
    "Churn_Signals__c",
    "Touch_Model__c",
    "CS_Priority__c",
    "Tech_Touch_Triggers__c",
    "Onboarding_Step__c",
    "Tutorial_Completed_At__c",
    "Renewal_Reminder_Date__c",
)


def rest_client(sleeps: list | None = None):
    """The real SalesforceClient on a ready session, for `responses` tests (no waiting)."""
    from sfsync.salesforce.client import RetryPolicy, connect

    record = sleeps.append if sleeps is not None else (lambda seconds: None)
    policy = RetryPolicy(max_attempts=3, max_seconds=30, initial_wait=0.1, max_wait=1, sleep=record)
    return connect(
        {"instance_url": "https://org.example.com", "access_token": "00D!session"}, policy=policy
    )
