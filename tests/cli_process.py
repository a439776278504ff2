"""Run the real ``sfsync`` CLI in a child process, as a scheduler would, against a project folder
(``jobs/`` and ``mappings/`` copied from the repository) and a sandbox's SPEC §9 variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]

#: Retry waits of every test project: the same attempts as in production, but a retry waits
#: milliseconds, not seconds (``salesforce.retry``, ``metabase.retry``, ``slack.retry``).
FAST_RETRY = {"wait_initial_seconds": 0.01, "wait_max_seconds": 0.05}
#: Slack posts to one channel are paced 10 ms apart, not a second (``slack.pace_seconds``).
FAST_PACE = 0.01


def make_project(root: Path, state_url: str = "sqlite:///.sfsync/state.db") -> Path:
    """A project folder with the repository's jobs and mappings; returns its sfsync.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "jobs", root / "jobs")
    shutil.copytree(REPO / "mappings", root / "mappings")
    config = root / "sfsync.yaml"
    settings = {
        "timezone": "Asia/Tokyo",
        "language": "ja",
        "state_url": state_url,
        **{block: {"retry": dict(FAST_RETRY)} for block in ("salesforce", "metabase", "slack")},
    }
    settings["slack"]["pace_seconds"] = FAST_PACE
    config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return config


def add_settings(config: Path, extra: dict[str, Any]) -> None:
    """Merge ``extra`` into a project's sfsync.yaml; blocks merge key by key
    (``{"salesforce": {"api_reserve": 0}}`` keeps ``salesforce.retry``)."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


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
