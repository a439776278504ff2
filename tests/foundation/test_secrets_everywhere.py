"""No secret reaches any sink: logs, CLI errors, Slack, the state store, the plan file.

The real CLI runs against the sandbox with known secrets configured the way an operator does:
a password in the user-info of ``SFSYNC_METABASE_URL`` (URL-encoded, as it must be there),
``SFSYNC_SLACK_TOKEN``, ``SFSYNC_SF_ACCESS_TOKEN`` and a SQL URL with a password (the state
store on PostgreSQL when a server is reachable). Then servers echo the secrets back, as real
ones do in error texts (a database error quoting a connection string, a token in a message):

- the nightly run reads usage with a warehouse query that fails with an error quoting every
  secret (raw, URL-encoded, JSON-escaped and inside URLs), so the run fails:
  that text goes to the JSON log, the CLI's ``Error:`` line, ``runs.error`` and the run-failed
  Slack alert (through the outbox);
- a dry run with ``--plan-out`` whose Task template quotes the secrets writes a plan file;
- the ledgers that run left empty (write failures, quarantine, a Slack delivery error) get
  the same text through their write functions, so every text column of the store holds it.

Each sink is checked for every form of every secret, and for the surrounding text, so that a
sink that never received the message cannot pass by accident.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit

import pytest
import sqlalchemy as sa
import yaml
from sfsync_sandbox import Sandbox

from sfsync.config import load_project
from tests.cli_process import make_project, run_sfsync
from tests.fixtures.sandbox import SANDBOX_AS_OF
from tests.fixtures.state import create_postgres_database, drop_postgres_database

AS_OF = SANDBOX_AS_OF.isoformat()
# Characters that URL-encoding, JSON and HTML escaping all change, so each form is distinct.
METABASE_PASSWORD = "Mb-p@ss/w0rd!&" + uuid.uuid4().hex[:8]
SQL_PASSWORD = "Sq1-p@ss:" + uuid.uuid4().hex[:8]
ECHO_MARKER = "no such column"  # what the warehouse says around the echoed secrets
PLAN_MARKER = "Ref:"


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


@pytest.fixture(scope="module")
def leaky(tmp_path_factory, sandbox_credentials_dir) -> dict:
    """Run the failing nightly job and the dry run once; return every sink's text."""
    tmp = tmp_path_factory.mktemp("secrets")
    with Sandbox(
        data_dir=tmp / "sandbox",
        accounts=40,
        seed=7,
        as_of=SANDBOX_AS_OF,
        credentials_dir=sandbox_credentials_dir,
    ) as sb:
        yield _run_everything(sb, tmp)


def _run_everything(sb: Sandbox, tmp: Path) -> dict:
    pg_url = _postgres_url()
    try:
        return _runs(sb, tmp, pg_url)
    finally:
        if pg_url:
            drop_postgres_database(pg_url)


def _postgres_url() -> str | None:
    try:
        url = create_postgres_database("sfsync_secrets")
    except pytest.skip.Exception:
        return None
    return sa.engine.make_url(url).set(password=SQL_PASSWORD).render_as_string(hide_password=False)


