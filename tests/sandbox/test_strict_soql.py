"""The sandbox's SOQL refuses what a real org refuses and accepts what admins write.

Each refusal carries the error code and message shape a real org answers with; the sources
are quoted in the docstrings of ``sfsync_sandbox.salesforce.soql`` and ``query_engine``.
No HTTP here: the engine on an in-memory org.
"""

from __future__ import annotations

from datetime import date

import pytest
from sfsync_sandbox.salesforce.faults import FaultsAndCounters
from sfsync_sandbox.salesforce.query_engine import QueryEngine, date_literal_range
from sfsync_sandbox.salesforce.schema import FieldDef, load_schema
from sfsync_sandbox.salesforce.soql import DateLiteral, SoqlError, parse_soql
from sfsync_sandbox.salesforce.store import Org

USER = "0055g0000000001AAA"
TODAY = date(2025, 3, 15)  # Q1 2025


@pytest.fixture(scope="module")
def engine():
    org = Org(load_schema(), FaultsAndCounters())
    org.load_records("User", [{"Id": USER, "LastName": "Sato", "Username": "sato@x.invalid",
                               "Email": "sato@example.com"}], USER)  # fmt: skip
    rows = [
        ("A", "Retail", "2025-02-10", "Customer"),
        ("B", "Retail", "2024-11-20", "Customer"),
        ("C", "Finance", "2024-05-01", "Prospect"),
        ("D", None, "2023-06-30", "Customer"),
        ("E", "Finance", "2025-07-01", None),
    ]
    accounts = [
        {"Id": f"0015g00000000{i:02d}AAA", "OwnerId": USER, "Name": name, "Industry": industry,
         "Renewal_Date__c": renewal, "Type": kind, "Description": f"long text {name}"}
        for i, (name, industry, renewal, kind) in enumerate(rows, start=1)
    ]  # fmt: skip
    org.load_records("Account", accounts, USER)
    return QueryEngine(org, today=lambda: TODAY)


def _error(engine, soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        engine.run(soql)
    return info.value


def _names(engine, where: str) -> list[str]:
    _, rows = engine.run(f"SELECT Name FROM Account WHERE {where} ORDER BY Name")
    return [r["Name"] for r in rows]


# -- refused ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "token"),
    [
        ("Industry = 'Retail' AND Type = 'Customer' OR Name = 'C'", "OR"),
        ("Industry = 'Retail' OR Type = 'Customer' AND Name = 'C'", "AND"),
        ("(Industry = 'Retail' OR Type = 'Customer') AND Name = 'C' OR Name = 'D'", "OR"),
    ],
)
def test_and_or_mixed_without_parentheses_is_malformed(engine, where, token):
    """Salesforce: "MALFORMED_QUERY: … ERROR at Row:3:Column:61 unexpected token: OR"."""
    soql = f"SELECT Id FROM Account WHERE {where}"
    error = _error(engine, soql)
    column = soql.rindex(f" {token} ") + 2  # the operator that breaks the level, 1-based
    assert error.code == "MALFORMED_QUERY"
    assert error.message == f"ERROR at Row:1:Column:{column}\nunexpected token: {token}"


def test_parentheses_make_mixed_operators_valid(engine):
    assert _names(engine, "Industry = 'Retail' AND (Type = 'Customer' OR Name = 'C')") == [
        "A",
        "B",
    ]
    assert _names(engine, "(Industry = 'Retail' AND Type = 'Customer') OR Name = 'C'") == [
        "A",
        "B",
        "C",
    ]
    assert _names(engine, "Name = 'A' OR Name = 'B' OR Name = 'C'") == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        ("SELECT Id FROM Account WHERE Description = 'x'",
         "field 'Description' can not be filtered in query call"),
        ("SELECT Id FROM Account WHERE Description LIKE '%x%'",
         "field 'Description' can not be filtered in query call"),
        ("SELECT Id FROM Contact WHERE Account.Description != null",
         "field 'Description' can not be filtered in query call"),
        ("SELECT Id FROM Account ORDER BY Description",
         "field 'Description' can not be sorted in a query call"),
        ("SELECT Description, COUNT(Id) FROM Account GROUP BY Description",
         "field 'Description' can not be grouped in a query call"),
    ],
)  # fmt: skip
def test_long_text_cannot_be_filtered_sorted_or_grouped(engine, soql, message):
    error = _error(engine, soql)
    assert (error.code, error.message) == ("INVALID_FIELD", message)


def test_the_describe_flags_decide(engine):
    """The engine reads the same flags the describe reports: flip one, the query follows."""
    account = engine.schema.objects["Account"]
    described = {f["name"]: f for f in account.describe("62.0")["fields"]}
    assert described["Description"]["filterable"] is False
    assert described["Description"]["sortable"] is False
    assert described["Industry"]["filterable"] is True
    industry = account.field("Industry")
    try:
        industry.filterable = False
        assert account.describe("62.0")["fields"]  # still describes
        assert {f["name"]: f for f in account.describe("62.0")["fields"]}["Industry"][
            "filterable"
        ] is False
        error = _error(engine, "SELECT Id FROM Account WHERE Industry = 'Retail'")
        assert error.message == "field 'Industry' can not be filtered in query call"
    finally:
        industry.filterable = True
    assert FieldDef("X", "X", "textarea", length=255).filterable is True
    assert FieldDef("X", "X", "textarea", length=256).sortable is False
    assert FieldDef("X", "X", "multipicklist").sortable is False


