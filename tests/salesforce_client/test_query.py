"""SOQL pagination, record flattening, Bulk 2.0 query switching, SOQL helpers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import responses
from simple_salesforce import format_soql

from sfsync.errors import SourceError
from sfsync.salesforce.client import soql_in
from sfsync.salesforce.query import bulk_compatible, flatten_record, select_fields

from .conftest import API


def rec(i, email="o@x"):
    return {
        "attributes": {"type": "Account", "url": f"/services/data/v62.0/sobjects/Account/{i}"},
        "Id": f"001{i:015d}",
        "Name": f"Acme {i}",
        "ARR__c": 1000000.0 + i,
        "Enterprise__c": i % 2 == 0,
        "Owner": None if email is None else {"attributes": {"type": "User"}, "Email": email},
    }


def three_pages(n_per_page=3):
    pages = []
    for p in range(3):
        records = [
            rec(p * n_per_page + i, email=None if i == 0 else f"o{i}@x") for i in range(n_per_page)
        ]
        page = {"totalSize": 3 * n_per_page, "done": p == 2, "records": records}
        if p < 2:
            page["nextRecordsUrl"] = f"/services/data/v62.0/query/01gABC-{(p + 1) * n_per_page}"
        pages.append(page)
    return pages


SOQL = "SELECT Id, Name, ARR__c, Enterprise__c, Owner.Email FROM Account"


@responses.activate
def test_query_follows_next_records_url_across_three_pages(session_client):
    p1, p2, p3 = three_pages()
    responses.add(responses.GET, f"{API}/query/", json=p1)
    responses.add(responses.GET, f"{API}/query/01gABC-3", json=p2)
    responses.add(responses.GET, f"{API}/query/01gABC-6", json=p3)
    rows = session_client.query(SOQL)
    assert [r["Id"] for r in rows] == [f"001{i:015d}" for i in range(9)]
    assert all("attributes" not in r and "Owner" not in r for r in rows)
    assert rows[0]["Owner.Email"] is None and rows[1]["Owner.Email"] == "o1@x"
    assert len(responses.calls) == 3 and session_client.api_calls == 3
    assert parse_qs(urlsplit(responses.calls[0].request.url).query)["q"] == [SOQL]
    assert session_client.calls_by_kind == {"query": 1, "queryMore": 2}


@responses.activate
def test_query_frame_below_threshold_reads_rest_pages(session_client):
    p1, p2, p3 = three_pages()
    responses.add(responses.GET, f"{API}/query/", json=p1)
    responses.add(responses.GET, f"{API}/query/01gABC-3", json=p2)
    responses.add(responses.GET, f"{API}/query/01gABC-6", json=p3)
    frame = session_client.query_frame(SOQL, bulk_threshold=100)
    assert list(frame.columns) == ["Id", "Name", "ARR__c", "Enterprise__c", "Owner.Email"]
    assert len(frame) == 9
    assert frame.loc[1, "ARR__c"] == "1000001.0" and frame.loc[1, "Enterprise__c"] == "false"
    assert pd.isna(frame.loc[0, "Owner.Email"])
    assert all(pd.api.types.is_string_dtype(frame[c]) for c in frame.columns)


@responses.activate
def test_query_frame_empty_result_keeps_the_columns(session_client):
    responses.add(
        responses.GET, f"{API}/query/", json={"totalSize": 0, "done": True, "records": []}
    )
    frame = session_client.query_frame(SOQL)
    assert list(frame.columns) == ["Id", "Name", "ARR__c", "Enterprise__c", "Owner.Email"]
    assert frame.empty


@responses.activate
def test_query_frame_above_threshold_uses_bulk_2(session_client, sleeps):
    p1 = three_pages()[0]
    p1["totalSize"] = 5
    responses.add(responses.GET, f"{API}/query/", json=p1)
    responses.add(
        responses.POST, f"{API}/jobs/query", json={"id": "750J", "state": "UploadComplete"}
    )
    responses.add(
        responses.GET, f"{API}/jobs/query/750J", json={"id": "750J", "state": "InProgress"}
    )
    responses.add(
        responses.GET, f"{API}/jobs/query/750J", json={"id": "750J", "state": "JobComplete"}
    )
    header = '"Id","Name","ARR__c","Enterprise__c","Owner.Email"\n'
    page1 = header + '"001A","Acme, Inc.","1000000","true","a@x"\n"001B","Beta","","false",""\n'
    page2 = header + '"001C","日本語","5","false","c@x"\n'
    responses.add(
        responses.GET,
        f"{API}/jobs/query/750J/results",
        body=page1,
        headers={"Sforce-Locator": "MjAwMA"},
    )
    responses.add(
        responses.GET,
        f"{API}/jobs/query/750J/results",
        body=page2,
        headers={"Sforce-Locator": "null"},
    )
    frame = session_client.query_frame(SOQL, bulk_threshold=2)
    assert frame["Id"].tolist() == ["001A", "001B", "001C"]
    assert frame.loc[0, "Name"] == "Acme, Inc." and frame.loc[2, "Name"] == "日本語"
    assert pd.isna(frame.loc[1, "ARR__c"]) and frame.loc[0, "ARR__c"] == "1000000"
    assert list(frame.columns) == ["Id", "Name", "ARR__c", "Enterprise__c", "Owner.Email"]
    job_request = responses.calls[1].request
    assert b'"query"' in job_request.body and b"Owner.Email" in job_request.body
    second_page = responses.calls[-1].request.url
    assert parse_qs(urlsplit(second_page).query)["locator"] == ["MjAwMA"]
    # probe page + create + 2 polls + 2 result pages
    assert session_client.api_calls == 6
    assert sleeps == [0.5]  # one poll wait, through the policy's sleep


@responses.activate
def test_failed_bulk_job_is_a_source_error(session_client):
    responses.add(responses.POST, f"{API}/jobs/query", json={"id": "750F"})
    responses.add(
        responses.GET,
        f"{API}/jobs/query/750F",
        json={"id": "750F", "state": "Failed", "errorMessage": "INVALID_FIELD: Foo__c"},
    )
    with pytest.raises(SourceError, match="INVALID_FIELD: Foo__c"):
        session_client.bulk_query_frame("SELECT Foo__c FROM Account")


@responses.activate
def test_describe_is_cached(session_client):
    responses.add(
        responses.GET, f"{API}/sobjects/Account/describe", json={"name": "Account", "fields": []}
    )
    assert session_client.describe("Account")["name"] == "Account"
    assert session_client.describe("Account")["name"] == "Account"
    assert len(responses.calls) == 1


def test_flatten_record_nested_parents_and_children():
    record = {
        "attributes": {"type": "Account"},
        "Id": "001",
        "Owner": {
            "attributes": {"type": "User"},
            "Manager": {"attributes": {}, "Email": "m@x"},
            "Name": "O",
        },
        "Tasks": {"totalSize": 1, "done": True, "records": [{"attributes": {}, "Id": "00T"}]},
    }
    assert flatten_record(record) == {
        "Id": "001",
        "Owner.Manager.Email": "m@x",
        "Owner.Name": "O",
        "Tasks": [{"Id": "00T"}],
    }


def test_select_fields_and_bulk_compatibility():
    assert select_fields(
        "SELECT Id, Owner.Email, (SELECT Id FROM Tasks) FROM Account WHERE X = 1"
    ) == ["Id", "Owner.Email"]
    assert bulk_compatible(SOQL)
    assert not bulk_compatible("SELECT Id, (SELECT Id FROM Tasks) FROM Account")
    assert not bulk_compatible("SELECT COUNT(Id) FROM Account")
    assert not bulk_compatible("SELECT Industry, SUM(ARR__c) s FROM Account GROUP BY Industry")


def test_soql_in_quotes_and_chunks():
    ids = [f"001{i:015d}" for i in range(3000)] + ["001000000000000000", None, "O'Brien"]
    conditions = soql_in("Id", ids)
    assert len(conditions) > 1
    seen = []
    for cond in conditions:
        assert cond.startswith("Id IN (") and cond.endswith(")")
        assert len(format_soql("SELECT Id FROM Account WHERE {:literal}", cond)) < 100_000
        from urllib.parse import quote

        assert len(quote(cond)) <= 12_000
        seen.extend(v.strip("'") for v in cond[len("Id IN (") : -1].split(","))
    assert seen[:3000] == ids[:3000]
    assert seen[-1] == "O\\'Brien"  # quoted by format_soql
    assert len(seen) == 3001  # deduplicated, None dropped
    assert soql_in("Id", []) == []
    with pytest.raises(ValueError):
        soql_in("Id) OR (Name", ["x"])


def test_soql_in_values_round_trip_through_url_encoding():
    cond = soql_in("Name", ["a,b", "c'd", "日本"])[0]
    assert cond == format_soql("Name IN {}", ["a,b", "c'd", "日本"])
