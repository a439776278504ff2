"""File source: CSV and Parquet, through the column mapping."""

from pathlib import Path

import pandas as pd
import pytest

from sfsync.errors import SourceError
from sfsync.sources.columns import apply_mapping, load_column_mapping
from sfsync.sources.files import read_file

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "columns" / "metabase_usage.yaml"


def test_csv_cells_are_text_and_empty_cells_missing(tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text(
        "tenant_id,month,deliveries,last_login_date,tutorial_completed\n"
        "007,2025-02,3,2025-02-10,true\n"
        "008,2025-02,,,\n"
        "009,2025-02,-1,2025-02-31,false\n"
    )
    raw = read_file(path)
    assert raw["tenant_id"].tolist() == ["007", "008", "009"]  # leading zeros kept
    result = apply_mapping(raw, load_column_mapping(MAPPING), source="usage")
    assert result.frame["tenant_id"].tolist() == ["007", "008"]
    assert pd.isna(result.frame["deliveries"].iloc[1])
    reason = result.quarantined["reason"].iloc[0]
    assert "deliveries: '-1' is below the minimum 0" in reason
    assert "last_login_date: '2025-02-31' is not a date" in reason


def test_parquet_keeps_types_and_maps(tmp_path):
    path = tmp_path / "usage.parquet"
    pd.DataFrame(
        {
            "tenant_id": ["a", "b"],
            "month": ["2025-01", "2025-02"],
            "deliveries": [1, 2],
            "last_login_date": pd.to_datetime(["2025-01-05 00:00", "2025-02-06 13:00"]),
            "unused": [1, 2],
        }
    ).to_parquet(path)
    raw = read_file(path, columns=["tenant_id", "month", "deliveries", "last_login_date", "x"])
    assert "unused" not in raw
    frame = apply_mapping(raw, load_column_mapping(MAPPING), source="usage").frame
    assert frame["last_login_date"].tolist() == [
        pd.Timestamp("2025-01-05"),
        pd.Timestamp("2025-02-06"),
    ]
    assert frame["deliveries"].tolist() == [1.0, 2.0]


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(SourceError, match="file not found"):
        read_file(tmp_path / "nope.csv")
    with pytest.raises(SourceError, match="cannot tell the file format"):
        read_file(tmp_path / "data.xlsx")


def test_corrupt_parquet_is_a_source_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(SourceError, match="bad.parquet: cannot read the parquet file"):
        read_file(path)
