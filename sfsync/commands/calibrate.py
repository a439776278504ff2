"""``sfsync calibrate``: how well the score separated churned from retained accounts."""

from __future__ import annotations

import os
from pathlib import Path

import click

from sfsync.commands.backfill import _parse_date
from sfsync.commands.run import environment, log_format, sandbox_environment


@click.command("calibrate")
@click.option("--from", "date_from", required=True, metavar="DATE", callback=_parse_date,
              help="First snapshot date to use (YYYY-MM-DD).")  # fmt: skip
@click.option("--to", "date_to", required=True, metavar="DATE", callback=_parse_date,
              help="Last snapshot date to use (YYYY-MM-DD).")  # fmt: skip
@click.option("--scorecard", default="default", show_default=True,
              help="Scorecard name (mappings/scorecards/<name>.yaml).")  # fmt: skip
@click.option("--outcomes", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="CSV account_id,churned,churn_date. Default: read Accounts from Salesforce "
              "with the churn field named in mappings/outcomes.yaml.")  # fmt: skip
@click.option("--html", "html_out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write a self-contained HTML page with the charts.")  # fmt: skip
@click.option("--snapshot", "pick", type=click.Choice(["last", "first"]), default="last",
              show_default=True,
              help="Which snapshot per account: the last or first one before its churn date.")  # fmt: skip
@click.option("--no-proposal", is_flag=True, help="Do not write the proposed scorecard YAML.")
@click.option("--job", metavar="JOB",
              help="The job whose sources give the inputs' values (candidate inputs, bin "
              "edges). Default: the job in jobs/ that scores with --scorecard.")  # fmt: skip
@click.option("--no-inputs", is_flag=True,
              help="Read no source: evaluate the stored points only (no candidate inputs, no "
              "bin edges).")  # fmt: skip
@click.option("--sandbox", is_flag=True,
              help="Read outcomes from the local practice org (sfsync-sandbox) and use its "
              "state store (where `sfsync backfill … --sandbox` put the history).")  # fmt: skip
@click.pass_context
def calibrate(
    ctx: click.Context,
    date_from,
    date_to,
    scorecard: str,
    outcomes: str | None,
    html_out: str | None,
    pick: str,
    no_proposal: bool,
    job: str | None,
    no_inputs: bool,
    sandbox: bool,
) -> None:
    """Compare the score history with who churned; suggest points, inputs and bins.

    Reads the snapshots in the state store (build them with `sfsync backfill`), reports churn
    rate per band, the AUC of the score and of each measure with counts, and writes a proposed
    scorecard next to the live one (mappings/scorecards/<name>.proposed.yaml). The live
    scorecard is never changed.

    It also reads the job's sources as of each snapshot date to evaluate the inputs the
    scorecard does not use yet (engagement logs: views, mails, tutorial; other usage figures),
    proposes which to add and bin edges for the measures, and prints them as a scorecard YAML
    snippet (checked with the scorecard loader).

    \b
    Examples:
      sfsync calibrate --from 2024-04-01 --to 2025-03-01 --outcomes churn.csv
      sfsync calibrate --from 2024-04-01 --to 2025-03-01 --html calibration.html
      sfsync backfill nightly --from 2024-04-01 --to 2025-03-01 --sandbox
      sfsync calibrate --from 2024-04-01 --to 2025-03-01 --sandbox
      sfsync calibrate --from 2024-04-01 --to 2025-03-01 --outcomes churn.csv --no-inputs
    """
    # lazy: keeps `sfsync --help` under 150 ms (pandas, SQLAlchemy, simple_salesforce)
    from sfsync.config import load_project
    from sfsync.ops.calibrate import calibrate as run_calibration
    from sfsync.ops.calibrate_report import render_html, render_text
    from sfsync.ops.calibrate_report_inputs import input_label, text
    from sfsync.ops.calibrate_sources import frames_reader, scoring_job, suggesting_no_inputs
    from sfsync.ops.outcomes import (
        load_outcome_config,
        read_outcomes_csv,
        read_outcomes_salesforce,
    )
    from sfsync.run_context import open_run
    from sfsync.salesforce.client import connect
    from sfsync.state.db import open_store
    from sfsync.templates import load_templates

    if date_to < date_from:
        raise click.BadParameter(f"{date_to} is before --from {date_from}", param_hint="--to")
    if job and no_inputs:
        raise click.BadParameter("give --job or --no-inputs, not both", param_hint="--job")
    config_path = (ctx.obj or {}).get("config_path")
    project = load_project(config_path, env=os.environ)
    card_path = project.mappings_dir / "scorecards" / f"{scorecard}.yaml"
    if not card_path.exists():
        raise click.BadParameter(f"{card_path} does not exist", param_hint="--scorecard")
    echo = (lambda line: click.echo(line, err=True)) if log_format(ctx) == "console" else None
    # the sandbox org keeps the book it was created with; date_to only matters for a new one
    # (the same as-of date `sfsync backfill --sandbox` starts it with)
    env_ctx = sandbox_environment(project.root, date_to, echo=echo) if sandbox else environment({})
    with env_ctx as env:
        project = load_project(config_path, env=env)
        if outcomes:
            frame = read_outcomes_csv(outcomes)
        else:
            config = load_outcome_config(project.mappings_dir)
            client = connect(project.settings.salesforce, timezone=project.settings.timezone)
            frame = read_outcomes_salesforce(client, config)
        language = project.settings.language
        templates = load_templates(project.mappings_dir / "templates", language)
        job_name = None if no_inputs else job or scoring_job(project.jobs_dir, scorecard)
        # the job's clients read its sources as of each snapshot date; nothing is written
        with suggesting_no_inputs():
            run = open_run(project, job_name, date_to, dry_run=True, env=env) if job_name else None
        try:
            with open_store(project.settings.state_url) as store:
                report = run_calibration(
                    store, card_path, frame, date_from, date_to, pick=pick,
                    write_proposal=not no_proposal, language=language,
                    read_inputs=frames_reader(run) if run else None,
                    input_label=lambda name: input_label(templates, name),
                    category_label=text(templates, "candidate_category"),
                )  # fmt: skip
        finally:
            if run is not None:
                run.close()
    if job_name is None:
        key = "inputs_skipped" if no_inputs else "inputs_no_job"
        report.notes.append(text(templates, key, scorecard=scorecard))
    if html_out:
        Path(html_out).write_text(render_html(report, templates), encoding="utf-8")
        report.notes.append(templates.render("calibration", "html_written",
                                             {"path": html_out})["text"])  # fmt: skip
    click.echo(render_text(report, templates))


commands = [calibrate]
