"""Helpers for the operations tests: a project folder (jobs/ + mappings/ copied from the
repository) and the real CLI run in a child process against a sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli_process import make_project, run_sfsync


@dataclass
class OpsProject:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "sfsync.yaml"

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.root / 'state.db'}"


@pytest.fixture
def ops_project(tmp_path: Path) -> OpsProject:
    root = tmp_path / "project"
    make_project(root, state_url=f"sqlite:///{root / 'state.db'}")
    return OpsProject(root)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(project: OpsProject, sandbox, *args: str, env: dict | None = None) -> CliResult:
    """The real CLI in a child process with only the sandbox's SPEC §9 variables."""
    proc = run_sfsync(project.config, sandbox, *args, env=env)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
