"""``sfsync run JOB``: run a job from ``jobs/`` end to end (or ``--dry-run`` it)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from sfsync.commands.kpi_output import print_kpi
from sfsync.commands.practice_org import load_practice_org
from sfsync.errors import ExitCode, GuardError
from sfsync.interrupt import stop_on_signals

SANDBOX_DIR = Path(".sfsync") / "sandbox"


def parse_as_of(value: str | None, timezone: str) -> date:
    """``--as-of`` as a date; default: today in the configured time zone."""
    if value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None

    return datetime.now(ZoneInfo(timezone)).date()


@contextmanager
def environment(overrides: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Set environment variables for the block (e.g. REQUESTS_CA_BUNDLE), then restore them."""
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield dict(os.environ)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def sandbox_environment(
    root: Path, as_of: date, *, accounts: int = 150, seed: int = 7, echo=None
) -> Iterator[dict[str, str]]:
    """Start the local practice org in-process and point the SPEC §9 variables at it.

    The product path then runs unchanged: the same settings loader reads the same environment
    variables a real deployment sets. The practice org's state lives under ``.sfsync/sandbox/``
    and so does the state store of practice runs, apart from the real one. The practice org is
    the separate ``sfsync-sandbox`` install, found through its entry point.
    """
    Sandbox = load_practice_org().Sandbox  # noqa: N806 - a class

    data_dir = root / SANDBOX_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    with Sandbox(data_dir=data_dir, accounts=accounts, seed=seed, as_of=as_of) as sb:
        overrides = dict(sb.env())
        overrides.setdefault("SFSYNC_STATE_URL", f"sqlite:///{data_dir / 'state.db'}")
        if echo:
            echo(f"Local practice org at {sb.salesforce_url} (state in {data_dir})")
        with environment(overrides) as env:
            yield env


