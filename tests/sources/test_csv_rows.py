"""The Metabase CSV export decoded by pyarrow (sfsync/sources/csv_rows.py): the frame pandas'
reader made of the same body, every column Arrow-backed text; error objects Metabase writes
in place of the rows or after them are SourceErrors; the body is never decoded as a str."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
import responses
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from sfsync.errors import SourceError
from sfsync.sources.columns import TEXT_DTYPE
from sfsync.sources.csv_rows import ExportError, csv_frame
from sfsync.sources.metabase import EXPORT_ROW_CAP, MetabaseClient

URL = "https://mb.example.test"
CARD = {"id": 1, "dataset_query": {"type": "native", "native": {"query": "select 1"}}}
CELL = st.one_of(
    st.sampled_from(
        ["", " ", "NA", "N/A", "null", "NULL", "nan", "None", "#N/A", "-", "true", "72.0",
         "0012", "1e5", "a,b", 'say "hi"', "行1\n行2", "line\r\nbreak", "株式会社テスト",
         "  pad ", "{\"a\": 1}", "\ufeffx", "2025-03-15T10:00:00+09:00"]
    ),
    st.text(max_size=6),
)  # fmt: skip


def _body(header: list[str], rows: list[list[str]], quoting: int, bom: bool) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + buf.getvalue().encode()


def _pandas(body: bytes) -> pd.DataFrame:
    """What the CSV path did before: pandas' reader on the decoded text."""
    text = body.decode("utf-8-sig")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda width: st.tuples(
            st.lists(st.text("abcdefgxyz_", min_size=1, max_size=8), min_size=width,
                     max_size=width, unique=True),
            st.lists(st.lists(CELL, min_size=width, max_size=width), max_size=12),
        )
    ),
    st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    st.booleans(),
)  # fmt: skip
def test_csv_frame_is_the_frame_pandas_read(table, quoting, bom):
    header, rows = table
    body = _body(header, rows, quoting, bom)
    frame = csv_frame(body)
    assert_frame_equal(frame, _pandas(body), check_exact=True)
    assert all(dtype == TEXT_DTYPE for dtype in frame.dtypes)


def test_empty_cells_are_missing_and_words_stay_text():
    body = b'\xef\xbb\xbftenant_id,month,note\nt-1,2025-02,NA\nt-2,,""\n,2025-03,"a\nb, c"\n'
    frame = csv_frame(body)
    assert list(frame.columns) == ["tenant_id", "month", "note"]  # no BOM in the first name
    assert frame.astype(object).where(frame.notna(), None).values.tolist() == [
        ["t-1", "2025-02", "NA"],
        ["t-2", None, None],
        [None, "2025-03", "a\nb, c"],
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"only\nx\n\ny\n",  # one column: pandas skips the blank line
        b"a,a\n1,2\n",  # a repeated name: pandas renames it a.1
        b"a,b\n1,2,3\n4,5\n",  # a row wider than the header
        b"a,b\n1\n",  # a row narrower than the header
        b"a,b\n",  # no rows
    ],
    ids=["one-column", "repeated-name", "wide-row", "narrow-row", "header-only"],
)
def test_bodies_pandas_reads_its_own_way_keep_its_frame(body):
    try:
        expected = _pandas(body)
    except ValueError as exc:
        with pytest.raises(type(exc)):
            csv_frame(body)
    else:
        assert_frame_equal(csv_frame(body), expected, check_exact=True)


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"status": "failed", "error": "ERROR: relation \\"usage\\" does not exist"}',
         'ERROR: relation "usage" does not exist'),
        (b'{"message": "Query exceeded the timeout", "_status": 500}',
         "Query exceeded the timeout"),
        (b'\n\n{"cause": "Connection refused", "via": []}', "Connection refused"),
    ],
)  # fmt: skip
def test_an_error_object_instead_of_rows_is_an_export_error(body, message):
    with pytest.raises(ExportError) as err:
        csv_frame(body)
    assert err.value.message == message and err.value.rows_before is None


