"""Column mappings: renaming, coercion, and the row-level quarantine report."""

from pathlib import Path

import pandas as pd
import pytest

from sfsync.errors import ConfigError, InputDataError, SourceError
from sfsync.sources.columns import (
    ColumnMapping,
    apply_mapping,
    check_quarantine_share,
    load_column_mapping,
    quarantine_unknown,
)

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings" / "columns"


def usage_mapping() -> ColumnMapping:
    return load_column_mapping(MAPPINGS / "metabase_usage.yaml")


def test_shipped_mappings_load():
    for path in MAPPINGS.glob("*.yaml"):
        assert load_column_mapping(path).columns, path


def test_valid_rows_get_canonical_dtypes():
    raw = pd.DataFrame(
        {
            "tenant_id": ["t-1", 42],
            "month": ["2025-02", "2025-01-01T00:00:00+09:00"],
            "deliveries": ["3", 1.0],
            "login_days": [None, "1,2"],
            "last_login_date": ["2025-02-03T10:00:00Z", ""],
            "tutorial_completed": ["true", "FALSE"],
        }
    )
    result = apply_mapping(raw, usage_mapping(), source="usage")
    assert result.quarantined_count == 1  # "1,2" is not a whole number
    frame = result.frame
    assert list(frame["tenant_id"]) == ["t-1"]
    assert frame["month"].iloc[0] == "2025-02"
    assert frame["deliveries"].dtype == "float64" and frame["deliveries"].iloc[0] == 3.0
    assert pd.isna(frame["login_days"].iloc[0])
    assert frame["last_login_date"].iloc[0] == pd.Timestamp("2025-02-03")
    assert frame["tutorial_completed"].dtype == "boolean"
    # optional columns the source lacks exist and are empty
    assert frame["video_views"].isna().all()


def test_integers_from_json_become_text_keys_without_decimals():
    raw = pd.DataFrame({"tenant_id": [1001.0, 7], "month": ["2025-02", "2025-02"]})
    frame = apply_mapping(raw, usage_mapping(), source="usage").frame
    assert list(frame["tenant_id"]) == ["1001", "7"]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("month", "2025-13", "month: '2025-13' is not a month (expected YYYY-MM)"),
        ("last_login_date", "2025-02-30", "last_login_date: '2025-02-30' is not a date"),
        ("last_login_date", "03/02/2025", "last_login_date: '03/02/2025' is not a date"),
        ("deliveries", "-2", "deliveries: '-2' is below the minimum 0"),
        ("deliveries", "2.5", "deliveries: '2.5' is not a whole number"),
        ("deliveries", "many", "deliveries: 'many' is not a whole number"),
        ("pipeline_conversion_rate", "1.5", "is above the maximum 1"),
        ("tutorial_completed", "maybe", "is not a boolean"),
        ("tenant_id", "  ", "tenant_id: required value is empty"),
    ],
)
def test_bad_cells_quarantine_their_row_with_the_reason(column, value, reason):
    raw = pd.DataFrame(
        {"tenant_id": ["t-1", "t-2"], "month": ["2025-02", "2025-02"], "deliveries": ["1", "2"]}
    )
    raw[column] = ["ok-placeholder", value] if column not in raw else [raw[column][0], value]
    if column not in ("tenant_id", "month", "deliveries"):
        raw[column] = [None, value]
    result = apply_mapping(raw, usage_mapping(), source="usage")
    assert list(result.frame["tenant_id"]) == ["t-1"]
    assert result.quarantined_count == 1
    row = result.quarantined.iloc[0]
    assert row["source"] == "usage"
    assert row["row_ref"].startswith("row 2")
    assert reason in row["reason"]


def test_every_reason_of_a_row_is_reported():
    raw = pd.DataFrame({"tenant_id": [""], "month": ["x"], "deliveries": ["-1"]})
    reason = apply_mapping(raw, usage_mapping(), source="usage").quarantined["reason"].iloc[0]
    assert "tenant_id: required value is empty" in reason
    assert "month: 'x' is not a month" in reason
    assert "deliveries: '-1' is below the minimum 0" in reason


def test_duplicate_keys_quarantine_every_copy():
    raw = pd.DataFrame(
        {
            "tenant_id": ["t-1", "t-2", "t-1"],
            "month": ["2025-02", "2025-02", "2025-02"],
            "deliveries": ["1", "2", "5"],
        }
    )
    result = apply_mapping(raw, usage_mapping(), source="usage")
    assert list(result.frame["tenant_id"]) == ["t-2"]
    assert list(result.quarantined["row_ref"]) == [
        "row 1 (tenant_id=t-1, month=2025-02)",
        "row 3 (tenant_id=t-1, month=2025-02)",
    ]
    assert set(result.quarantined["reason"]) == {
        "duplicate key tenant_id=t-1, month=2025-02 (rows 1, 3)"
    }


def test_a_missing_required_column_is_a_source_error_naming_it():
    raw = pd.DataFrame({"tenant": ["t-1"], "month": ["2025-02"]})
    with pytest.raises(SourceError, match=r"tenant_id \(for tenant_id\)") as err:
        apply_mapping(raw, usage_mapping(), source="usage")
    assert "the source returned tenant, month" in str(err.value)