def sample_date(root: Path) -> date | None:
    """The date the local practice org's sample book was made for (None when unknown)."""
    try:
        made = json.loads((root / SANDBOX_DIR / "sample.json").read_text(encoding="utf-8"))
        return date.fromisoformat(str(made["as_of"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def log_format(ctx: click.Context) -> str:
    return str((ctx.obj or {}).get("log_format") or "console")


def execute(
    ctx: click.Context,
    job_name: str,
    as_of_text: str | None,
    *,
    dry_run: bool,
    sandbox: bool,
    plan_out: str | None,
    sandbox_accounts: int = 150,
    accept_input_change: bool = False,
    accept_mass_change: bool = False,
) -> Any:
    """Shared by ``run`` and ``demo``: load the project, build clients, run, print."""
    with stop_on_signals():  # SIGTERM/SIGINT: recorded as failed, alerted, lock released
        return _execute(
            ctx,
            job_name,
            as_of_text,
            dry_run=dry_run,
            sandbox=sandbox,
            plan_out=plan_out,
            sandbox_accounts=sandbox_accounts,
            accept_input_change=accept_input_change,
            accept_mass_change=accept_mass_change,
        )


def _execute(
    ctx: click.Context,
    job_name: str,
    as_of_text: str | None,
    *,
    dry_run: bool,
    sandbox: bool,
    plan_out: str | None,
    sandbox_accounts: int,
    accept_input_change: bool,
    accept_mass_change: bool,
) -> Any:
    # lazy: keeps `sfsync --help` under 150 ms (pandas, SQLAlchemy, simple_salesforce)
    from sfsync.config import load_project
    from sfsync.pipeline import run_job
    from sfsync.project import load_bundle
    from sfsync.run_context import open_run

    config_path = (ctx.obj or {}).get("config_path")
    console = log_format(ctx) == "console"
    echo = (lambda line: click.echo(line, err=True)) if console else None
    project = load_project(config_path, env=os.environ)
    load_bundle(project, job_name)  # every file of the job checked before anything starts
    as_of = parse_as_of(as_of_text, project.settings.timezone)
    if sandbox:
        env_ctx = sandbox_environment(project.root, as_of, accounts=sandbox_accounts, echo=echo)
    else:
        env_ctx = environment({})
    with env_ctx as env:
        project = load_project(config_path, env=env)
        run_ctx = open_run(
            project,
            job_name,
            as_of,
            dry_run=dry_run,
            env=env,
            echo=echo,
            accept_input_change=accept_input_change,
            accept_mass_change=accept_mass_change,
        )
        try:
            outcome = run_job(run_ctx)
        except GuardError as exc:
            # lazy: keeps `sfsync --help` under 150 ms (sfsync.calendar loads pandas)
            from sfsync.calendar import scoring_month

            made_on = sample_date(project.root) if sandbox else None
            if made_on is not None and scoring_month(as_of) > scoring_month(made_on):
                exc.hint = (
                    f"{exc.hint}; the local practice org's sample usage was made as of "
                    f"{made_on.isoformat()} and ends with "
                    f"{scoring_month(made_on):%Y-%m}: `sfsync sandbox reset` makes it anew for today"
                )
            raise
        finally:
            run_ctx.close()
    if plan_out and outcome.plan is not None:
        Path(plan_out).write_text(outcome.plan.to_json(), encoding="utf-8")
    if dry_run and outcome.plan is not None:
        click.echo(outcome.plan.summary())
    if outcome.kpi is not None:
        print_kpi(outcome.kpi)
        click.echo("")
    click.echo(outcome.summary.to_text())
    return outcome


@click.command("run")
@click.argument("job")
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Compute as of this date (YYYY-MM-DD). Default: today in the configured time zone.",
)
@click.option("--dry-run", is_flag=True, help="Read and compute, print the plan, write nothing.")
@click.option(
    "--sandbox",
    is_flag=True,
    help="Run against the local practice org (Salesforce, Metabase, Slack stand-ins; "
    "needs sfsync-sandbox), not a real org.",
)
@click.option(
    "--plan-out",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also save the plan as JSON to FILE.",
)
@click.option(
    "--accept-input-change",
    is_flag=True,
    help="Go ahead once although the input guard finds tonight's input far from normal "
    "(scoring month missing, measures empty, row counts collapsed).",
)
@click.option(
    "--accept-mass-change",
    is_flag=True,
    help="Go ahead once although the plan changes far more than recent runs did "
    "(accounts turning red, new churn signals, records rewritten).",
)
@click.pass_context
def run(
    ctx: click.Context,
    job: str,
    as_of: str | None,
    dry_run: bool,
    sandbox: bool,
    plan_out: str | None,
    accept_input_change: bool,
    accept_mass_change: bool,
) -> None:
    """Run JOB (a file in jobs/): extract, score, write to Salesforce, alert Slack.

    Takes the job's run lock (no overlapping runs) and records the run in the state store.
    Before writing, guards compare tonight's input and plan with the previous month and
    recent runs; a broken feed or a mass change stops the run (exit 1) with the figures.
    Exit codes: 0 done, 1 failed or stopped by a guard, 3 finished but some records failed
    (retried next run), 4 another run of the job holds the lock, 143/130 stopped by
    SIGTERM/SIGINT (recorded as failed, alerted, lock released).

    \b
    Examples:
      sfsync run nightly
      sfsync run nightly --as-of 2025-03-15 --dry-run --plan-out plan.json
      sfsync run nightly --accept-input-change   (the feed changed on purpose)
      sfsync run weekly-usage-import --sandbox
      sfsync run monthly-kpi --as-of 2025-04-01   (KPIs of 2025-03, report, Slack)
    """
    outcome = execute(
        ctx,
        job,
        as_of,
        dry_run=dry_run,
        sandbox=sandbox,
        plan_out=plan_out,
        accept_input_change=accept_input_change,
        accept_mass_change=accept_mass_change,
    )
    if outcome.summary.write_failures:
        sys.exit(ExitCode.ROW_FAILURES)


commands = [run]
