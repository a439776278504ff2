"""Helpers for the operations tests: a project folder (jobs/ + mappings/ copied from the
repository) and the real CLI run in a child process against a sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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
    root.mkdir()
    shutil.copytree(REPO / "jobs", root / "jobs")
    shutil.copytree(REPO / "mappings", root / "mappings")
    (root / "sfsync.yaml").write_text(
        f"timezone: Asia/Tokyo\nlanguage: ja\nstate_url: sqlite:///{root / 'state.db'}\n",
        encoding="utf-8",
    )
    return OpsProject(root)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(project: OpsProject, sandbox, *args: str, env: dict | None = None) -> CliResult:
    """``python -m sfsync --log-format json --config <project>/sfsync.yaml ARGS`` in a child
    process whose environment holds only the sandbox's SPEC §9 variables."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    if sandbox is not None:
        environment.update(sandbox.env())
    environment.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "sfsync", "--log-format", "json", "--config",
         str(project.config), *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
