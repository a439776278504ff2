"""``sfsync kpi``: the monthly KPIs of SPEC §7 against their targets, an HTML report, Slack."""

from __future__ import annotations

import dataclasses
import os
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from sfsync.commands.kpi_output import print_kpi
from sfsync.commands.run import environment, parse_as_of, sandbox_environment
from sfsync.errors import ConfigError, ConfigProblem

FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("kpi")
@click.option("--month", help="Month YYYY-MM (default: the last complete month).")
@click.option("--html", "html_out", type=FILE, help="Write the self-contained HTML report here.")
@click.option(
    "--post/--no-post",
    default=None,
    help="Post the summary to Slack (default: when Slack is configured).",
)
@click.option("--accounts", type=FILE, help="Accounts CSV (canonical columns, + churned_on).")
@click.option("--usage", type=FILE, help="Monthly usage CSV (tenant_id, month, login_days, …).")
@click.option("--activities", type=FILE, help="Activities CSV (account_id, date, type, completed).")
@click.option("--tasks", type=FILE, help="Tasks CSV (sync_key, activity_date) for upsell Tasks.")
@click.option("--mrr", type=FILE, help="MRR CSV (account_id, month, mrr) for NRR.")
@click.option("--snapshots", type=FILE, help="Score snapshots CSV instead of the state store.")
@click.option(
    "--salesforce/--no-salesforce",
    "use_salesforce",
    default=True,
    help="Read accounts and activities from Salesforce when configured (default: yes).",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Use the local practice org (Salesforce, Slack; sfsync-sandbox) and its state store, as "
    "`sfsync run --sandbox` does.",
)
@click.option("--language", type=click.Choice(["ja", "en"]), help="Template language.")
@click.pass_context
def kpi(
    ctx,
    month,
    html_out,
    post,
    accounts,
    usage,
    activities,
    tasks,
    mrr,
    snapshots,
    use_salesforce,
    sandbox,
    language,
):
    """Compute the month's KPIs, print them against the targets, write a report, post it.

    Inputs: score snapshots from the state store, and the sources of jobs/monthly-kpi.yaml
    (accounts, users and activities from Salesforce, usage from Metabase). With CSV files
    (--accounts, --usage, …) those are read instead; MRR comes from --mrr. Missing inputs are
    listed and the KPIs that need them are shown as n/a.

    \b
    Examples:
      sfsync kpi --month 2025-03 --html out/kpi-2025-03.html
      sfsync kpi --month 2025-03 --usage usage.csv --mrr mrr.csv --no-post
      sfsync kpi --sandbox --month 2025-03 --html out/kpi.html
    """
    # lazy: keeps `sfsync --help` under 150 ms (pandas, SQLAlchemy, simple_salesforce)
    from sfsync.automation.kpi_inputs import default_month
    from sfsync.automation.kpi_job import check_month
    from sfsync.config import load_project

    config_path = (ctx.obj or {}).get("config_path")
    project = load_project(config_path, os.environ)
    today = parse_as_of(None, project.settings.timezone)
    month = check_month(month) if month else default_month(today)
    files = {
        "accounts": accounts,
        "usage": usage,
        "activities": activities,
        "tasks": tasks,
        "mrr": mrr,
        "snapshots": snapshots,
    }
    if sandbox:
        echo = (lambda line: click.echo(line, err=True)) if _console(ctx) else None
        env_ctx = sandbox_environment(project.root, today, echo=echo)
    else:
        env_ctx = environment({})
    with env_ctx as env:
        project = load_project(config_path, env)
        job_file = project.jobs_dir / f"{KPI_JOB}.yaml"
        from_job = (
            use_salesforce
            and not any(files.values())
            and language is None
            and job_file.exists()
            and project.settings.salesforce.instance_url
        )
        if from_job:
            outcome = _run_job(ctx, project, month, html_out, post, env)
        else:
            outcome = _run(project, month, html_out, post, files, use_salesforce, language)
    print_kpi(outcome)


KPI_JOB = "monthly-kpi"


def _run_job(ctx, project, month: str, html_out, post, env):
    """The month's KPIs through the ``monthly-kpi`` job: its sources (Salesforce accounts,
    users and activities; Metabase usage) as of the first day after the month, under the run
    lock and recorded in the runs ledger like ``sfsync run monthly-kpi``."""
    # lazy: keeps `sfsync --help` under 150 ms (pandas, SQLAlchemy, simple_salesforce)
    from sfsync.calendar import shift_month_text
    from sfsync.pipeline import run_job
    from sfsync.run_context import open_run

    as_of = date.fromisoformat(shift_month_text(month, 1) + "-01")  # the month is then "previous"
    echo = (lambda line: click.echo(line, err=True)) if _console(ctx) else None
    run_ctx = open_run(project, KPI_JOB, as_of, env=env, echo=echo)
    spec = run_ctx.job.compute
    update = {"month": month}
    if html_out is not None:
        update["report"] = str(Path(html_out).resolve())
    if post is not None:
        update["post"] = post
    job = run_ctx.job.model_copy(update={"compute": spec.model_copy(update=update)})
    run_ctx.bundle = dataclasses.replace(run_ctx.bundle, job=job)
    try:
        return run_job(run_ctx).kpi
    finally:
        run_ctx.close()


def _console(ctx) -> bool:
    return str((ctx.obj or {}).get("log_format") or "console") == "console"


def _run(project, month, html_out, post, files, use_salesforce, language):
    """Build the store, Salesforce client and notifier from ``project``'s settings; run."""
    # lazy: keeps `sfsync --help` under 150 ms (pandas, SQLAlchemy, simple_salesforce)
    from sfsync.automation.kpi_job import run_kpi
    from sfsync.automation.playbook import load_playbook
    from sfsync.notify.slack import SlackNotifier
    from sfsync.salesforce.client import connect
    from sfsync.sources.columns import load_column_mapping
    from sfsync.state.db import open_store
    from sfsync.templates import load_templates

    settings, mappings = project.settings, project.mappings_dir
    playbook = load_playbook(mappings / "playbook.yaml")
    templates = load_templates(mappings / "templates", language or settings.language)

    slack_configured = bool(settings.slack.token)
    if post and not slack_configured:
        raise ConfigError(
            [ConfigProblem("slack.token", "", "--post needs Slack (set SFSYNC_SLACK_TOKEN)")]
        )
    sf_client, account_mapping = None, None
    if use_salesforce and settings.salesforce.instance_url:
        sf_client = connect(settings.salesforce, timezone=settings.timezone)
        mapping_file = mappings / "columns" / "salesforce_accounts.yaml"
        if mapping_file.exists():
            account_mapping = load_column_mapping(mapping_file)
    store = open_store(settings.state_url)
    try:
        notifier = None
        if (post is None and slack_configured) or post:
            notifier = SlackNotifier.from_settings(settings.slack, store, templates, playbook)
        return run_kpi(
            month,
            playbook=playbook,
            templates=templates,
            store=store,
            files=files,
            salesforce=sf_client,
            account_mapping=account_mapping,
            html_out=html_out,
            notifier=notifier,
            generated_at=datetime.now(ZoneInfo(settings.timezone)),
            instance_url=getattr(sf_client, "instance_url", None)
            or settings.salesforce.instance_url,
        )
    finally:
        store.dispose()


commands = [kpi]
