"""End-to-end helpers: a project folder (jobs/ + mappings/ copied from the repository) and a
way to run the real CLI against a sandbox with the SPEC §9 environment variables."""

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


@dataclass
class CliResult:
    exit_code: int
    output: str  # stdout: the summary / plan
    stderr: str  # JSON log events and "Error: …"


def run_cli(project: Project, sandbox, *args: str, env: dict | None = None) -> CliResult:
    """``python -m sfsync --log-format json --config <project>/sfsync.yaml ARGS`` in a child
    process whose environment holds only the sandbox's SPEC §9 variables: the real CLI path."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SFSYNC_")}
    environment.update({**sandbox.env(), **(env or {})})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sfsync",
            "--log-format",
            "json",
            "--config",
            str(project.config),
            *args,
        ],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return CliResult(proc.returncode, proc.stdout + proc.stderr, proc.stderr)


def writes(counters: dict) -> int:
    """Records the org wrote since the last counter reset."""
    return int(counters.get("records_written", 0))


def customers(accounts: list[dict], as_of: str) -> list[dict]:
    """The accounts the nightly job scores: not churned on or before ``as_of`` (ISO date).

    jobs/nightly.yaml sets ``exclude_churned: true``; the sample book has churned accounts."""
    return [a for a in accounts if not a.get("Churn_Date__c") or a["Churn_Date__c"][:10] > as_of]
