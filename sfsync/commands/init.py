"""``sfsync init DIR``: start a new project from the defaults shipped inside the package."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from sfsync.scaffold import WrittenProject, write_project

NEXT_STEPS = """\
Next steps:
  cd {dir}
  sfsync validate            check the configuration offline
  sfsync demo                the nightly job on the local practice org (needs sfsync-sandbox:
                             pip install -e ./sandbox from a clone of the repository)
  deploy/salesforce/         the Account fields, Sync_Key__c and permission set to deploy to
                             your org (see its README.md); then sfsync doctor
  jobs/nightly.yaml          point sources.usage at your Metabase question
"""


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files of the same name in DIRECTORY.")
def init(directory: Path, force: bool) -> None:
    """Write a new project into DIRECTORY: sfsync.yaml, jobs/, mappings/, deploy/salesforce/.

    The files are the defaults of this sfsync version: the nightly, weekly usage-import and
    monthly KPI jobs, the default and seed000 scorecards, rules, benchmarks, playbook, Task and
    Slack templates (ja, en), column mappings, and the Salesforce metadata to deploy.
    DIRECTORY is created if missing; existing files are never overwritten without --force.

    \b
    Examples:
      sfsync init cs-health && cd cs-health && sfsync demo
      sfsync init . --force       reset the current project to the defaults
    """
    written = write_project(directory, force=force)
    click.echo(summary(written))
    click.echo("")
    click.echo(NEXT_STEPS.format(dir=directory), nl=False)


def summary(written: WrittenProject) -> str:
    """Lines naming what was written: each top-level file, each folder with its file count."""
    counts = Counter(_group(rel) for rel in written.files)
    lines = [f"Wrote {len(written.files)} files into {written.root}:"]
    for top in sorted(counts, key=lambda name: (name.endswith("/"), name)):
        lines.append(f"  {top}" if not top.endswith("/") else f"  {top}  ({counts[top]} files)")
    if written.overwritten:
        lines.append(f"({len(written.overwritten)} existing files overwritten: --force)")
    return "\n".join(lines)


def _group(relative: str) -> str:
    """``jobs/``, ``mappings/``, ``deploy/salesforce/`` or the file itself."""
    parts = relative.split("/")
    depth = 2 if parts[0] == "deploy" else 1
    return "/".join(parts[:depth]) + "/" if len(parts) > depth else relative


commands = [init]
