"""`sfsync validate --org` lets the org judge each job's accounts query and scope filter.

The real CLI runs in a child process against the sandbox, which refuses what a real org
refuses (see tests/sandbox/test_strict_soql.py). A job's ``scope`` is a list of conditions
joined by AND, each in parentheses, with every value quoted by simple_salesforce's
``format_soql``, so a scope cannot mix AND and OR without parentheses; the filters an admin can
still get wrong are fields the org cannot filter on and malformed Id values. The AND/OR case is
shown on :func:`sfsync.validation.validate_org_scopes` with a client that sends that SOQL.
"""

from __future__ import annotations

import pytest

from sfsync import validation
from tests.ops.conftest import run_cli

SCOPE_MARK = (
    "    # scope:                          # optional; values are quoted, never spliced into SOQL\n"
)


def _with_scope(project, lines: str) -> None:
    job = project.root / "jobs" / "nightly.yaml"
    text = job.read_text(encoding="utf-8")
    assert SCOPE_MARK in text
    job.write_text(text.replace(SCOPE_MARK, "    scope:\n" + lines + SCOPE_MARK), encoding="utf-8")


@pytest.mark.parametrize(
    ("condition", "said"),
    [
        (
            '      - {field: Description, op: like, value: "%VIP%"}\n',
            "INVALID_FIELD: field 'Description' can not be filtered in query call",
        ),
        (
            '      - {field: OwnerId, op: "=", value: "005-not-an-id"}\n',
            "INVALID_QUERY_FILTER_OPERATOR: invalid ID field: 005-not-an-id",
        ),
    ],
)
def test_a_scope_the_org_refuses_fails_validate_naming_job_and_error(
    ops_project, sandbox, condition, said
):
    _with_scope(ops_project, condition)
    offline = run_cli(ops_project, None, "validate")
    assert offline.exit_code == 0, offline.stderr  # offline the scope looks fine
    result = run_cli(ops_project, sandbox, "validate", "--org")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "jobs/nightly.yaml: sources.accounts.scope: Salesforce refused the scope filter: " in (
        result.stderr
    )
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_a_scope_the_org_accepts_passes(ops_project, sandbox):
    _with_scope(ops_project, "      - {field: Type, op: in, value: [Customer, Partner]}\n")
    result = run_cli(ops_project, sandbox, "validate", "--org")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("OK: checked org")


class _SoqlClient:
    """The part of the Salesforce client validate_org_scopes uses, over the sandbox's REST
    query, with the scope's SOQL rewritten to mix AND and OR as a hand-written filter might."""

    def __init__(self, sandbox, rewrite):
        from sfsync.config import SalesforceSettings
        from sfsync.salesforce.client import connect

        settings = SalesforceSettings(
            instance_url=sandbox.salesforce_url, access_token=sandbox.access_token
        )
        self.inner = connect(settings, timezone="Asia/Tokyo")
        self.rewrite = rewrite
        self.sent: list[str] = []

    def describe(self, sobject):
        return self.inner.describe(sobject)

    def query(self, soql, **kwargs):
        soql = self.rewrite(soql)
        self.sent.append(soql)
        return self.inner.query(soql, **kwargs)


def test_an_and_or_mix_is_reported_with_the_org_message(ops_project, sandbox, monkeypatch):
    from sfsync.config import load_project

    _with_scope(
        ops_project,
        '      - {field: Type, op: "=", value: Customer}\n'
        '      - {field: Industry, op: "=", value: Retail}\n',
    )
    project = load_project(ops_project.config)
    client = _SoqlClient(
        sandbox,
        lambda soql: (
            soql.replace(") AND (", " AND ")
            .replace("WHERE (", "WHERE ")
            .replace(") LIMIT", " OR Name = 'x' LIMIT")
        ),
    )
    problems = validation.validate_org_scopes(project, client)
    mixed = [soql for soql in client.sent if " WHERE " in soql]
    assert len(mixed) == 1 and mixed[0].endswith(" AND Industry = 'Retail' OR Name = 'x' LIMIT 1")
    assert len(problems) == 1
    text = str(problems[0])
    assert "nightly.yaml: sources.accounts.scope: Salesforce refused the scope filter: " in text
    assert "MALFORMED_QUERY: ERROR at Row:1:Column:" in text and "unexpected token: OR" in text
