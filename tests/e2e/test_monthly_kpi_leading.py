"""The monthly KPI job on the practice org with the KPIs management reads: NRR from the ARR the
nightly job and the backfill keep in the snapshots, the strategy's churn definition, weekly
leading KPIs, onboarding steps, upsell proposals made (completed upsell Tasks) and the
48-hour KPIs (new signals touched within 48 hours, median hours to first touch)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, datetime, timedelta

from tests.cli_process import REPO
from tests.e2e.conftest import run_cli


def _sfsync(project, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    return subprocess.run(
        [sys.executable, "-m", "sfsync", "--config", str(project.config), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _rows(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines() if line.strip()}


def test_run_monthly_kpi_sandbox_computes_nrr_and_the_leading_kpis(project):
    window = ("--from", "2024-12-01", "--to", "2025-03-01")
    backfill = _sfsync(project, "backfill", "nightly", *window, "--sandbox")
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    nightly = _sfsync(project, "run", "nightly", "--sandbox", "--as-of", "2025-03-20")
    assert nightly.returncode == 0, nightly.stderr[-3000:]

    kpi = _sfsync(project, "run", "monthly-kpi", "--sandbox", "--as-of", "2025-04-01")
    assert kpi.returncode == 0, kpi.stderr[-3000:]
    out = kpi.stdout
    rows = _rows(out)
    # NRR: March ARR of the accounts with ARR on 2024-12-31 (the backfill's 12-01 snapshot)
    nrr = rows["NRR"]
    assert "算出不可" not in nrr, nrr
    value, counts = re.search(
        r"NRR\s+([\d.]+)%\s+≥ 100\.0%\s+\S+\s+([\d,]+ / [\d,]+)", nrr
    ).groups()
    now, base = (float(x.replace(",", "")) for x in counts.split(" / "))
    assert 0 < now < base and float(value) == round(100 * now / base, 1)  # churn lowers it
    for label in ("チャーン率", "ヘルススコア平均", "🔴顧客比率", "検知から48時間以内の接触率",
                  "検知から初回接触までの時間（中央値）", "アップセル提案数（実施済み）",
                  "オンボーディング完了率（Step0〜4、3ヶ月以内）"):  # fmt: skip
        assert label in out, label
    assert "算出不可" not in rows["チャーン率"]
    # the new churn signals of March were found by the nightly run of 03-20
    assert re.search(r"検知から48時間以内の接触率\s+[\d.]+%\s+≥ 90\.0%\s+\S+\s+\d+ / \d+", out)
    assert "NRR" not in "".join(line for line in out.splitlines() if "不足" in line)

    html = (project.root / "out" / "kpi-2025-03.html").read_text(encoding="utf-8")
    assert "契約開始から 2 年以内に解約した顧客数 ÷ 契約顧客数" in html  # which churn definition
    assert "週次の先行指標（2025-03）" in html
    # weekly: the backfill's 03-01 snapshot (week of 02-24) and the nightly run (week of 03-17)
    assert "02/24–03/02" in html and "03/17–03/23" in html
    for forbidden in ("SPEC", "§", "--"):
        assert forbidden not in html, forbidden


def test_completed_tasks_count_as_proposals_and_touches(project, sandbox_factory):
    """A CSM completes a signal Task and an upsell Task today: the month's KPIs count one
    upsell proposal made and a new signal touched within 48 hours. (The practice org stamps
    CompletedDateTime with the real clock, as Salesforce does, so the book is as of today.)"""
    today = date.today()
    sb = sandbox_factory(accounts=60, as_of=today)
    nightly = run_cli(project, sb, "run", "nightly", "--as-of", today.isoformat())
    assert nightly.exit_code == 0, nightly.output[-3000:]
    tasks = sb.admin.records("Task")
    signal = next(t for t in tasks if (t.get("Sync_Key__c") or "").startswith("signal:"))
    upsell = next(t for t in tasks if (t.get("Sync_Key__c") or "").startswith("upsell:"))
    for task in (signal, upsell):
        sb.admin.edit_as(task["OwnerId"], "Task", task["Id"], {"Status": "Completed"})

    month = today.strftime("%Y-%m")
    result = run_cli(project, sb, "kpi", "--month", month, "--no-post", "--language", "en")
    assert result.exit_code == 0, result.output[-3000:]
    out = result.output
    assert re.search(r"Upsell proposals made\s+1\s", out), out[-3000:]
    touched = re.search(r"New signals touched within 48 hours\s+[\d.]+%.*?(\d+) / (\d+)", out)
    assert touched and int(touched.group(1)) >= 1, out[-3000:]
    hours = re.search(r"Median hours to first touch\s+([\d.]+)", out)
    # detected at the start of today (local time), touched just now
    now = datetime.now()
    assert (
        hours
        and float(hours.group(1))
        <= (now - datetime(now.year, now.month, now.day)) / (timedelta(hours=1)) + 24
    )
