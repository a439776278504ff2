"""sfsync.salesforce.ids.to_18_column gives what to_18 gives value by value, on every kind of
text column: 15- and 18-character ids, wrong suffixes, short, long and non-ASCII values,
missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.salesforce.ids import to_18, to_18_column

ID_CHARS = "abcxyzABCXYZ0189"
RECORD_ID = st.text(ID_CHARS, min_size=15, max_size=15) | st.text(
    ID_CHARS, min_size=18, max_size=18
)
ODD = st.text(ID_CHARS + "ÄäÉß -", max_size=22)  # any length, non-ASCII letters
VALUE = st.one_of(RECORD_ID, RECORD_ID, ODD, st.none())


def _expected(values: list[str | None]) -> list[str | None]:
    return [None if v is None else to_18(v) for v in values]


def _got(column: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else v for v in to_18_column(column).tolist()]


@pytest.mark.parametrize("dtype", ["str", "string", object])
@settings(max_examples=80, deadline=None)
@given(values=st.lists(VALUE, max_size=12))
def test_to_18_column_is_to_18_of_each_value(dtype, values):
    column = pd.Series(values, dtype=dtype, index=[f"r{i}" for i in range(len(values))])
    got = to_18_column(column)
    assert _got(column) == _expected(values)
    assert got.index.equals(column.index)
    assert got.dtype == "str"


def test_to_18_column_on_real_looking_ids_of_every_case_pattern():
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    ids = ["003" + "".join(rng.choice(letters, 12)) for _ in range(3000)]
    ids += [to_18(i) for i in ids[:1000]] + [i + "zzz" for i in ids[1000:2000]]
    assert _got(pd.Series(ids, dtype="str")) == _expected(ids)
    # every suffix character is reached (32 patterns of upper case in a group of five)
    assert {c for i in ids for c in to_18(i)[16:]} == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")


def test_to_18_column_of_a_slice_and_of_nothing():
    column = pd.Series(["001000000000001", None, "001Ab0000000001", "001aB0000000001XYZ"])
    assert _got(column.iloc[2:]) == ["001Ab0000000001IAA", "001aB0000000001QAA"]
    assert to_18_column(column.iloc[2:]).index.tolist() == [2, 3]
    assert to_18_column(pd.Series([], dtype="str")).empty
