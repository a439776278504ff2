"""``sfsync plan``: show (and save) exactly what a sync would write, writing nothing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from sfsync.catalogue import CHURN_CODES
from sfsync.errors import ConfigError


@click.command("plan")
@click.argument("job", required=False)
@click.option(
    "--scores",
    "scores_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Plan from a scores CSV written by `sfsync score` instead of running a job.",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="As-of date (YYYY-MM-DD); default today in the configured time zone.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the full plan as JSON (every field change and Task decision).",
)
@click.pass_context
def plan_command(ctx, job, scores_path, as_of, out_path):
    """Show what a sync would write to Salesforce: field changes (old → new), Tasks to
    create or update, Tasks left alone and why. Nothing is written.

    \b
    Examples:
      sfsync plan nightly --out plan.json
      sfsync plan --scores scores.csv --as-of 2025-03-15
    """
    # lazy: keeps `sfsync --help` under 150 ms (SQLAlchemy, pydantic, structlog)
    from sfsync.config import load_project

    project = load_project((ctx.obj or {}).get("config_path"))
    settings = project.settings
    day = as_of.date() if isinstance(as_of, datetime) else as_of
    day = day or datetime.now(ZoneInfo(settings.timezone)).date()
    if scores_path is not None:
        plan = plan_from_scores_csv(project, scores_path, day)
    elif job:
        plan = plan_job(project, job, day)
    else:
        raise click.UsageError("name a JOB or give --scores scores.csv")
    click.echo(plan.summary())
    if out_path is not None:
        out_path.write_text(plan.to_json(), encoding="utf-8")
        click.echo(f"Plan saved to {out_path}")


def plan_job(project, job: str, as_of: date):
    """Plan a job from jobs/ through the pipeline: extract, score, plan; a dry run, no writes."""
    # lazy: keeps `sfsync --help` under 150 ms (pandas, SQLAlchemy, simple_salesforce)
    from sfsync.pipeline import run_job
    from sfsync.run_context import open_run

    run_ctx = open_run(project, job, as_of, dry_run=True)
    try:
        outcome = run_job(run_ctx)
    finally:
        run_ctx.close()
    if outcome.plan is None:
        raise ConfigError(f"job {job!r} produced no plan", hint="see the run summary above")
    return outcome.plan


def plan_from_scores_csv(project, scores_path: Path, as_of: date):
    """Plan the Account fields and signal Tasks of a `sfsync score` CSV against the org."""
    # lazy: keeps `sfsync --help` under 150 ms (pandas)
    import pandas as pd

    from sfsync.salesforce.client import connect
    from sfsync.salesforce.planner import (
        desired_account_fields,
        load_sync_config,
        plan_sync,
        signal_tasks,
    )
    from sfsync.salesforce.reader import read_owner_frames
    from sfsync.salesforce.tasks import signals_from_codes
    from sfsync.state.db import open_store
    from sfsync.state.failures import pending_writes

    settings = project.settings
    config = load_sync_config(
        project.mappings_dir, language=settings.language, timezone=settings.timezone
    )
    scores = pd.read_csv(scores_path, dtype={"account_id": str, "signals": str})
    if "account_id" not in scores.columns:
        raise ConfigError(f"{scores_path}: no account_id column (expected `sfsync score` output)")
    signals = (
        signals_from_codes(scores)
        if "signals" in scores.columns
        else pd.DataFrame(columns=["account_id", "code", "kind", "severity"])
    )
    if "churn_signals" not in scores.columns and "signals" in scores.columns:
        scores["churn_signals"] = scores["signals"].map(
            lambda s: (
                ";".join(c for c in str(s).split(";") if c in CHURN_CODES)
                if isinstance(s, str)
                else None
            )
        )
    client = connect(settings.salesforce, timezone=settings.timezone)
    accounts, users = read_owner_frames(client, list(scores["account_id"].dropna()))
    tasks = signal_tasks(config, signals, accounts, users, as_of=as_of, scores=scores)
    desired = desired_account_fields(scores, as_of)

    store = open_store(project.state_url)
    try:
        pending = pending_writes(store)
    finally:
        store.dispose()
    return plan_sync(
        client,
        config,
        desired,
        tasks,
        pending=pending,
        meta={"as_of": as_of.isoformat(), "source": str(scores_path)},
        signal_hygiene=True,
        as_of=as_of,
    )


commands = [plan_command]
