"""The vectorised column coercion (issue 14 item 6) gives exactly what the value-by-value
coercion gave: the same typed values, the same bad cells, and through ``apply_mapping`` the
same valid rows and quarantine rows with the same messages — on NaN, empty and blank strings,
full-width digits, thousands separators, non-finite numbers, ids, dates, months, booleans;
for text held as Python objects and as Arrow-backed text (what the CSV export decodes to)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal, assert_series_equal

from sfsync.sources.columns import (
    ColumnMapping,
    _allowed,
    _coerce,
    _coerce_fast,
    apply_mapping,
)
from tests.perf import reference_columns as reference

TEXT = [
    " 12 ", "", "   ", None, "1,234", "1,234.5", "12,34", "-1,000", "abc", "1e999", "inf",
    "-inf", "NaN", "nan", "３", "２０２５-03", "2025-03", "2025-3", "2025-13", "2025-03-15",
    "2025-03-15T10:00:00+09:00", "2025/03/15", "15/03/2025", "true", "FALSE", " yes ", "n",
    "t", "maybe", "0", "1", "2", "1.5", "-0.0", "001000000000001", "001000000000001AAA",
    "001000000000001aaa", "00100000000000", "abcdefghijklmno", "顧客 株式会社", "\\u3000x\\u3000",
    "0x10", "1_000", "+5", ".5", "5.", "1e3", "\\t7\\n",
    # real Unicode blanks (Python's str.strip removes them, and \x1c-\x1f too)
    "\u3000x\u3000", "\xa05\xa0", "\x1c7\x1f", "\t7\n", "\u2028", "\u200b1",
    # numbers as pandas reads them (ASCII digits, any-case inf/nan words, either sign)
    "Infinity", "-INF", "+nan", "-nan", "1.e5", "-.5", "1e+05", "1E-0", "-0", "1,234,567.89",
    "1,23", "１,２３４", "1,２３４", "١٢", "1e99999999999999999999", "9" * 30, "0.1", "1e-400",
    # ids: 15 and 18 characters, a wrong suffix, lower case, non-ASCII
    "00100000000000A", "001000000000001zzz", "001Ab00000Xyz12", "001ab00000xyz12ABC",
    "00100000000000é", "001000000000001AA",
    # dates and months: timestamps, offsets, impossible days, other digits, other layouts
    "2025-03-15T10:00:00+09:00", "2025-03-15 23:59:59.999-05:00", "2025-03-15Z", "2025-02-29",
    "2024-02-29", "2025-02-30", "2025-04-31", "2025-00-10", "2025-01-00", "1900-02-29",
    "2000-02-29", "1700-06-01", "２０２５-03-15", "٢٠٢٥-03-15", "2025-03-1５", "2025-1-05",
    "20250315", "2025-03-15x", " 2025-03-15 ", "2025-12", "2025-00", "2025-03x",
    # booleans
    "TRUE", "Yes", "Y", "F", "No", "true ", "ｔｒｕｅ", "İ",
]  # fmt: skip
KINDS = ["str", "id", "int", "float", "date", "month", "bool"]
#: Every way a text column reaches the mapping: Python objects, pandas' ``str``, Arrow strings
TEXT_DTYPES = [
    object,
    "str",
    pd.StringDtype("pyarrow"),
    pd.StringDtype("python"),
    pd.ArrowDtype(pa.string()),
    pd.ArrowDtype(pa.large_string()),
]
TEXT_DTYPE_IDS = ["object", "str", "string-pyarrow", "string-python", "arrow", "arrow-large"]


def _same_coercion(series: pd.Series, kind: str) -> None:
    assert _coerce_fast(series, kind) is not None  # the vectorised path is the one tested
    new_values, new_bad = _coerce(series, kind)
    old_values, old_bad = reference._coerce(series, kind)
    assert_series_equal(new_values, old_values, check_exact=True)
    assert_series_equal(new_bad, old_bad, check_exact=True)
    if kind in ("int", "float"):  # -0.0 == 0.0: compare the signs of the numbers too
        new, old = new_values.to_numpy(), old_values.to_numpy()
        numbers = ~np.isnan(old)
        assert np.array_equal(np.signbit(new[numbers]), np.signbit(old[numbers]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", TEXT_DTYPES, ids=TEXT_DTYPE_IDS)
def test_text_columns_coerce_as_value_by_value(kind, dtype):
    _same_coercion(pd.Series(TEXT, dtype=dtype), kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", TEXT_DTYPES, ids=TEXT_DTYPE_IDS)
def test_columns_of_one_kind_of_value_coerce_as_value_by_value(kind, dtype):
    """Whole columns of well-formed values (the quick whole-column casts) and of blanks."""
    for values in (
        ["12", "0.5", "-3", "1e3", None, "7"],
        ["12", "-0", "3"],
        ["2025-03-15", "2024-02-29", None, "1999-12-31"],
        ["2025-03-15T00:00:00Z", "2024-02-29 23:59:59+09:00", None, "2025-03-15x"],
        ["2025-03", "2024-12", None],
        ["001000000000001", "001000000000001AAA", None],
        ["true", "false", None, "1"],
        [None, None],
        ["", " "],
        [],
    ):
        _same_coercion(pd.Series(values, dtype=dtype), kind)


@pytest.mark.parametrize("dtype", [*TEXT_DTYPES, object], ids=[*TEXT_DTYPE_IDS, "mixed"])
@pytest.mark.parametrize("value", ["1600-01-01", "2262-04-12", "0000-01-01", "0001-01-01",
                                   "9999-12-31"])  # fmt: skip
def test_dates_outside_datetime64_ns_are_bad_cells_not_a_crash(dtype, value):
    # the value-by-value reference raised OutOfBoundsDatetime on a database sentinel date
    cells = ["2025-03-15", value, None]
    series = pd.Series(cells if dtype is not object else [*cells, 5], dtype=dtype)
    values, bad = _coerce(series, "date")
    assert values.dtype == "datetime64[ns]"
    assert values.iloc[0] == pd.Timestamp("2025-03-15") and pd.isna(values.iloc[1])
    assert bad.tolist()[:3] == [False, True, False]


def test_a_datetime_column_outside_datetime64_ns_gives_bad_cells():
    series = pd.Series(pd.to_datetime(["2025-03-15", "0001-01-01", None]).astype("datetime64[us]"))
    values, bad = _coerce(series, "date")
    assert values.dtype == "datetime64[ns]" and bad.tolist() == [False, True, False]


def test_a_sentinel_date_quarantines_its_row_with_the_value_shown():
    mapping = ColumnMapping.model_validate(
        {
            "key": ["tenant_id"],
            "columns": {
                "tenant_id": {"type": "str", "required": True},
                "last_login_date": {"type": "date"},
            },
        }  # fmt: skip
    )
    raw = pd.DataFrame({"tenant_id": ["a", "b"], "last_login_date": ["2025-03-01", "0001-01-01"]})
    mapped = apply_mapping(raw, mapping, source="usage")
    assert mapped.frame["tenant_id"].tolist() == ["a"]
    assert "0001-01-01" in mapped.quarantined["reason"].iloc[0]


# text made of the characters that matter to numbers, dates and months
_CHARS = st.sampled_from(list("0123456789+-.,eEinfatyINFATY :TZ_x") + ["１", "٣", "\u3000"])
_CELL = st.one_of(
    st.none(),
    st.text(_CHARS, max_size=12),
    st.sampled_from(["inf", "-Infinity", "NaN", "1,234", "2025-02-29", "2024-02-29T10:00Z"]),
    st.builds(
        "{:04d}-{:02d}-{:02d}{}".format,
        st.integers(1678, 2261),
        st.integers(0, 13),
        st.integers(0, 32),
        st.sampled_from(["", "T00:00:00+09:00", " ", "x", "Z"]),
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_CELL, max_size=20), st.sampled_from(KINDS), st.sampled_from(TEXT_DTYPES))
def test_any_text_coerces_as_value_by_value(values, kind, dtype):
    _same_coercion(pd.Series(values, dtype=dtype), kind)


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
def test_boolean_columns_coerce_as_value_by_value(kind):
    """A JSON export's true/false column (numpy bool): quick for kind bool, as before else."""
    series = pd.Series([True, False, True])
    assert (_coerce_fast(series, kind) is None) == (kind != "bool")
    new_values, new_bad = _coerce(series, kind)
    old_values, old_bad = reference._coerce(series, kind)
    assert_series_equal(new_values, old_values, check_exact=True)
    assert_series_equal(new_bad, old_bad, check_exact=True)


