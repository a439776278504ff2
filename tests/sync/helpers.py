"""Shared test data for the sync tests: an Account describe like the default org schema."""

from __future__ import annotations

from typing import Any

from sfsync.salesforce.mapping import CHURN_CODES


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
        _picklist(
            "Lifecycle_Phase__c", ["Onboarding", "Adoption", "Expansion", "Maturity", "Renewal"]
        ),
        _picklist("CS_Segment__c", ["S", "A", "B", "C"]),
        _picklist("Churn_Signals__c", list(CHURN_CODES), type_="multipicklist"),
        _field("Health_Scored_At__c", "datetime"),
        _field("Health_Explanation__c", "textarea", length=32768),
    ]
    override = override or {}
    out = []
    for f in fields:
        if f["name"] in drop:
            continue
        out.append({**f, **override.get(f["name"], {})})
    return {"name": "Account", "fields": out}


class PlainClient:
    """The slice of SalesforceClient the writer uses, over plain requests (for `responses`)."""

    instance_url = "https://org.example.com"
    base_url = "https://org.example.com/services/data/v62.0/"
    bulk_threshold = 2000

    def __init__(self) -> None:
        import requests

        self.session = requests.Session()
        self.api_calls = 0

    def request(self, method, path, *, raise_for_status=True, **kw):
        from sfsync.errors import SfsyncError

        url = (
            path
            if path.startswith("http")
            else (self.instance_url + path if path.startswith("/") else self.base_url + path)
        )
        self.api_calls += 1
        response = self.session.request(method, url, **kw)
        if raise_for_status and response.status_code >= 300:
            error = SfsyncError(f"HTTP {response.status_code} on {method} {path}")
            error.error_code = response.json()[0]["errorCode"]
            raise error
        return response
