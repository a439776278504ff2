"""``sfsync run nightly --sandbox``: the sandbox starts in-process under .sandbox/src/sfsync_sandbox/ and
the product path runs unchanged through the environment-variable overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

from sfsync_sandbox.sample_data import generate

from tests.cli_process import REPO


def _sfsync(project, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    return subprocess.run(
        [sys.executable, "-m", "sfsync", "--config", str(project.config), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_run_sandbox_twice_and_the_second_run_writes_nothing(project):
    first = _sfsync(
        project, "--log-format", "console", "run", "nightly", "--sandbox", "--as-of", "2025-03-15"
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert (project.root / ".sfsync" / "sandbox" / "state.db").exists()
    assert "Reading usage from Metabase card 1" in first.stderr  # progress for a person
    # the default book (150 accounts, seed 7); the nightly job skips those already churned
    book = generate(accounts=150, seed=7, as_of=date(2025, 3, 15))
    churn = book.accounts["Churn_Date__c"]
    scored = int((churn.isna() | (churn > "2025-03-15")).sum())
    assert 130 < scored < 150
    assert f"{scored} account updates" in first.stdout
    second = _sfsync(
        project, "--log-format", "json", "run", "nightly", "--sandbox", "--as-of", "2025-03-15"
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Reading usage" not in second.stderr  # no progress lines in JSON-log mode
    assert (
        f"0 account updates, 0 tasks created, 0 tasks updated, {scored} unchanged" in second.stdout
    )
    assert "alerted      0 new signals" in second.stdout


def test_unknown_job_is_a_clear_error(project):
    result = _sfsync(project, "run", "nightley", "--sandbox")
    assert result.returncode == 1
    assert "no job named 'nightley'" in result.stderr
    assert "nightly, seed000, weekly-usage-import" in result.stderr


def test_a_practice_org_older_than_its_scoring_month_says_how_to_renew_it(project):
    first = _sfsync(project, "run", "nightly", "--sandbox", "--as-of", "2025-03-15", "--dry-run")
    assert first.returncode == 0, first.stderr[-3000:]
    # two months later the sample usage (through 2025-02) has no row for the scoring month
    later = _sfsync(project, "run", "nightly", "--sandbox", "--as-of", "2025-05-10")
    assert later.returncode == 1, later.stdout + later.stderr[-3000:]
    assert "scoring_month_missing" in later.stderr and "2025-04" in later.stderr
    assert "sfsync sandbox reset" in later.stderr
    assert "Traceback" not in later.stderr
