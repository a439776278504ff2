"""``soql_in``'s fast path for plain keys gives exactly the literals and chunk boundaries that
quoting every value with ``format_soql`` and measuring it with ``quote`` gave."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st
from simple_salesforce import format_soql

from sfsync.salesforce.query import _literal_and_cost, soql_in


def _reference(field, values, max_url_chars):
    seen = dict.fromkeys(v for v in values if v is not None)
    conditions, chunk = [], []
    prefix = f"{field} IN ("
    size = len(quote(prefix)) + len(quote(")"))
    for value in seen:
        literal = format_soql("{}", value)
        cost = len(quote(literal)) + len(quote(","))
        if chunk and size + cost > max_url_chars:
            conditions.append(prefix + ",".join(chunk) + ")")
            chunk, size = [], len(quote(prefix)) + len(quote(")"))
        chunk.append(literal)
        size += cost
    if chunk:
        conditions.append(prefix + ",".join(chunk) + ")")
    return conditions


ODD = ["qbr:001000000000001AAA:2025-Q1", "a'b", "a\\\\b", 'x"y', "顧客", "a b", "a,b", "a%3A",
       "~._-:", "", "line\\nbreak", "001000000000001", 5, 2.5, True]  # fmt: skip


def test_odd_values_quote_and_cost_as_format_soql_and_quote():
    for value in ODD:
        literal = format_soql("{}", value)
        assert _literal_and_cost(value) == (literal, len(quote(literal)))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(alphabet="ab:-_.~'\\\\ ,%顧Z9", max_size=12), st.integers()), max_size=60
    ),
    st.integers(min_value=40, max_value=400),
)
def test_chunks_are_those_of_quoting_every_value(values, max_url_chars):
    assert soql_in("Sync_Key__c", values, max_url_chars=max_url_chars) == _reference(
        "Sync_Key__c", values, max_url_chars
    )
