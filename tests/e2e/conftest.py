"""End-to-end helpers: a project folder (jobs/ + mappings/ copied from the repository) and a
way to run the real CLI against a sandbox with the SPEC §9 environment variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli_process import make_project, run_sfsync


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
    make_project(root)
    return Project(root)


@dataclass
class CliResult:
    exit_code: int
    output: str  # stdout: the summary / plan
    stderr: str  # JSON log events and "Error: …"


def run_cli(project: Project, sandbox, *args: str, env: dict | None = None) -> CliResult:
    """The real CLI in a child process with only the sandbox's SPEC §9 variables."""
    proc = run_sfsync(project.config, sandbox, *args, env=env)
    return CliResult(proc.returncode, proc.stdout + proc.stderr, proc.stderr)


def writes(counters: dict) -> int:
    """Records the org wrote since the last counter reset."""
    return int(counters.get("records_written", 0))


def customers(accounts: list[dict], as_of: str) -> list[dict]:
    """The accounts the nightly job scores: not churned on or before ``as_of`` (ISO date).

    jobs/nightly.yaml sets ``exclude_churned: true``; the sample book has churned accounts."""
    return [a for a in accounts if not a.get("Churn_Date__c") or a["Churn_Date__c"][:10] > as_of]


def without_daily_task_limit(project: Project) -> None:
    """Turn the playbook's per-owner daily Task limit off: every new Task on the first night
    (for tests about what is detected, not about how a CSM's day is paced)."""
    playbook = project.root / "mappings" / "playbook.yaml"
    text = playbook.read_text(encoding="utf-8")
    assert "per_owner_per_day: 10" in text, "the shipped playbook's daily limit moved"
    playbook.write_text(text.replace("per_owner_per_day: 10", "per_owner_per_day: null"), "utf-8")
