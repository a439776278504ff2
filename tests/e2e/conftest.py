"""End-to-end helpers: a project folder (jobs/ + mappings/ copied from the repository) and a
way to run the real CLI against a sandbox with the SPEC §9 environment variables."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Project:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "sfsync.yaml"

    def write_job(self, name: str, text: str) -> None:
        (self.root / "jobs" / f"{name}.yaml").write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(REPO / "jobs", root / "jobs")
    shutil.copytree(REPO / "mappings", root / "mappings")
    (root / "sfsync.yaml").write_text(
        "timezone: Asia/Tokyo\nlanguage: ja\nstate_url: sqlite:///.sfsync/state.db\n",
        encoding="utf-8",
    )
    return Project(root)


def run_cli(project: Project, sandbox, *args: str, env: dict | None = None) -> Result:
    """``sfsync --log-format json --config <project>/sfsync.yaml ARGS`` with the sandbox's env."""
    from sfsync.cli import cli

    environment = {**sandbox.env(), **(env or {})}
    return CliRunner().invoke(
        cli,
        ["--log-format", "json", "--config", str(project.config), *args],
        env=environment,
        catch_exceptions=False,
    )


def writes(counters: dict) -> int:
    """Records the org wrote since the last counter reset."""
    return int(counters.get("records_written", 0))
