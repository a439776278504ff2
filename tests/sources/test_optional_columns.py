"""Optional account columns (the churn fields): an org without them still syncs.

The describe decides which optional fields are selected; an absent optional field leaves its
canonical column out of the mapped frame (so that the churn-rate KPI says n/a instead of 0 %),
an absent mandatory field is a clear error. Against the sandbox org: tests/e2e/test_churn.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from sfsync.errors import SourceError
from sfsync.sources.columns import ColumnSpec, apply_mapping, load_column_mapping
from sfsync.sources.extract import exclude_churned
from sfsync.sources.salesforce import account_fields, accounts_soql, read_accounts

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings" / "columns"
BASE_FIELDS = [
    "Id", "Name", "OwnerId", "Industry", "ARR__c", "Enterprise__c", "Contract_Start_Date__c",
    "Renewal_Date__c", "Tenant_Id__c", "Competitor_Evaluation__c",
]  # fmt: skip


def mapping():
    return load_column_mapping(MAPPINGS / "salesforce_accounts.yaml")


class FakeClient:
    """Records the SOQL it is asked and answers with rows holding the selected fields."""

    def __init__(self, fields: list[str], rows: list[dict]):
        self.fields = fields
        self.rows = rows
        self.soql: list[str] = []
        self.describes = 0

    def describe(self, sobject: str) -> dict:
        assert sobject == "Account"
        self.describes += 1
        return {"name": "Account", "fields": [{"name": f} for f in self.fields]}

    def query_frame(self, soql: str, bulk_threshold: int = 2000) -> pd.DataFrame:
        self.soql.append(soql)
        selected = soql.split("SELECT ")[1].split(" FROM")[0].split(", ")
        return pd.DataFrame([{f: r.get(f) for f in selected} for r in self.rows])


ROW = {"Id": "001000000000001AAA", "OwnerId": "005000000000001AAA", "Name": "A"}


def test_the_default_mapping_reads_the_churn_fields_as_optional_columns():
    m = mapping()
    assert m.columns["churned_on"].source == "Churn_Date__c"
    assert m.columns["churned_on"].type == "date" and m.columns["churned_on"].optional
    assert m.columns["churn_reason"].source == "Churn_Reason__c"
    assert m.columns["churn_reason"].optional


def test_an_org_without_the_churn_fields_is_queried_without_them():
    client = FakeClient(BASE_FIELDS, [ROW])
    raw = read_accounts(client, mapping())
    assert "Churn_Date__c" not in client.soql[0] and "Churn_Reason__c" not in client.soql[0]
    frame = apply_mapping(raw, mapping(), source="accounts").frame
    assert "churned_on" not in frame.columns and "churn_reason" not in frame.columns
    assert frame["account_id"].tolist() == [ROW["Id"]]


def test_an_org_with_the_churn_fields_reads_them():
    row = {**ROW, "Churn_Date__c": "2025-01-24", "Churn_Reason__c": "cost"}
    client = FakeClient([*BASE_FIELDS, "Churn_Date__c", "Churn_Reason__c"], [row])
    frame = apply_mapping(read_accounts(client, mapping()), mapping(), source="accounts").frame
    assert "Churn_Date__c, Churn_Reason__c FROM Account" in client.soql[0]
    assert frame["churned_on"].tolist() == [pd.Timestamp("2025-01-24")]
    assert frame["churn_reason"].tolist() == ["cost"]
    assert client.describes == 1


def test_field_names_compare_case_insensitively():
    available = [f.lower() for f in BASE_FIELDS] + ["churn_date__c"]
    fields = account_fields(mapping(), available)
    assert fields == [*BASE_FIELDS, "Churn_Date__c"]


def test_a_missing_mandatory_field_names_the_field_and_the_fix():
    available = [f for f in BASE_FIELDS if f != "Tenant_Id__c"]
    with pytest.raises(SourceError, match="Tenant_Id__c") as err:
        accounts_soql(mapping(), available=available)
    assert "optional: true" in str(err.value.hint)


def test_a_client_that_cannot_describe_selects_every_field():
    class NoDescribe:
        soql: list[str] = []

        def query_frame(self, soql, bulk_threshold=2000):
            self.soql.append(soql)
            return pd.DataFrame([ROW])

    client = NoDescribe()
    read_accounts(client, mapping())
    assert "Churn_Reason__c" in client.soql[0]


def test_a_column_cannot_be_required_and_optional():
    with pytest.raises(ValidationError, match="both required and optional"):
        ColumnSpec(source="X", required=True, optional=True)


def test_a_present_but_empty_optional_column_stays_as_missing_values():
    raw = pd.DataFrame([{**ROW, "Churn_Date__c": None, "Churn_Reason__c": ""}])
    frame = apply_mapping(raw, mapping(), source="accounts").frame
    assert frame["churned_on"].isna().all() and frame["churn_reason"].isna().all()


def test_exclude_churned_drops_accounts_churned_on_or_before_the_as_of_date():
    raw = pd.DataFrame(
        [
            {**ROW, "Id": "001000000000001AAA", "Churn_Date__c": "2025-03-14"},
            {**ROW, "Id": "001000000000002AAA", "Churn_Date__c": "2025-03-15"},
            {**ROW, "Id": "001000000000003AAA", "Churn_Date__c": "2025-03-16"},
            {**ROW, "Id": "001000000000004AAA", "Churn_Date__c": None},
        ]
    )
    mapped = apply_mapping(raw, mapping(), source="accounts")
    kept = exclude_churned(mapped, date(2025, 3, 15))
    assert kept.frame["account_id"].str[12:15].tolist() == ["003", "004"]
    assert kept.quarantined_count == 0 and kept.rows_read == 4


def test_exclude_churned_keeps_everyone_when_the_org_has_no_churn_field():
    mapped = apply_mapping(pd.DataFrame([ROW]), mapping(), source="accounts")
    assert "churned_on" not in mapped.frame
    assert len(exclude_churned(mapped, date(2025, 3, 15)).frame) == 1
