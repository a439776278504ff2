"""``sfsync kpi``: the monthly KPIs of SPEC §7 against their targets, an HTML report, Slack."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import click

FILE = click.Path(dir_okay=False, path_type=Path)


def _project(config_path):
    try:
        from sfsync.config import load_project
    except ImportError:  # the foundation's settings are not in this build yet
        return None
    return load_project(config_path, os.environ)


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
    language,
):
    """Compute the month's KPIs, print them against the targets, write a report, post it.

    Inputs: score snapshots from the state store; accounts and activities from Salesforce
    (or CSV files); usage and MRR from CSV files. Missing inputs are listed and the KPIs
    that need them are shown as n/a.

    \b
    Examples:
      sfsync kpi --month 2025-03 --html out/kpi-2025-03.html
      sfsync kpi --month 2025-03 --usage usage.csv --mrr mrr.csv --no-post
    """
    from sfsync.automation.kpi_inputs import default_month
    from sfsync.automation.kpi_job import check_month, run_kpi
    from sfsync.automation.playbook import load_playbook
    from sfsync.errors import ConfigError, ConfigProblem
    from sfsync.templates import load_templates

    config_path = (ctx.obj or {}).get("config_path")
    project = _project(config_path)
    root = project.root if project else Path.cwd()
    mappings = project.mappings_dir if project else root / "mappings"
    settings = project.settings if project else None
    month = check_month(month) if month else default_month(date.today())
    lang = language or (settings.language if settings else "ja")
    playbook = load_playbook(mappings / "playbook.yaml")
    templates = load_templates(mappings / "templates", lang)

    store = None
    state_url = settings.state_url if settings else os.environ.get("SFSYNC_STATE_URL")
    if state_url:
        try:
            from sfsync.state.db import open_store
        except ImportError:
            open_store = None
        if open_store is not None:
            store = open_store(state_url)

    sf_client, account_mapping = None, None
    if use_salesforce and settings is not None and settings.salesforce.instance_url:
        try:
            from sfsync.salesforce.client import connect
            from sfsync.sources.columns import load_column_mapping
        except ImportError:
            connect = None
        if connect is not None:
            sf_client = connect(settings.salesforce, timezone=settings.timezone)
            mapping_file = mappings / "columns" / "salesforce_accounts.yaml"
            if mapping_file.exists():
                account_mapping = load_column_mapping(mapping_file)

    slack_configured = bool(settings and settings.slack.token)
    if post and not slack_configured:
        raise ConfigError(
            [ConfigProblem("slack.token", "", "--post needs Slack (set SFSYNC_SLACK_TOKEN)")]
        )
    notifier = None
    if (post is None and slack_configured) or post:
        if store is None:
            raise ConfigError([ConfigProblem("state_url", "", "posting needs the state store")])
        from sfsync.notify.slack import SlackNotifier

        notifier = SlackNotifier.from_settings(settings.slack, store, templates, playbook)

    files = {
        "accounts": accounts,
        "usage": usage,
        "activities": activities,
        "tasks": tasks,
        "mrr": mrr,
        "snapshots": snapshots,
    }
    try:
        outcome = run_kpi(
            month,
            playbook=playbook,
            templates=templates,
            store=store,
            files=files,
            salesforce=sf_client,
            account_mapping=account_mapping,
            html_out=html_out,
            notifier=notifier,
        )
    finally:
        if store is not None:
            store.dispose()
    _print(outcome, templates)


def _print(outcome, templates) -> None:
    from sfsync.notify.messages import MessageBuilder

    labels = MessageBuilder(templates)
    report = outcome.report
    rows = [
        (
            labels.kpi_label(k.key),
            k.value_text,
            k.target_text,
            {"met": "met", "not_met": "NOT MET", "na": "n/a"}[k.status],
            k.counts_text,
        )
        for k in report.kpis
    ]
    header = ("KPI", "value", "target", "status", "counts / reason")

    def width(text: str) -> int:  # East Asian characters take two columns in a terminal
        import unicodedata

        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(4)]
    click.echo(f"KPIs for {report.month}")
    for r in [header, *rows]:
        cells = [r[i] + " " * (widths[i] - width(r[i])) for i in range(4)]
        click.echo("  ".join(cells) + "  " + r[4])
    met = sum(k.status == "met" for k in report.kpis)
    measured = sum(k.status != "na" for k in report.kpis)
    click.echo(f"\n{met} of {measured} measured KPIs meet their target.")
    if outcome.capacity is not None and outcome.capacity["over_cap"].any():
        over = outcome.capacity[outcome.capacity["over_cap"]]
        click.echo(f"Owners over capacity: {', '.join(map(str, over['owner_name']))}")
    if outcome.inputs.missing:
        click.echo("Missing inputs:")
        for item in outcome.inputs.missing:
            click.echo(f"  - {item}")
    if outcome.html_path:
        click.echo(f"Report written to {outcome.html_path}")
    if outcome.slack is not None:
        s = outcome.slack
        state = (
            "posted"
            if s.delivery.sent
            else "already posted"
            if not s.enqueued and not s.delivery.pending
            else "pending (Slack unavailable; the next run delivers it)"
        )
        click.echo(f"Slack summary: {state}")


commands = [kpi]
