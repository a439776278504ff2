"""The COUNT() query that chooses between REST pages and a Bulk 2.0 job (issue 14 item 2)."""

from __future__ import annotations

from sfsync.salesforce.query import count_soql


def test_the_count_keeps_the_filter_and_drops_the_order():
    soql = "SELECT Id, Name FROM Account WHERE Type = 'Customer' ORDER BY Name"
    assert count_soql(soql) == "SELECT COUNT() FROM Account WHERE Type = 'Customer'"


def test_a_query_with_a_limit_or_offset_is_not_counted():
    assert count_soql("SELECT Id FROM Account LIMIT 10") is None
    assert count_soql("SELECT Id FROM Account OFFSET 10") is None


def test_a_plain_select_is_counted_over_the_whole_object():
    assert count_soql("SELECT Id, Owner.Email FROM Account") == "SELECT COUNT() FROM Account"
