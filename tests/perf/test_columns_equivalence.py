"""The vectorised column coercion (issue 14 item 6) gives exactly what the value-by-value
coercion gave: the same typed values, the same bad cells, and through ``apply_mapping`` the
same valid rows and quarantine rows with the same messages — on NaN, empty and blank strings,
full-width digits, thousands separators, non-finite numbers, ids, dates, months, booleans."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

from sfsync.sources.columns import ColumnMapping, _coerce, _coerce_fast, apply_mapping
from tests.perf import reference_columns as reference

TEXT = [
    " 12 ", "", "   ", None, "1,234", "1,234.5", "12,34", "-1,000", "abc", "1e999", "inf",
    "-inf", "NaN", "nan", "３", "２０２５-03", "2025-03", "2025-3", "2025-13", "2025-03-15",
    "2025-03-15T10:00:00+09:00", "2025/03/15", "15/03/2025", "true", "FALSE", " yes ", "n",
    "t", "maybe", "0", "1", "2", "1.5", "-0.0", "001000000000001", "001000000000001AAA",
    "001000000000001aaa", "00100000000000", "abcdefghijklmno", "顧客 株式会社", "\\u3000x\\u3000",
    "0x10", "1_000", "+5", ".5", "5.", "1e3", "\\t7\\n",
]  # fmt: skip
KINDS = ["str", "id", "int", "float", "date", "month", "bool"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [object, "str"])
def test_text_columns_coerce_as_value_by_value(kind, dtype):
    series = pd.Series(TEXT, dtype=dtype)
    assert _coerce_fast(series, kind) is not None  # the vectorised path is the one tested
    new_values, new_bad = _coerce(series, kind)
    old_values, old_bad = reference._coerce(series, kind)
    assert_series_equal(new_values, old_values)
    assert_series_equal(new_bad, old_bad)


@pytest.mark.parametrize("kind", ["int", "float"])
@pytest.mark.parametrize(
    "values",
    [
        [1.0, 2.5, np.nan, np.inf, -np.inf, 0.0, -3.0, 1e300],
        [1, 2, 3, -4, 0],
        [],
    ],
)
def test_numeric_columns_coerce_as_value_by_value(kind, values):
    series = pd.Series(
        values, dtype="float64" if any(isinstance(v, float) for v in values) else "int64"
    )
    assert _coerce_fast(series, kind) is not None
    new_values, new_bad = _coerce(series, kind)
    old_values, old_bad = reference._coerce(series, kind)
    assert_series_equal(new_values, old_values)
    assert_series_equal(new_bad, old_bad)


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_columns_keep_the_value_by_value_path(kind):
    series = pd.Series([1, "2", 3.5, True, None, pd.Timestamp("2025-03-15"), " x "], dtype=object)
    assert _coerce_fast(series, kind) is None
    new_values, new_bad = _coerce(series, kind)
    old_values, old_bad = reference._coerce(series, kind)
    assert_series_equal(new_values, old_values)
    assert_series_equal(new_bad, old_bad)


MAPPING = ColumnMapping.model_validate(
    {
        "key": ["tenant_id", "month"],
        "columns": {
            "tenant_id": {"type": "str", "required": True},
            "month": {"type": "month", "required": True},
            "deliveries": {"source": "webinars", "type": "int", "min": 0},
            "login_days": {"type": "float", "max": 40},
            "active": {"type": "bool"},
            "first_seen": {"type": "date"},
            "owner": {"type": "id"},
        },
    }
)


def _raw(seed: int, n: int = 400) -> pd.DataFrame:
    rng = random.Random(seed)
    pick = rng.choice
    return pd.DataFrame(
        {
            "tenant_id": [pick(["t1", "t2", " t3 ", "", None, "t4", f"t{rng.randrange(50)}"])
                          for _ in range(n)],
            "month": [pick(["2025-01", "2025-02", "2025-13", "", "２０２５-03", "2025-03-15"])
                      for _ in range(n)],
            "webinars": [pick(TEXT) for _ in range(n)],
            "login_days": [pick([1.0, 31.0, 45.0, np.nan, np.inf, 2.5]) for _ in range(n)],
            "active": [pick(["true", "no", "x", None]) for _ in range(n)],
            "first_seen": [pick(["2025-01-01", "bad", None, "2025-01-01T00:00:00Z"])
                           for _ in range(n)],
            "owner": [pick(["005000000000001", "bad id", None, "005000000000001AAA"])
                      for _ in range(n)],
        }
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_apply_mapping_quarantines_the_same_rows_with_the_same_messages(seed):
    raw = _raw(seed)
    new = apply_mapping(raw, MAPPING, source="usage")
    old = reference.apply_mapping(raw, MAPPING, source="usage")
    assert_frame_equal(new.frame, old.frame)
    assert_frame_equal(new.quarantined, old.quarantined)
    assert new.rows_read == old.rows_read
    assert len(new.quarantined) and len(new.frame)  # both outcomes are exercised