@pytest.mark.parametrize(
    ("where", "bad"),
    [
        ("Id = '001xyz'", "001xyz"),
        ("OwnerId = '005'", "005"),
        ("Id IN ('0015g0000000001AAA', 'not-an-id')", "not-an-id"),
        ("OwnerId != '0055g0000000001AA!'", "0055g0000000001AA!"),
    ],
)
def test_a_malformed_id_literal_is_refused(engine, where, bad):
    error = _error(engine, f"SELECT Id FROM Account WHERE {where}")
    assert (error.code, error.message) == (
        "INVALID_QUERY_FILTER_OPERATOR",
        f"invalid ID field: {bad}",
    )


def test_like_on_an_id_is_refused_and_valid_ids_match(engine):
    error = _error(engine, "SELECT Id FROM Account WHERE Id LIKE '001%'")
    assert (error.code, error.message) == (
        "INVALID_QUERY_FILTER_OPERATOR",
        "invalid operator on id field",
    )
    assert _names(engine, "Id = '0015g0000000001'") == ["A"]  # 15 characters
    assert _names(engine, "OwnerId = null") == []


# -- accepted --------------------------------------------------------------------------------
def test_group_by_with_count_returns_aggregate_results(engine):
    compiled, rows = engine.run(
        "SELECT Industry, COUNT(Id), COUNT(Type) kinds FROM Account GROUP BY Industry "
        "ORDER BY COUNT(Id) DESC, Industry"
    )
    assert compiled.is_aggregate
    assert rows == [
        {"Industry": "Finance", "expr0": 2, "kinds": 1},
        {"Industry": "Retail", "expr0": 2, "kinds": 2},
        {"Industry": None, "expr0": 1, "kinds": 1},
    ]
    out = engine.project(compiled, rows[0], "62.0")
    assert out == {"attributes": {"type": "AggregateResult"}, "Industry": "Finance", "expr0": 2,
                   "kinds": 1}  # fmt: skip


def test_aggregates_without_group_by_and_count_with_group_by(engine):
    _, rows = engine.run(
        "SELECT COUNT(Id), MAX(Renewal_Date__c), MIN(Name) earliest FROM Account "
        "WHERE Industry != null"
    )
    assert rows == [{"expr0": 4, "expr1": "2025-07-01", "earliest": "A"}]
    compiled, groups = engine.run("SELECT COUNT() FROM Account GROUP BY Type")
    assert compiled.query.count_only and len(groups) == 3


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Name, COUNT(Id) FROM Account GROUP BY Industry",
        "SELECT Name, COUNT(Id) FROM Account",
        "SELECT Id, COUNT() FROM Account",
    ],
)
def test_ungrouped_fields_are_refused(engine, soql):
    assert _error(engine, soql).code == "MALFORMED_QUERY"


def test_to_label_in_select_and_where(engine):
    _, rows = engine.run(
        "SELECT Name, toLabel(Industry) FROM Account WHERE toLabel(Type) = 'Customer' ORDER BY Name"
    )
    assert [(r["Name"], r["Industry"]) for r in rows] == [
        ("A", "Retail"),
        ("B", "Retail"),
        ("D", None),
    ]


@pytest.mark.parametrize(
    ("literal", "start", "end"),
    [
        ("THIS_FISCAL_QUARTER", date(2025, 1, 1), date(2025, 4, 1)),
        ("LAST_FISCAL_QUARTER", date(2024, 10, 1), date(2025, 1, 1)),
        ("NEXT_FISCAL_QUARTER", date(2025, 4, 1), date(2025, 7, 1)),
        ("THIS_FISCAL_YEAR", date(2025, 1, 1), date(2026, 1, 1)),
        ("LAST_FISCAL_YEAR", date(2024, 1, 1), date(2025, 1, 1)),
        ("NEXT_FISCAL_YEAR", date(2026, 1, 1), date(2027, 1, 1)),
        ("LAST_N_QUARTERS:2", date(2024, 7, 1), date(2025, 1, 1)),
        ("NEXT_N_QUARTERS:2", date(2025, 4, 1), date(2025, 10, 1)),
        ("N_QUARTERS_AGO:2", date(2024, 7, 1), date(2024, 10, 1)),
        ("LAST_N_YEARS:2", date(2023, 1, 1), date(2025, 1, 1)),
        ("NEXT_N_YEARS:1", date(2026, 1, 1), date(2027, 1, 1)),
        ("N_YEARS_AGO:1", date(2024, 1, 1), date(2025, 1, 1)),
        ("LAST_N_FISCAL_YEARS:1", date(2024, 1, 1), date(2025, 1, 1)),
        ("N_FISCAL_QUARTERS_AGO:1", date(2024, 10, 1), date(2025, 1, 1)),
    ],
)
def test_fiscal_and_n_quarter_year_literals(literal, start, end):
    """Fiscal year = calendar year from January (a new org's default)."""
    name, _, n = literal.partition(":")
    value = parse_soql(f"SELECT Id FROM Account WHERE CloseDate__c = {literal}").where.value
    assert value == DateLiteral(name, int(n) if n else None)
    assert date_literal_range(value, TODAY) == (start, end)


def test_date_literals_filter_records(engine):
    assert _names(engine, "Renewal_Date__c = LAST_N_QUARTERS:2") == ["B"]
    assert _names(engine, "Renewal_Date__c = THIS_FISCAL_QUARTER") == ["A"]
    assert _names(engine, "Renewal_Date__c = N_YEARS_AGO:1") == ["B", "C"]
    assert _names(engine, "Renewal_Date__c = NEXT_N_QUARTERS:2") == ["E"]