def test_an_error_object_after_some_rows_is_an_export_error():
    body = b'a,b\n1,2\n3,"x\ny"\n{"status":"failed","error":"canceling statement due to timeout"}'
    with pytest.raises(ExportError) as err:
        csv_frame(body)
    assert err.value.message == "canceling statement due to timeout"
    assert err.value.rows_before == 3  # lines before it, less the header: quoted newlines count


def test_a_first_column_named_with_a_brace_is_still_csv():
    body = b"{x},b\n1,2\n{y},3\n"
    assert csv_frame(body).values.tolist() == [["1", "2"], ["{y}", "3"]]


def client():
    return MetabaseClient(URL, api_key="mb_KEY", sleep=lambda _: None)


@responses.activate
@pytest.mark.parametrize("status", [200, 202])
def test_a_failed_query_answering_json_to_a_csv_request_is_a_source_error(status):
    responses.get(f"{URL}/api/card/1", json=CARD)
    responses.post(
        f"{URL}/api/card/1/query/csv",
        status=status,
        json={"status": "failed", "error": "Syntax error at line 3", "error_type": "invalid-query"},
    )
    with pytest.raises(SourceError, match="Metabase could not run card 1: Syntax error at line 3"):
        client().card_rows(1, fmt="csv")


@responses.activate
def test_a_query_failing_mid_export_is_a_source_error_not_half_the_rows():
    responses.get(f"{URL}/api/card/1", json=CARD)
    body = "tenant_id,month\n" + "t-1,2025-02\n" * 5 + '{"status":"failed","error":"timeout"}'
    responses.post(f"{URL}/api/card/1/query/csv", body=body, content_type="text/csv")
    with pytest.raises(SourceError, match="failed while exporting card 1, after about 5 rows"):
        client().card_rows(1, fmt="csv")


@responses.activate
def test_csv_without_a_charset_is_read_as_utf8():
    """Metabase sends ``text/csv`` with no charset; requests would decode that as Latin-1."""
    responses.get(f"{URL}/api/card/1", json=CARD)
    body = "tenant_id,name\nt-1,株式会社テスト\n".encode()
    responses.post(f"{URL}/api/card/1/query/csv", body=body, content_type="text/csv")
    frame = client().card_rows(1, fmt="csv")
    assert frame["name"].tolist() == ["株式会社テスト"]


@responses.activate
def test_an_empty_answer_is_a_source_error():
    responses.get(f"{URL}/api/card/1", json=CARD)
    responses.post(f"{URL}/api/card/1/query/csv", body=b"", content_type="text/csv")
    with pytest.raises(SourceError, match="not CSV for card 1"):
        client().card_rows(1, fmt="csv")


@responses.activate
def test_a_result_of_exactly_the_download_limit_is_refused_as_truncated():
    responses.get(f"{URL}/api/card/1", json=CARD)
    body = b"tenant_id,month\n" + b"t-1,2025-02\n" * EXPORT_ROW_CAP
    responses.post(f"{URL}/api/card/1/query/csv", body=body, content_type="text/csv")
    with pytest.raises(SourceError, match="the result was truncated"):
        client().card_rows(1, fmt="csv")


class _BytesOnly:
    """A response whose body may be read as bytes only (``.text`` would copy it as a str)."""

    status_code = 200
    content = b"tenant_id,month\nt-1,2025-02\n"

    @property
    def text(self):
        raise AssertionError("the CSV body was decoded into a str")


def test_the_csv_body_is_read_as_bytes_never_as_text():
    frame = client()._export_frame(_BytesOnly(), "csv", "card 1")
    assert frame.values.tolist() == [["t-1", "2025-02"]]


def test_ordinary_exports_are_read_by_arrow_not_pandas(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pandas' reader was used")

    monkeypatch.setattr(pd, "read_csv", refuse)
    body = _body(
        ["tenant_id", "month", "note"],
        [["t-1", "2025-02", 'a "b"\nc'], ["", "2025-03", ""]],
        csv.QUOTE_MINIMAL,
        bom=True,
    )
    frame = csv_frame(body)
    assert frame["note"].tolist()[0] == 'a "b"\nc' and frame["tenant_id"].isna().tolist() == [
        False,
        True,
    ]
