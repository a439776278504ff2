"""Which job's sources calibration reads for the inputs' values, and the command's choice
between reading them and not."""

from __future__ import annotations

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
