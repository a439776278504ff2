"""The ``sfsync`` command line: a thin click layer over the library.

Each command lives in ``sfsync/commands/<name>.py`` and exposes ``commands``, a list of click
commands added to the root group here. Library errors (:class:`sfsync.errors.SfsyncError`)
become ``Error: <message>`` with the error's exit code; usage errors exit 2; a run stopped by
SIGTERM or SIGINT (:class:`sfsync.errors.RunInterrupted`) exits 143 or 130; any other exception
is a bug and becomes one ``Error: internal error (…)`` line, exit 1 (the traceback only with -v).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from sfsync import __version__
from sfsync.errors import ExitCode, RunInterrupted, SfsyncError

COMMAND_MODULES = [
    "sfsync.commands.init",
    "sfsync.commands.validate",
    "sfsync.commands.run",
    "sfsync.commands.plan",
    "sfsync.commands.score",
    "sfsync.commands.sandbox",
    "sfsync.commands.kpi",
    "sfsync.commands.backfill",
    "sfsync.commands.calibrate",
    "sfsync.commands.doctor",
    "sfsync.commands.demo",
    "sfsync.commands.state",
]


_VERBOSITY = [0]
INTERNAL_ERROR_TEXT_LIMIT = 300


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sfsync")
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default=None,
    help="Log format: 'console' for people, 'json' (one event per line) for cron/CI. "
    "Default: console on a terminal, json otherwise.",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More log output, one level per -v. Console logs show warnings by default "
    "(-v info, -vv debug); JSON logs show info by default (-v debug).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="SFSYNC_CONFIG",
    help="Path to sfsync.yaml (default: ./sfsync.yaml). jobs/ and mappings/ are found beside it.",
)
@click.pass_context
def cli(ctx: click.Context, log_format: str | None, verbose: int, config_path: str | None) -> None:
    """sfsync: score customer health from product usage and write it into Salesforce.

    \b
    Quick start (no Salesforce org needed):
      sfsync demo                      run the nightly job against the local practice org
      sfsync run nightly --dry-run     show what a run would write, write nothing
    """
    # lazy: keeps `sfsync --help` under 150 ms (structlog)
    from sfsync.log import configure_logging

    ctx.ensure_object(dict)
    _VERBOSITY[0] = verbose  # main() shows a traceback for an unexpected error only with -v
    ctx.obj["config_path"] = config_path
    ctx.obj["log_format"] = configure_logging(log_format, verbose)


for _module_name in COMMAND_MODULES:
    for _command in importlib.import_module(_module_name).commands:
        cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``sfsync`` console script."""
    try:
        cli.main(args=argv, prog_name="sfsync", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(ExitCode.FAILURE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SfsyncError as exc:
        # lazy: keeps `sfsync --help` under 150 ms (structlog)
        from sfsync.log import redact_text

        click.echo(f"Error: {redact_text(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except RunInterrupted as exc:  # SIGTERM / SIGINT inside a run (sfsync.interrupt)
        click.echo(f"Error: {exc} ({exc.hint})", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # the reader of our output went away (`sfsync score | head`)
        _silence_stdout()
        sys.exit(ExitCode.FAILURE)
    except Exception as exc:  # noqa: BLE001 - a bug: one line for people, the traceback with -v
        if _VERBOSITY[0]:
            # lazy: keeps `sfsync --help` under 150 ms (structlog)
            from sfsync.log import redact_text

            click.echo(redact_text(traceback.format_exc()).rstrip(), err=True)
        click.echo(internal_error_line(exc), err=True)
        sys.exit(ExitCode.FAILURE)
    sys.exit(ExitCode.OK)


def internal_error_line(exc: BaseException) -> str:
    """One line for an unexpected exception: its type and (redacted, shortened) message."""
    # lazy: keeps `sfsync --help` under 150 ms (structlog)
    from sfsync.log import redact_text

    text = " ".join(redact_text(str(exc)).split())
    if len(text) > INTERNAL_ERROR_TEXT_LIMIT:
        text = text[: INTERNAL_ERROR_TEXT_LIMIT - 1] + "…"
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"Error: internal error ({detail}); this is a bug in sfsync (run with -v for details)"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
