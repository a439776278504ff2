"""csv_frame (pyarrow's CSV reader) gives the frame pandas' C reader gave for a Bulk 2.0 page."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.salesforce.query import csv_frame
from tests.perf import reference

CELL = st.one_of(
    st.sampled_from(
        ["", " ", "NA", "N/A", "null", "NULL", "nan", "None", "#N/A", "-", "true", "72.0",
         "0012", "1e5", "a,b", 'say "hi"', "行1\n行2", "line\r\nbreak", "株式会社テスト", "  pad "]
    ),
    st.text(max_size=6),
)  # fmt: skip


def _page(header: list[str], rows: list[list[str]], quoting: int) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


@settings(max_examples=80, deadline=None)
@given(
    width=st.integers(1, 4),
    data=st.data(),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_csv_frame_is_the_pandas_frame(width, data, quoting):
    header = ["Id", "Name", "Account.Owner.Name", "Health_Score__c"][:width]
    rows = data.draw(st.lists(st.lists(CELL, min_size=width, max_size=width), max_size=8))
    text = _page(header, rows, quoting)
    try:
        expected = reference.csv_frame(text)
    except (pd.errors.ParserError, UnicodeError):
        return  # a page pandas cannot read either (e.g. a lone carriage return)
    pd.testing.assert_frame_equal(csv_frame(text), expected, check_exact=True)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "Id,Name\n",
        "Id,Name\n001,x\n\n002,\n",
        "Id,Name\n001\n002,y\n",  # a short row: NA filled
        "Id,Id\n001,002\n",  # a repeated column name
        '"Id","Name"\n"001",""\n',
        "Id,Name\r\n001,x\r\n",
    ],
)
def test_csv_frame_edge_pages(text):
    pd.testing.assert_frame_equal(csv_frame(text), reference.csv_frame(text), check_exact=True)


def test_csv_frame_keeps_text_that_looks_missing():
    frame = csv_frame("Id,Name\n001,NA\n002,\n003,null\n")
    assert frame["Name"].tolist()[0] == "NA" and frame["Name"].tolist()[2] == "null"
    assert frame["Name"].isna().tolist() == [False, True, False]