def _allowed_value_by_value(values, allowed):
    """``_allowed`` as it was: a Python call per value."""
    spelling = {a.strip().casefold(): a for a in allowed}
    folded = values.map(lambda v: spelling.get(str(v).strip().casefold()), na_action="ignore")
    unknown = values.notna() & folded.isna()
    return folded.astype("str").where(folded.notna(), pd.NA), unknown


@pytest.mark.parametrize(
    "values",
    [
        ["video", "Video ", "MAIL", None, "podcast", "document", "ß", "mail"],
        [None, None],
        [],
        ["x", "y"],
    ],
)
def test_allowed_values_are_matched_as_value_by_value(values):
    allowed = ["video", "document", "mail", "SS"]
    series = _coerce(pd.Series(values, dtype=object), "str")[0]
    new_values, new_unknown = _allowed(series, allowed)
    old_values, old_unknown = _allowed_value_by_value(series, allowed)
    assert_series_equal(new_values, old_values, check_exact=True)
    assert_series_equal(new_unknown, old_unknown, check_exact=True)


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


def _as_csv_text(raw: pd.DataFrame, dtype: object) -> pd.DataFrame:
    """``raw`` as a CSV export decodes: every column text (numbers written out), blank = NA."""
    text = {}
    for name, column in raw.items():
        cells = [None if v is None or v != v else str(v) for v in column.astype(object)]
        text[name] = pd.Series([c if c else None for c in cells], dtype=dtype)
    return pd.DataFrame(text)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "text", [None, "str", pd.ArrowDtype(pa.string())], ids=["as-read", "str", "arrow"]
)
def test_apply_mapping_quarantines_the_same_rows_with_the_same_messages(seed, text):
    raw = _raw(seed) if text is None else _as_csv_text(_raw(seed), text)
    new = apply_mapping(raw, MAPPING, source="usage")
    old = reference.apply_mapping(raw, MAPPING, source="usage")
    assert_frame_equal(new.frame, old.frame)
    assert_frame_equal(new.quarantined, old.quarantined)
    assert new.rows_read == old.rows_read
    assert len(new.quarantined) and len(new.frame)  # both outcomes are exercised
