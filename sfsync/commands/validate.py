"""``sfsync validate``: check every configuration file offline (and the org with ``--org``)."""

from __future__ import annotations

import click

from sfsync.errors import ConfigError, SfsyncError


@click.command("validate")
@click.option(
    "--org",
    is_flag=True,
    help="Also check the mappings against the Salesforce org (fields exist, types fit) and "
    "run each job's accounts query and scope filter there with LIMIT 1. "
    "Needs credentials; makes a few read-only API calls.",
)
@click.pass_context
def validate(ctx: click.Context, org: bool) -> None:
    """Check sfsync.yaml, environment overrides, templates, scorecards, mappings and jobs.

    Nothing is sent anywhere (unless --org). Every problem is listed at once with its file
    and key; the exit code is 1 when there is any.

    \b
    Examples:
      sfsync validate
      sfsync --config deploy/prod/sfsync.yaml validate
      sfsync validate --org            also check field mappings and scope filters against the org
    """
    # lazy: keeps `sfsync --help` under 150 ms (pandas, SQLAlchemy, simple_salesforce)
    from sfsync import validation

    config_path = (ctx.obj or {}).get("config_path")
    project, report = validation.validate_project(config_path)
    if not report.ok:
        raise ConfigError(report.problems)
    click.echo(f"OK: checked {', '.join(report.checked)}")
    if org:
        if validation.ORG_VALIDATOR is None:
            raise SfsyncError(
                "cannot check the org: org validation is not available in this version of sfsync",
                hint="the offline checks above passed; run without --org",
            )
        org_report = validation.ValidationReport()
        validation.run_validator(org_report, "org", validation.ORG_VALIDATOR, project)
        if not org_report.ok:
            raise ConfigError(
                org_report.problems,
                hint="fix the mapping, the job's scope filter or the org's metadata",
            )
        click.echo(f"OK: checked {', '.join(org_report.checked)}")


commands = [validate]
