"""``sfsync doctor``: check every connection and mapping a run needs, in one table."""

from __future__ import annotations

import os
import sys

import click

from sfsync.commands.run import environment, log_format, parse_as_of, sandbox_environment
from sfsync.errors import ExitCode


@click.command("doctor")
@click.option("--sandbox", is_flag=True, help="Check the local practice org (sfsync-sandbox).")
@click.option("--as-of", "as_of", metavar="DATE",
              help="As-of date for the Metabase card parameters (default: today).")  # fmt: skip
@click.pass_context
def doctor(ctx: click.Context, sandbox: bool, as_of: str | None) -> None:
    """Check Salesforce, Metabase, Slack and the state store; print a fix for each failure.

    Checks: Salesforce authentication, API version, every mapped field (exists, updateable,
    compatible type), Sync_Key__c on Task (External ID, Unique), remaining daily API requests;
    Metabase authentication and the cards the jobs read (they exist and return the mapped
    columns); Slack authentication and channel membership; the state store. Exit code 1 when
    any check fails, 0 otherwise. No secret is printed.

    \b
    Examples:
      sfsync doctor
      sfsync doctor --sandbox
    """
    # lazy: keeps `sfsync --help` under 150 ms (pandas, SQLAlchemy, simple_salesforce)
    from sfsync.config import load_project
    from sfsync.ops.doctor import failed, render_table, run_checks

    config_path = (ctx.obj or {}).get("config_path")
    project = load_project(config_path, env=os.environ)
    day = parse_as_of(as_of, project.settings.timezone)
    echo = (lambda line: click.echo(line, err=True)) if log_format(ctx) == "console" else None
    env_ctx = sandbox_environment(project.root, day, echo=echo) if sandbox else environment({})
    with env_ctx as env:
        project = load_project(config_path, env=env)
        rows = run_checks(project, day)
    click.echo(render_table(rows))
    if failed(rows):
        sys.exit(ExitCode.FAILURE)


commands = [doctor]
