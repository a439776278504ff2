"""``sfsync sandbox``: run the local practice org (Salesforce, Metabase, Slack) or reset it.

The practice org is the separate ``sfsync-sandbox`` install, loaded through its entry point
(:mod:`sfsync.commands.practice_org`).
"""

from __future__ import annotations

import shlex
import threading
from datetime import date
from pathlib import Path

import click

from sfsync.commands.practice_org import load_practice_org

DATA_DIR_HELP = "Where the practice org keeps its org, Metabase database and Slack messages."


@click.group("sandbox")
def sandbox_group() -> None:
    """Run the local practice org: Salesforce REST, Metabase and Slack APIs over HTTPS.

    A stand-in org on 127.0.0.1 with sample customers (not a Salesforce sandbox org). It is
    installed separately: pip install -e ./sandbox from a clone of the repository.
    It keeps its state in --data-dir between runs; a second run sees the first
    run's writes. Nothing talks to the internet.

    \b
    Examples:
      sfsync sandbox serve                      start with 150 sample accounts
      sfsync sandbox serve --accounts 100000    a big org for benchmarks
      sfsync sandbox reset                      forget every record and message
    """


@sandbox_group.command("serve")
@click.option("--accounts", type=click.IntRange(1, 1_000_000), default=150, show_default=True,
              help="Sample accounts to create when the sandbox starts empty.")  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the sample data.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Date the sample data is built around (default: today).")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".sfsync/sandbox"), show_default=True, help=DATA_DIR_HELP)  # fmt: skip
@click.option("--reset", is_flag=True, help="Start from fresh sample data.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port of the Salesforce API (0: any free port).")  # fmt: skip
def serve(accounts: int, seed: int, as_of, data_dir: Path, reset: bool, port: int) -> None:
    """Serve the local practice org until Ctrl-C and print how to connect to it.

    Prints `export` lines for the SFSYNC_* variables and REQUESTS_CA_BUNDLE; the only
    secrets in them are the practice org's own throwaway tokens.

    \b
    Examples:
      sfsync sandbox serve
      sfsync sandbox serve --accounts 20000 --seed 3 --as-of 2025-03-15
      sfsync sandbox serve --port 8443 --data-dir /tmp/sfsync-sandbox
    """
    sb = load_practice_org().Sandbox(
        data_dir=data_dir,
        accounts=accounts,
        seed=seed,
        as_of=as_of.date() if as_of else date.today(),
        reset=reset,
        salesforce_port=port,
    )
    with sb:
        try:
            _print_connection(sb, data_dir)
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("Stopping the local practice org…")


def _print_connection(sb, data_dir: Path) -> None:
    org = sb.salesforce_app.org
    click.echo(f"The local practice org is running (data in {data_dir}).")
    click.echo(
        f"  Salesforce  {sb.salesforce_url}  ({len(org.tables['Account'])} accounts, "
        f"{len(org.tables['Task'])} tasks, {len(org.tables['User'])} users)"
    )
    click.echo(f"  Metabase    {sb.metabase_url or 'not available'}")
    click.echo(f"  Slack       {sb.slack_base_url or 'not available'}")
    click.echo("")
    click.echo("Connect from another shell:")
    for key, value in sb.env().items():
        click.echo(f"export {key}={shlex.quote(value)}")
    click.echo("")
    click.echo("The JWT bearer settings let sfsync log in again when the session expires.")
    click.echo("")
    click.echo("Press Ctrl-C to stop; the org is saved on exit.")


@sandbox_group.command("reset")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".sfsync/sandbox"), show_default=True, help=DATA_DIR_HELP)  # fmt: skip
def reset(data_dir: Path) -> None:
    """Delete the local practice org's records, Metabase database and Slack messages.

    The CA certificate and the connected app are kept, so exported variables stay valid.
    The next `sfsync sandbox serve` starts from fresh sample data.

    \b
    Example:
      sfsync sandbox reset --data-dir .sfsync/sandbox
    """
    practice_org = load_practice_org()
    if not data_dir.exists():
        click.echo(f"Nothing to reset: {data_dir} does not exist.")
        return
    practice_org.reset_data_dir(data_dir)
    click.echo(f"Practice org state in {data_dir} deleted; the next serve starts fresh.")


@sandbox_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--accounts", type=click.IntRange(1, 1_000_000), default=150, show_default=True,
              help="Sample accounts to write.")  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the sample data.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), required=True,
              help="Date the sample data is built around; score as of the same date.")  # fmt: skip
@click.pass_context
def export(ctx: click.Context, directory: Path, accounts: int, seed: int, as_of) -> None:
    """Write the sample book as canonical CSV files for `sfsync score` and `sfsync explain`.

    Writes accounts.csv, usage.csv and activities.csv (SPEC §3 columns) into DIRECTORY.

    \b
    Example:
      sfsync sandbox export samples --as-of 2025-03-15
      sfsync score --accounts samples/accounts.csv --usage samples/usage.csv \\
                   --activities samples/activities.csv --as-of 2025-03-15 --out scores.csv
    """
    # lazy: keeps `sfsync --help` under 150 ms (SQLAlchemy, pydantic, structlog)
    from sfsync.config import load_project

    project = load_project((ctx.obj or {}).get("config_path"))
    counts = load_practice_org().export_sample_csv(
        directory, accounts=accounts, seed=seed, as_of=as_of.date(),
        mappings_dir=project.mappings_dir,
    )  # fmt: skip
    for name, rows in counts.items():
        click.echo(f"{directory / (name + '.csv')}: {rows:,} rows")


commands = [sandbox_group]
