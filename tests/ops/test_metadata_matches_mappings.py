"""The SFDX metadata in deploy/salesforce and the default mappings cannot drift apart.

The sandbox builds its schema from the same XML files (sfsync_sandbox.salesforce.schema), so
this test checks the shipped metadata, as parsed, against every default mapping with the same
validation ``sfsync validate --org`` runs against a real org's describe.
"""

from pathlib import Path

import pytest
from sfsync_sandbox.salesforce.schema import default_metadata_dir, load_schema

from sfsync.salesforce.mapping import load_mapping, validate_mapping_against_org

ROOT = Path(__file__).resolve().parents[2]
METADATA = ROOT / "deploy" / "salesforce" / "force-app" / "main" / "default"
MAPPINGS = sorted(
    p for p in (ROOT / "mappings").glob("*.yaml") if "sobject:" in p.read_text(encoding="utf-8")
)


def _columns_named_in(path: Path) -> list[str]:
    """The result columns a mapping file names (the column check is tested elsewhere)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [*data.get("fields", {}), data["match"]["column"]]


def test_the_sandbox_reads_the_shipped_metadata():
    assert default_metadata_dir().resolve() == METADATA.resolve()


@pytest.mark.parametrize("mapping_file", MAPPINGS, ids=lambda p: p.name)
def test_every_mapped_field_exists_in_the_metadata_with_a_compatible_type(mapping_file):
    mapping = load_mapping(mapping_file, columns=_columns_named_in(mapping_file))
    schema = load_schema(METADATA)
    describe = schema.objects[mapping.sobject].describe("62.0")
    assert validate_mapping_against_org(mapping, describe) == []


def test_the_check_catches_a_missing_field(tmp_path):
    mapping = load_mapping(ROOT / "mappings" / "account_fields.yaml")
    describe = load_schema(METADATA).objects["Account"].describe("62.0")
    describe = {
        **describe,
        "fields": [f for f in describe["fields"] if f["name"] != "Health_Band__c"],
    }
    problems = validate_mapping_against_org(mapping, describe)
    assert any("Health_Band__c" in str(p) for p in problems)


def test_sync_key_is_an_external_unique_id_on_task():
    fields = {
        f["name"]: f for f in load_schema(METADATA).objects["Task"].describe("62.0")["fields"]
    }
    assert fields["Sync_Key__c"]["externalId"] is True
    assert fields["Sync_Key__c"]["unique"] is True


def test_the_accounts_column_mapping_reads_fields_the_metadata_ships():
    """Every Account field the read mapping selects exists (standard or shipped custom field)
    with a type its canonical column can parse; the churn fields are optional reads."""
    from sfsync.sources.columns import load_column_mapping

    mapping = load_column_mapping(ROOT / "mappings" / "columns" / "salesforce_accounts.yaml")
    fields = {
        f["name"]: f for f in load_schema(METADATA).objects["Account"].describe("62.0")["fields"]
    }
    compatible = {
        "date": {"date", "datetime"},
        "bool": {"boolean"},
        "float": {"double", "currency", "percent", "int"},
        "str": {"string", "id", "reference", "picklist", "textarea", "email", "phone", "url"},
        "id": {"id", "reference"},  # record ids, kept in their 18-character form
    }
    for column, spec in mapping.columns.items():
        field = fields.get(mapping.source_column(column))
        assert field is not None, f"{column}: Account.{mapping.source_column(column)} not shipped"
        assert field["type"] in compatible[spec.type], (column, field["type"])
    assert mapping.columns["churned_on"].optional and mapping.columns["churn_reason"].optional
    reasons = [v["value"] for v in fields["Churn_Reason__c"]["picklistValues"]]
    assert fields["Churn_Reason__c"]["restrictedPicklist"] is True
    assert reasons == ["cost", "missing_feature", "contact_change", "competitor", "project_ended"]


def test_the_playbook_reasons_accept_every_churn_reason_value():
    """A picklist value on the Account always maps to a recovery playbook (mappings/playbook.yaml)."""
    from sfsync.automation.playbook import load_playbook

    playbook = load_playbook(ROOT / "mappings" / "playbook.yaml")
    accepted = {v.lower(): key for key, values in playbook.recovery.reasons.items() for v in values}
    fields = load_schema(METADATA).objects["Account"].describe("62.0")["fields"]
    picklist = next(f for f in fields if f["name"] == "Churn_Reason__c")["picklistValues"]
    for value in picklist:
        assert accepted.get(value["value"].lower()) == value["value"]
        assert accepted.get(value["label"].lower()) == value["value"], value["label"]
    assert playbook.recovery.salesforce_field == "Churn_Reason__c"
    assert playbook.kpi.churn_date_column == "churned_on"
