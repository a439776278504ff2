"""``sfsync state prune``: state-store retention (thin old snapshots, prune old ledger rows)."""

from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

import click


def _parse_date(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param=param) from None


@click.group("state")
def state() -> None:
    """Look after the state store (state_url in sfsync.yaml): retention.

    \b
    Examples:
      sfsync state prune --dry-run
      sfsync state prune
    """


@state.command("prune")
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; delete nothing.")
@click.option("--as-of", "as_of", metavar="DATE", callback=_parse_date, default=None,
              help="Judge ages as of this date (YYYY-MM-DD). Default: today in the configured "
              "time zone.")  # fmt: skip
@click.pass_context
def prune(ctx: click.Context, dry_run: bool, as_of: date | None) -> None:
    """Thin old score snapshots and prune old ledger rows (retention: in sfsync.yaml).

    Snapshots: every one is kept for retention.daily_days (45), then the last of each week
    until retention.weekly_days (400), then the last of each month (deleted after
    retention.monthly_days when set). Runs, guard figures, quarantined rows, cleared signals
    and resolved write failures older than retention.ledger_days (180) are deleted. Whatever
    a job's trend (trend_days + 7 days) or output guard (guards.output.recent_days) still
    needs is kept, and so is each job's latest good run. The same step runs at the end of every successful
    run unless retention.auto_prune is false.

    \b
    Examples:
      sfsync state prune --dry-run
      sfsync state prune
      sfsync state prune --as-of 2025-03-31
    """
    # lazy: keeps `sfsync --help` under 150 ms (SQLAlchemy, pandas)
    from sfsync.config import load_project
    from sfsync.pipeline import EXTRA_PRUNERS
    from sfsync.project import retention_protect_days
    from sfsync.state import open_store
    from sfsync.state.prune import prune_state

    project = load_project((ctx.obj or {}).get("config_path"), env=os.environ)
    settings = project.settings
    today = as_of or datetime.now(ZoneInfo(settings.timezone)).date()
    store = open_store(project.state_url)
    try:
        report = prune_state(
            store,
            today,
            settings.retention,
            protect_days=retention_protect_days(project.jobs_dir),
            dry_run=dry_run,
            extra=EXTRA_PRUNERS,
        )
    finally:
        store.dispose()
    click.echo(report.to_text())


commands = [state]
