"""The default project shipped inside the package, and writing it into a new folder.

``sfsync/project_template/`` holds the files ``sfsync init`` writes: ``sfsync.yaml``, ``jobs/``,
``mappings/`` (scorecards, rules, benchmarks, playbook, templates, column mappings) and
``deploy/salesforce/`` (the Salesforce metadata an admin deploys). In the repository its
entries are symbolic links to the top-level ``sfsync.yaml``, ``jobs/``, ``mappings/`` and
``deploy/salesforce/``, so those stay the single source: building a wheel copies the files
behind the links into the package, and an editable install reads them through the links.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from sfsync.errors import SfsyncError

TEMPLATE_PACKAGE = "sfsync"
TEMPLATE_DIR = "project_template"
SALESFORCE_METADATA = "deploy/salesforce/force-app/main/default"
_SKIPPED = {"__pycache__", ".DS_Store"}


class ProjectExistsError(SfsyncError):
    """``sfsync init`` would overwrite files that are already there."""


@dataclass(frozen=True)
class WrittenProject:
    """What :func:`write_project` wrote: the folder and each file, relative to it."""

    root: Path
    files: tuple[str, ...]
    overwritten: tuple[str, ...]


def template_root() -> Traversable:
    """The packaged default project (``sfsync/project_template``)."""
    return files(TEMPLATE_PACKAGE) / TEMPLATE_DIR


def default_salesforce_metadata_dir() -> Path:
    """``deploy/salesforce/force-app/main/default`` of the packaged default project."""
    return Path(str(template_root())) / SALESFORCE_METADATA


def default_mappings_dir() -> Path:
    """``mappings/`` of the packaged default project."""
    return Path(str(template_root())) / "mappings"


def template_files(root: Traversable | None = None) -> dict[str, Traversable]:
    """Every file of the default project by its relative POSIX path, sorted."""
    found: dict[str, Traversable] = {}
    _collect(root if root is not None else template_root(), "", found)
    return dict(sorted(found.items()))


def _collect(node: Traversable, prefix: str, found: dict[str, Traversable]) -> None:
    for child in node.iterdir():
        if child.name in _SKIPPED:
            continue
        relative = f"{prefix}{child.name}"
        if child.is_dir():
            _collect(child, relative + "/", found)
        elif child.is_file():
            found[relative] = child


def existing_files(dest: Path, relative_paths: list[str] | tuple[str, ...]) -> list[str]:
    """The paths among ``relative_paths`` that already exist under ``dest``."""
    return [rel for rel in relative_paths if (dest / rel).exists()]


def write_project(
    dest: Path, *, force: bool = False, template: Traversable | None = None
) -> WrittenProject:
    """Write the default project into ``dest`` (created if missing).

    Refuses, writing nothing, when any file it would write exists already, unless ``force``;
    files of ``dest`` that are not part of the template are never touched.
    """
    if dest.exists() and not dest.is_dir():
        raise ProjectExistsError(f"{dest} exists and is not a folder")
    sources = template_files(template)
    clashes = existing_files(dest, tuple(sources))
    if clashes and not force:
        shown = ", ".join(clashes[:5]) + (
            f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        )
        raise ProjectExistsError(
            f"{dest} already has {len(clashes)} of the files sfsync init writes ({shown})",
            hint="pick an empty folder, or add --force to overwrite them",
        )
    for relative, source in sources.items():
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    return WrittenProject(root=dest, files=tuple(sources), overwritten=tuple(clashes))
