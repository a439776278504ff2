"""The monthly KPI job end to end on the sandbox (``sfsync run monthly-kpi``) and the shipped
configuration validating clean (the job model accepts ``compute: {kind: kpi}``)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.cli_process import REPO
from tests.e2e.conftest import run_cli, writes


def _kpi_summaries(sb) -> list[dict]:
    return [m for m in sb.admin.slack_messages() if "月次KPI" in (m.get("text") or "")]


def test_the_shipped_configuration_validates_clean():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    proc = subprocess.run(
        [sys.executable, "-m", "sfsync", "validate"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: checked" in proc.stdout and "jobs" in proc.stdout


def test_monthly_kpi_job_prints_writes_the_report_and_posts_once(project, sandbox_factory):
    sb = sandbox_factory(accounts=60)
    for as_of in ("2025-03-14", "2025-03-31"):
        nightly = run_cli(project, sb, "run", "nightly", "--as-of", as_of)
        assert nightly.exit_code == 0, nightly.output[-3000:]
    assert not _kpi_summaries(sb)

    sb.admin.reset_counters()
    result = run_cli(project, sb, "run", "monthly-kpi", "--as-of", "2025-04-01")
    assert result.exit_code == 0, result.output[-3000:]
    out = result.output
    assert "2025-03 の KPI" in out
    for label in ("ヘルススコア平均", "🔴顧客比率", "接点頻度達成率", "QBR実施率"):
        assert label in out, label
    assert "Run 3 of monthly-kpi as of 2025-04-01: succeeded" in out
    # the averages come from the two nightly snapshots, not n/a
    average = next(line for line in out.splitlines() if line.startswith("ヘルススコア平均"))
    assert "算出不可" not in average
    report = project.root / "out" / "kpi-2025-03.html"
    assert report.exists() and "2025-03" in report.read_text(encoding="utf-8")
    assert f"KPI report written to {report}" in out
    assert writes(sb.admin.counters()) == 0  # a report job writes nothing to Salesforce
    summaries = _kpi_summaries(sb)
    assert len(summaries) == 1 and "2025-03" in summaries[0]["text"]

    again = run_cli(project, sb, "run", "monthly-kpi", "--as-of", "2025-04-01")
    assert again.exit_code == 0, again.output[-3000:]
    assert len(_kpi_summaries(sb)) == 1  # the month's summary is posted once


def test_kpi_command_reads_the_sandbox(project, tmp_path):
    """``sfsync kpi --sandbox`` uses the same sandbox and state store as ``run --sandbox``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    base = [sys.executable, "-m", "sfsync", "--config", str(project.config)]

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*base, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )

    nightly = call("run", "nightly", "--sandbox", "--as-of", "2025-03-20")
    assert nightly.returncode == 0, nightly.stderr[-3000:]
    html = tmp_path / "kpi.html"
    kpi = call("kpi", "--sandbox", "--month", "2025-03", "--html", str(html), "--no-post")
    assert kpi.returncode == 0, kpi.stderr[-3000:]
    assert "2025-03 の KPI" in kpi.stdout
    rows = {line.split()[0]: line for line in kpi.stdout.splitlines() if line.strip()}
    assert "算出不可" not in rows["ヘルススコア平均"]
    # usage comes from Metabase through the monthly-kpi job's sources, not from a CSV
    # (the sample book's usage ends the month before the sandbox's date: no rows for March)
    assert "2025-03 の利用データがありません" in rows["月間アクティブ顧客率"]
    assert "--usage" not in kpi.stdout
    assert html.exists()
