"""A Metabase CSV export whose header lacks the mapping's columns (Metabase before 49 writes
display names there) points at ``format: json``; a JSON export's error does not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sfsync.errors import SourceError
from sfsync.jobs import MetabaseSource
from sfsync.sources.columns import load_column_mapping
from sfsync.sources.extract import map_source

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "columns" / "metabase_usage.yaml"
DISPLAY_NAMES = pd.DataFrame({"Tenant ID": ["tnt-1"], "Month": ["2025-03"], "Deliveries": ["3"]})


def test_csv_export_with_display_names_suggests_the_json_format():
    source = MetabaseSource(kind="metabase", card=1, format="csv")
    with pytest.raises(SourceError) as caught:
        map_source("usage", source, load_column_mapping(MAPPING), DISPLAY_NAMES)
    text = str(caught.value)
    assert "tenant_id (for tenant_id)" in text and "Tenant ID" in text
    assert "format: json on sources.usage" in text


def test_json_export_error_keeps_its_own_hint():
    source = MetabaseSource(kind="metabase", card=1, format="json")
    with pytest.raises(SourceError) as caught:
        map_source("usage", source, load_column_mapping(MAPPING), DISPLAY_NAMES)
    assert "format: json" not in str(caught.value)
    assert "fix the query or the column mapping" in str(caught.value)


def test_csv_is_the_default_export_format():
    assert MetabaseSource(kind="metabase", card=1).format == "csv"
