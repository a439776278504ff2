"""The monthly KPI job end to end on the sandbox (``sfsync run monthly-kpi``) with its
tech-touch funnel checked against the sample warehouse, and the shipped configuration
validating clean (the job model accepts ``compute: {kind: kpi}``)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from html import escape

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
    _assert_funnel_matches_the_sample(sb, report.read_text(encoding="utf-8"))
    assert f"KPI report written to {report}" in out
    assert writes(sb.admin.counters()) == 0  # a report job writes nothing to Salesforce
    summaries = _kpi_summaries(sb)
    assert len(summaries) == 1 and "2025-03" in summaries[0]["text"]

    again = run_cli(project, sb, "run", "monthly-kpi", "--as-of", "2025-04-01")
    assert again.exit_code == 0, again.output[-3000:]
    assert len(_kpi_summaries(sb)) == 1  # the month's summary is posted once


def _assert_funnel_matches_the_sample(sb, html: str) -> None:
    """The report's tech-touch funnel of February (the sample usage ends there: March has
    none) equals the same figures computed here from the practice org's Accounts and its
    Metabase warehouse, with SQL."""
    end = "2025-02-28"
    book = {
        a["Tenant_Id__c"]: a
        for a in sb.admin.records("Account")
        if a.get("Tenant_Id__c")
        and (a.get("Contract_Start_Date__c") or "")[:10] <= end
        and (not a.get("Churn_Date__c") or a["Churn_Date__c"][:10] > end)
    }
    db = sqlite3.connect(sb.data_dir / "metabase" / "usage.db")
    rows = db.execute(
        "SELECT tenant_id, emails_delivered, email_opens, email_clicks FROM "
        "tenant_monthly_usage WHERE month = '2025-02'"
    ).fetchall()
    mail = {t: (d or 0, o or 0, c or 0) for t, d, o, c in rows if t in book}
    delivered = {t for t, (d, _, _) in mail.items() if d > 0}
    opened = {t for t in delivered if mail[t][1] > 0}
    clicked = {t for t in opened if mail[t][2] > 0}
    mails = (
        sum(mail[t][0] for t in delivered),
        sum(mail[t][1] for t in opened),
        sum(mail[t][2] for t in clicked),
    )
    assert delivered - opened and opened - clicked, "the sample has accounts that fall out"
    # the tutorial: new accounts (contract start Dec-Feb) → started (viewed) → completed
    new = {t for t, a in book.items() if a["Contract_Start_Date__c"][:10] > "2024-11-30"}
    viewed = {
        t
        for t, month, views in db.execute(
            "SELECT tenant_id, month, COALESCE(video_views, 0) + COALESCE(document_views, 0) "
            "FROM tenant_monthly_usage WHERE month <= '2025-02'"
        )
        if t in new and views > 0 and month >= book[t]["Contract_Start_Date__c"][:7]
    }
    done = {
        t
        for (t,) in db.execute(
            "SELECT DISTINCT tenant_id FROM tenant_monthly_usage "
            f"WHERE tutorial_completed_on <= '{end}'"
        )
        if t in new
    }
    started = viewed | done
    db.close()

    assert "テックタッチのファネル（2024-10〜2025-03）" in html
    assert "2025-03 の利用データがありません" in html  # the report month: no usage yet
    assert "からの利用データがないため" not in html  # the job reads back far enough
    assert "メールのファネル（2025-02）" in html
    assert f"<td>2025-02</td><td>{' → '.join(f'{n:,}' for n in mails)}</td>" in html
    assert f"メールが届いたが開封しなかった顧客（{len(delivered - opened)} 社）" in html
    assert f"開封したがクリックしなかった顧客（{len(opened - clicked)} 社）" in html
    lost = sorted(book[t]["Name"] for t in delivered - opened)[0]
    account = book[next(t for t in delivered - opened if book[t]["Name"] == lost)]
    assert f'/lightning/r/Account/{account["Id"]}/view">{escape(lost)}</a>' in html  # linked
    tutorial = f"{len(new)} → {len(started)} → {len(started & done)}"
    assert f"{tutorial}</td>" in html, tutorial
    for forbidden in ("email_delivered", "video_views", "tutorial_completed"):
        assert forbidden not in html, forbidden


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
    # the tech-touch funnel of the latest month with figures (February), as in the report
    assert "テックタッチのファネル" in kpi.stdout
    assert "メールのファネル（2025-02）: 配信 " in kpi.stdout
    assert "チュートリアルのファネル（2025-02）: 新規顧客" in kpi.stdout