def _runs(sb: Sandbox, tmp: Path, pg_url: str | None) -> dict:
    base = urlsplit(sb.metabase_url)
    metabase_url = f"{base.scheme}://sfsync:{quote(METABASE_PASSWORD, safe='')}@{base.netloc}"
    secrets = {
        "metabase password": METABASE_PASSWORD,
        "slack token": sb.slack_token,
        "salesforce token": sb.access_token,
    }
    state_url = f"sqlite:///{tmp / 'state.db'}"
    if pg_url:
        secrets["sql password"] = SQL_PASSWORD
        state_url = pg_url
    env = {
        "SFSYNC_METABASE_URL": metabase_url,
        "SFSYNC_SLACK_TOKEN": sb.slack_token,
        "SFSYNC_SF_ACCESS_TOKEN": sb.access_token,
        "SFSYNC_STATE_URL": state_url,
        "LEAKY_WAREHOUSE_URL": f"sqlite:///{tmp / 'warehouse.db'}",
    }
    echoed = " ".join(
        sorted(
            {form for secret in secrets.values() for form in _forms(secret)}
            | {
                metabase_url,
                f"postgresql+psycopg://warehouse:{quote(SQL_PASSWORD, safe='')}@db.internal/dw",
                f"Authorization: Bearer {sb.access_token}",
            }
        )
    )
    project = tmp / "project"
    config = make_project(project)
    _leaky_job(project, echoed)
    _leaky_task_template(project, echoed)

    sb.admin.clear_slack_messages()
    failed = run_sfsync(config, sb, "run", "leaky", "--as-of", AS_OF, env=env)
    assert failed.returncode != 0, failed.stdout + failed.stderr
    plan_file = tmp / "plan.json"
    planned = run_sfsync(
        config,
        sb,
        "run",
        "nightly",
        "--as-of",
        AS_OF,
        "--dry-run",
        "--plan-out",
        str(plan_file),
        env=env,
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    # as a run would: settings loaded (secrets registered), then the ledgers written
    load_project(config, env={**sb.env(), **env})
    _write_the_other_ledgers(state_url, f"{ECHO_MARKER}: {echoed}")
    errors = [line for line in failed.stderr.splitlines() if line.startswith("Error:")]
    log_lines = [line for line in failed.stderr.splitlines() if line.startswith("{")]
    return {
        "secrets": secrets,
        "sinks": {
            "log_json": ("\n".join(log_lines), ECHO_MARKER),
            "cli_error": ("\n".join(errors), ECHO_MARKER),
            "slack": (json.dumps(sb.admin.slack_messages(), ensure_ascii=False), ECHO_MARKER),
            "state_store": (_dump_state(state_url), ECHO_MARKER),
            "plan_file": (plan_file.read_text(encoding="utf-8"), PLAN_MARKER),
        },
    }


def _leaky_job(project: Path, echoed: str) -> None:
    """The nightly job with usage from a warehouse query whose error quotes the secrets."""
    job = yaml.safe_load((project / "jobs" / "nightly.yaml").read_text(encoding="utf-8"))
    (project / "queries").mkdir()
    # SQLite answers "no such column: <the bracketed text>", whole, on one line
    (project / "queries" / "leak.sql").write_text(
        f"SELECT [{echoed}] AS tenant_id\n", encoding="utf-8"
    )
    job["sources"]["usage"] = {
        "kind": "sql",
        "url_env": "LEAKY_WAREHOUSE_URL",
        "query_file": "queries/leak.sql",
        "columns": "metabase_usage",
    }
    (project / "jobs" / "leaky.yaml").write_text(
        yaml.safe_dump(job, allow_unicode=True), encoding="utf-8"
    )


def _leaky_task_template(project: Path, echoed: str) -> None:
    """Signal Task descriptions that quote the secrets (an admin pasted them in)."""
    path = project / "mappings" / "templates" / "ja" / "tasks_signals.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for template in data["tasks"].values():
        template["description"] += f"\n{PLAN_MARKER} {echoed}"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _write_the_other_ledgers(url: str, text: str) -> None:
    """The text columns the failed run left empty: a write failure's message, a quarantined
    row's reason and data, a Slack delivery error (what Salesforce, a source or Slack said)."""
    import pandas as pd

    from sfsync.state import alerts, failures, quarantine
    from sfsync.state.db import open_store

    store = open_store(url)
    try:
        failures.record_failures(
            store, None, [failures.FailedWrite("Account", "001000000000001AAA", ("X",), "E", text)]
        )
        rows = pd.DataFrame({"tenant_id": [text], "reason": [text], "row_ref": ["line 2"]})
        quarantine.record_quarantine(store, None, "usage", rows)
        with store.connect() as conn:
            message_id = conn.execute(sa.select(sa.func.max(alerts.alert_outbox.c.id))).scalar()
        assert message_id is not None, "the run-failed alert was not queued"
        alerts.mark_failed(store, message_id, text)
    finally:
        store.engine.dispose()


def _dump_state(url: str) -> str:
    """Every value of every column of every table of the state store, as text."""
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        lines = []
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    lines.append(f"{table.name}: " + " | ".join(str(v) for v in row))
        return "\n".join(lines)
    finally:
        engine.dispose()


@pytest.mark.parametrize("sink", ["log_json", "cli_error", "slack", "state_store", "plan_file"])
def test_no_secret_reaches_the_sink(leaky, sink):
    text, marker = leaky["sinks"][sink]
    assert marker in text, f"the {sink} sink never received the text that quotes the secrets"
    for name, secret in leaky["secrets"].items():
        for form in _forms(secret):
            assert form not in text, f"{name} ({form!r}) appears in {sink}"
    assert "***" in text
