"""sfsync.frames.isin gives what Series.isin gives, on every kind of column and candidate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.frames import isin

TEXT = st.sampled_from(["a", "b", "c", "ア", "", "001A", "nan"])
CANDIDATE = st.one_of(TEXT, st.sampled_from([None, np.nan, pd.NA, pd.NaT, 1, 1.5, True, b"a"]))


def _same(column: pd.Series, values) -> None:
    expected = column.isin(values)
    got = isin(column, values)
    pd.testing.assert_series_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("dtype", ["str", "string", object, "category"])
@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.one_of(TEXT, st.none()), max_size=12), values=st.lists(CANDIDATE))
def test_isin_is_series_isin(dtype, rows, values):
    column = pd.Series(rows, dtype=dtype, name="key", index=[f"r{i}" for i in range(len(rows))])
    _same(column, values)
    _same(column, set(v for v in values if isinstance(v, str)))
    _same(column, tuple(values))


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_isin_takes_a_text_series_of_candidates(dtype):
    column = pd.Series(["a", None, "b", "c"], dtype="str")
    values = pd.Series(["b", None, "x"], dtype=dtype)
    _same(column, values)
    _same(column, pd.Index(values))
    assert isin(column, values).tolist() == [False, True, True, False]


def test_isin_on_many_keys():
    column = pd.Series([f"K{i}" for i in range(5000)] + [None], dtype="str")
    values = [f"K{i}" for i in range(0, 10000, 3)]
    _same(column, values)
    assert int(isin(column, values).sum()) == len(range(0, 5000, 3))
