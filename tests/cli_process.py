"""Run the real ``sfsync`` CLI in a child process, as a scheduler would, against a project folder
(``jobs/`` and ``mappings/`` copied from the repository) and a sandbox's SPEC §9 variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_project(root: Path, state_url: str = "sqlite:///.sfsync/state.db") -> Path:
    """A project folder with the repository's jobs and mappings; returns its sfsync.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "jobs", root / "jobs")
    shutil.copytree(REPO / "mappings", root / "mappings")
    config = root / "sfsync.yaml"
    config.write_text(
        f"timezone: Asia/Tokyo\nlanguage: ja\nstate_url: {state_url}\n", encoding="utf-8"
    )
    return config


def run_sfsync(
    config: Path, sandbox, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m sfsync --log-format json --config CONFIG ARGS`` with an environment holding
    only the sandbox's SPEC §9 variables (none when ``sandbox`` is None) and ``env``."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SFSYNC_")}
    if sandbox is not None:
        environment.update(sandbox.env())
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sfsync", "--log-format", "json", "--config", str(config), *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