def test_renamed_source_columns():
    mapping = ColumnMapping.model_validate(
        {"columns": {"deliveries": {"source": "Webinars", "type": "int"}}}
    )
    frame = apply_mapping(pd.DataFrame({"Webinars": ["4"]}), mapping, source="x").frame
    assert list(frame.columns) == ["deliveries"] and frame["deliveries"].iloc[0] == 4.0


def test_unknown_tenants_are_quarantined():
    raw = pd.DataFrame({"tenant_id": ["t-1", "t-9"], "month": ["2025-02", "2025-02"]})
    mapped = apply_mapping(raw, usage_mapping(), source="usage")
    mapped = quarantine_unknown(mapped, "tenant_id", {"t-1"}, what="tenant (no account has it)")
    assert list(mapped.frame["tenant_id"]) == ["t-1"]
    row = mapped.quarantined.iloc[0]
    assert row["row_ref"] == "row 2 (tenant_id=t-9, month=2025-02)"
    assert row["reason"] == "tenant_id: 't-9' is not a known tenant (no account has it)"


def test_failure_share_stops_the_run_with_examples():
    raw = pd.DataFrame({"tenant_id": ["t-1", "", "", "t-4"], "month": ["2025-02"] * 4})
    mapped = apply_mapping(raw, usage_mapping(), source="usage")
    check_quarantine_share(mapped, 0.5, setting="x")  # 2 of 4 = 50 %: allowed
    with pytest.raises(InputDataError) as err:
        check_quarantine_share(mapped, 0.25, setting="sources.usage.max_quarantine_share")
    text = str(err.value)
    assert "usage: 2 of 4 rows (50.0%) failed validation" in text
    assert "nothing was written" in text
    assert "row 2 (month=2025-02): tenant_id: required value is empty" in text
    assert "sources.usage.max_quarantine_share" in text


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("columns: {a: {type: integer}}", "columns.a.type"),
        ("columns: {a: {type: int, requried: true}}", "columns.a.requried: unknown key"),
        ("key: [b]\ncolumns: {a: {}}", "key names fields that are not in columns: b"),
        ("columns: {a: {source: x}, b: {source: x}}", "source column(s) mapped twice: x"),
        ("description: no columns", "columns: required key is missing"),
    ],
)
def test_broken_mapping_files_name_file_and_key(tmp_path, yaml_text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_column_mapping(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_thousands_separators_are_numbers():
    raw = pd.DataFrame({"tenant_id": ["t-1"], "month": ["2025-02"], "deliveries": ["1,200"]})
    assert apply_mapping(raw, usage_mapping(), source="usage").frame["deliveries"].iloc[0] == 1200


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("deliveries", "1e308", "deliveries: '1e308' is outside the plausible range 0–100,000"),
        ("deliveries", 1e308, "deliveries: 1e+308 is outside the plausible range 0–100,000"),
        ("deliveries", "inf", "deliveries: 'inf' is not a finite number"),
        ("deliveries", float("-inf"), "deliveries: -inf is not a finite number"),
        ("deliveries", "NaN", "deliveries: 'NaN' is not a finite number"),
        ("deliveries", "1e999", "deliveries: '1e999' is not a finite number"),
        ("plan_usage_ratio", "Infinity", "plan_usage_ratio: 'Infinity' is not a finite number"),
        ("plan_usage_ratio", 12.5, "plan_usage_ratio: 12.5 is outside the plausible range 0–10"),
        ("support_tickets", 1e6, "support_tickets: 1000000.0 is outside the plausible range"),
    ],
)
def test_non_finite_and_absurd_numbers_are_quarantined_with_the_range(column, value, reason):
    raw = pd.DataFrame({"tenant_id": ["t-1", "t-2"], "month": ["2025-02", "2025-02"]})
    raw[column] = pd.Series([1, value], dtype=object)
    result = apply_mapping(raw, usage_mapping(), source="usage")
    assert list(result.frame["tenant_id"]) == ["t-1"]
    assert reason in result.quarantined["reason"].iloc[0]
    assert result.quarantined["reason"].iloc[0].count(";") == 0  # one reason, not three


def test_plausible_ranges_apply_to_canonical_fields_whatever_the_mapping_says():
    mapping = ColumnMapping.model_validate(
        {"columns": {"login_days": {"source": "days", "type": "float"}, "extra": {"type": "float"}}}
    )
    raw = pd.DataFrame({"days": [31, 31.5, None], "extra": [1e300, 2, float("inf")]})
    result = apply_mapping(raw, mapping, source="usage")
    assert list(result.quarantined["reason"]) == [
        "login_days: 31.5 is outside the plausible range 0–31",
        "extra: inf is not a finite number",
    ]
    assert result.frame["login_days"].tolist() == [31.0]  # 1e300 in a field without range is kept


def test_a_mapped_column_the_source_lacks_is_logged():
    from structlog.testing import capture_logs

    raw = pd.DataFrame({"tenant_id": ["t-1"], "month": ["2025-02"], "deliverys": [3]})
    with capture_logs() as logs:
        frame = apply_mapping(raw, usage_mapping(), source="usage").frame
    assert frame["deliveries"].isna().all()
    absent = {e["column"] for e in logs if e["event"] == "mapped_column_absent"}
    assert "deliveries" in absent and "tenant_id" not in absent
