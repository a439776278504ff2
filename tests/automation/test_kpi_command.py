"""``sfsync kpi`` from CSV files: the table against targets and the self-contained report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from sfsync.cli import cli
from sfsync.errors import ConfigError, InputDataError
from tests.automation.test_kpi import ACCOUNTS, ACTIVITIES, MRR, SNAPSHOTS, TASKS, USAGE


def write_inputs(tmp_path):
    files = {}
    for name, frame in {
        "accounts": ACCOUNTS,
        "snapshots": SNAPSHOTS,
        "usage": USAGE,
        "activities": ACTIVITIES,
        "tasks": TASKS,
        "mrr": MRR,
    }.items():
        path = tmp_path / f"{name}.csv"
        out = frame.copy()
        for col in out.columns:
            if str(out[col].dtype).startswith("datetime"):
                out[col] = out[col].dt.strftime("%Y-%m-%d")
            if str(out[col].dtype) in ("bool", "boolean"):
                out[col] = out[col].map({True: "true", False: "false"})
        out.to_csv(path, index=False)
        files[name] = path
    return files


def invoke(tmp_path, *args, catch=False):
    env = {"SFSYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}", "SFSYNC_SLACK_TOKEN": ""}
    return CliRunner().invoke(cli, ["kpi", *args], env=env, catch_exceptions=catch)


def test_kpi_command_prints_table_and_writes_report(tmp_path):
    f = write_inputs(tmp_path)
    html = tmp_path / "out" / "kpi.html"
    result = invoke(
        tmp_path,
        "--month",
        "2025-03",
        "--html",
        str(html),
        "--no-post",
        "--no-salesforce",
        "--language",
        "en",
        *[a for k, p in f.items() for a in (f"--{k}", str(p))],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    # the strategy's definition (playbook churn_definition: contract_years): a2 and a5 churned
    # within 2 years of their contract start, of the 6 contracted accounts
    assert re.search(r"Churn rate\s+33\.3%\s+≤ 10\.0%\s+NOT MET\s+2 / 6", out)
    assert re.search(r"NRR\s+63\.2%\s+≥ 100\.0%\s+NOT MET\s+120 / 190", out)
    assert re.search(r"Meetings per CSM.*0\.50\s+≥ 0\.50\s+met\s+2 / 4", out)
    # the weekly leading KPIs: a1 on 03-01 (week of 02-24); a1 a3 a4 a6 on 03-15
    assert "Weekly leading KPIs (2025-03)" in out
    assert re.search(r"02/24–03/02\s+1\s+50\.0\s+0\.0%", out)
    assert re.search(r"03/10–03/16\s+4\s+60\.5\s+25\.0%", out)
    assert "1 of 10 measured KPIs meet their target." in out
    text = html.read_text(encoding="utf-8")
    assert text.count("<svg") >= 3
    assert "<script" not in text.lower()
    assert not re.search(r"(src|href)=\"?https?://", text)  # nothing loaded from the network
    assert "Monthly KPI report 2025-03" in text


def test_missing_inputs_are_reported(tmp_path):
    f = write_inputs(tmp_path)
    result = invoke(
        tmp_path,
        "--month",
        "2025-03",
        "--no-post",
        "--no-salesforce",
        "--snapshots",
        str(f["snapshots"]),
        "--html",
        str(tmp_path / "kpi.html"),
    )
    assert result.exit_code == 0, result.output
    out = result.output  # Japanese, the default language
    assert "2025-03 の KPI" in out
    assert re.search(r"指標\s+実績\s+目標\s+判定\s+内訳・理由", out)
    assert re.search(
        r"NRR\s+—\s+≥ 100\.0%\s+算出不可\s+2024-12-31 以前の ARR の記録がありません", out
    )
    assert "不足している入力：" in out
    assert "利用データ：月次利用データのファイルを入力に加えてください" in out
    assert "Missing inputs" not in out and "n/a" not in out and "NOT MET" not in out
    assert re.search(r"算出できた KPI \d+ 件のうち \d+ 件が目標を達成しています。", out)
    html = (tmp_path / "kpi.html").read_text(encoding="utf-8")
    assert "<h2>不足している入力</h2>" in html
    assert "<li>利用データ：月次利用データのファイルを入力に加えてください</li>" in html
    assert "2024-12-31 以前の ARR の記録がありません" in html
    assert "--" not in html and "SPEC" not in html and "n/a" not in html


def test_bad_month_and_bad_csv_are_clear_errors(tmp_path):
    bad = invoke(tmp_path, "--month", "2025-13", "--no-post", catch=True)
    assert isinstance(bad.exception, ConfigError) and "not a month" in str(bad.exception)
    csv = tmp_path / "acc.csv"
    csv.write_text("account_id,owner_id,contract_start\na1,o1,2025/01/01\n")
    result = CliRunner().invoke(
        cli,
        ["kpi", "--month", "2025-03", "--no-post", "--no-salesforce", "--accounts", str(csv)],
        env={"SFSYNC_STATE_URL": ""},
    )
    assert isinstance(result.exception, InputDataError)
    assert "acc.csv: row 2, column contract_start" in str(result.exception)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path):
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip(
            "Debian's chromium is not installed (scripts/screenshot_kpi_report.sh installs it)"
        )
    f = write_inputs(tmp_path)
    html = tmp_path / "kpi.html"
    invoke(
        tmp_path,
        "--month",
        "2025-03",
        "--html",
        str(html),
        "--no-post",
        "--no-salesforce",
        *[a for k, p in f.items() for a in (f"--{k}", str(p))],
    )
    png = tmp_path / "kpi.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            "--window-size=1280,1600",
            html.as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_kpi_from_state_store_snapshots(tmp_path, store_url):
    """Snapshots saved by runs (foundation's state store) feed the KPIs without any file."""
    from sfsync.state.db import open_store
    from sfsync.state.snapshots import save_snapshots

    store = open_store(store_url)
    try:
        for as_of, group in SNAPSHOTS.groupby("as_of"):
            save_snapshots(store, None, "default", as_of.date(), group.drop(columns="as_of"))
    finally:
        store.dispose()
    f = write_inputs(tmp_path)
    env = {"SFSYNC_STATE_URL": store_url, "SFSYNC_SLACK_TOKEN": ""}
    result = CliRunner().invoke(
        cli,
        [
            "kpi",
            "--month",
            "2025-03",
            "--no-post",
            "--no-salesforce",
            "--language",
            "en",
            "--accounts",
            str(f["accounts"]),
        ],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    # book a1 a3 a4 a6: latest March scores 82, 30, 70, 60
    assert re.search(r"Average health score\s+60\.5", result.output)
    # proposals made are completed upsell Tasks: without Tasks they are n/a, not detections
    assert re.search(r"Upsell proposals made\s+n/a\s", result.output)


def test_kpi_summary_is_posted_once_per_month(tmp_path):
    from tests.automation.test_slack import SlackServer

    slack = SlackServer(tmp_path)
    try:
        f = write_inputs(tmp_path)
        env = {
            "SFSYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "SFSYNC_SLACK_TOKEN": "xoxb-test",
            "SFSYNC_SLACK_BASE_URL": slack.base_url,
        }
        args = ["kpi", "--month", "2025-03", "--no-salesforce", "--language", "en",
                *[a for k, p in f.items() for a in (f"--{k}", str(p))]]  # fmt: skip
        first = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert first.exit_code == 0, first.output
        assert "Slack summary: posted" in first.output
        (message,) = slack.messages
        assert message["channel_name"] == "cs-managers"
        assert message["text"] == "Monthly KPIs 2025-03: 1 of 10 targets met"
        blocks = json.dumps(message["blocks"], ensure_ascii=False)
        assert "Churn rate: *33.3%* (target ≤ 10.0%)" in blocks
        again = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert "Slack summary: already posted" in again.output
        assert len(slack.messages) == 1
    finally:
        slack.close()
