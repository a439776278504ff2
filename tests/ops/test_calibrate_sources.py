"""Which job's sources calibration reads for the inputs' values, and the command's choice
between reading them and not."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from click.testing import CliRunner

from sfsync.cli import cli
from sfsync.ops.calibrate_sources import scoring_job

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def test_the_job_scoring_with_the_scorecard_is_found(tmp_path):
    assert scoring_job(JOBS, "default") == "nightly"
    assert scoring_job(JOBS, "seed000") == "seed000"
    assert scoring_job(JOBS, "no-such-card") is None
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "a-broken.yaml").write_text("sources: [\n", encoding="utf-8")  # sorts first
    shutil.copy(JOBS / "nightly.yaml", jobs / "nightly.yaml")
    assert scoring_job(jobs, "default") == "nightly"  # a job that does not load is skipped
    assert scoring_job(tmp_path / "none", "default") is None


def test_job_and_no_inputs_exclude_each_other():
    result = CliRunner().invoke(
        cli, ["calibrate", "--from", "2024-01-01", "--to", "2024-02-01", "--job", "nightly",
              "--no-inputs"],
    )  # fmt: skip
    assert result.exit_code == 2 and "give --job or --no-inputs, not both" in result.output


def test_without_credentials_the_error_says_calibration_can_do_without_sources(
    ops_project, tmp_path, monkeypatch
):
    for key in [k for k in os.environ if k.startswith("SFSYNC_")]:
        monkeypatch.delenv(key)
    outcomes = tmp_path / "o.csv"
    outcomes.write_text("account_id,churned,churn_date\n001A,true,2025-01-01\n", "utf-8")
    result = CliRunner().invoke(
        cli, ["--config", str(ops_project.config), "calibrate", "--from", "2024-04-01", "--to",
              "2025-03-01", "--outcomes", str(outcomes)],
    )  # fmt: skip
    error = result.exception
    assert "no Salesforce credentials" in error.message and "--no-inputs" in error.hint
