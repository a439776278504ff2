"""Calibration answers the talk's question on the sample book (seed 000, issue 13 item 6): after
a backfill against the local practice org, ``sfsync calibrate`` reads the nightly job's sources
as of each snapshot date, ranks the engagement logs the scorecard does not use by how well
they separated churned from renewed accounts, proposes at least one, and prints a scorecard
snippet that loads. One figure — the email open rate's AUC and its account count — is worked
out here independently from the sample book itself."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import yaml
from sfsync_sandbox.sample_data import generate

from sfsync.ops.calibrate_snippet import apply_snippet
from sfsync.scoring import load_scorecard
from tests.e2e.conftest import run_cli
from tests.fixtures.sandbox import SANDBOX_AS_OF
from tests.ops.test_calibrate import printed_snippet

DATES = [date(2024, m, 1) for m in range(4, 13)] + [date(2025, m, 1) for m in range(1, 4)]
WINDOW = ("--from", "2024-04-01", "--to", "2025-03-01")
ENGAGEMENT = ("メール開封率（当月）", "メールクリック率（当月）", "メール開封数（当月）",
              "メールクリック数（当月）", "メール配信数（当月）", "動画視聴数（当月）",
              "資料閲覧数（当月）", "チュートリアル完了")  # fmt: skip
SNIPPET_TITLE = "スコアカードに貼り付ける YAML"


def _auc(values: pd.Series, churned: pd.Series) -> float:
    """Share of (renewed, churned) pairs in which the renewed account had the higher value,
    ties counting half — written out pair by pair."""
    kept, lost = values[~churned].tolist(), values[churned].tolist()
    wins = sum((k > c) + 0.5 * (k == c) for k in kept for c in lost)
    return wins / (len(kept) * len(lost))


def _expected_open_rate() -> tuple[float, int]:
    """The email open rate's separation and account count, from the sample book: each account
    observed at its last backfill date before its churn date, its rate that date's scoring
    month (the month before): opens / delivered where mails were delivered."""
    book = generate(accounts=150, seed=7, as_of=SANDBOX_AS_OF)
    accounts = book.accounts
    usage = book.usage.set_index(["tenant_id", "month"])
    values, churned = [], []
    for row in accounts.itertuples():
        churn = row.Churn_Date__c
        seen = [d for d in DATES if pd.isna(churn) or pd.Timestamp(d) < churn]
        if not seen or pd.isna(row.Tenant_Id__c):
            continue
        day = seen[-1]
        month = f"{day.year - (day.month == 1)}-{(day.month - 2) % 12 + 1:02d}"
        if (row.Tenant_Id__c, month) not in usage.index:
            continue
        cells = usage.loc[(row.Tenant_Id__c, month)]
        if cells["email_delivered"] > 0:
            values.append(cells["email_opens"] / cells["email_delivered"])
            churned.append(not pd.isna(churn))
    rates, lost = pd.Series(values), pd.Series(churned)
    auc = _auc(rates, lost)
    return max(auc, 1 - auc), len(rates)


def _candidate_rows(output: str) -> list[list[str]]:
    lines = output.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("入力  AUC  向き"))
    rows = []
    for line in lines[head + 1 :]:
        if not line.strip():
            break
        rows.append(line.split("  "))
    return rows


def test_calibrate_ranks_the_engagement_inputs_of_the_sample_book(project, sandbox_factory):
    sb = sandbox_factory(accounts=150)
    backfill = run_cli(project, sb, "backfill", "nightly", *WINDOW)
    assert backfill.exit_code == 0, backfill.output[-3000:]
    html = project.root / "calibration.html"
    result = run_cli(project, sb, "calibrate", *WINDOW, "--no-proposal", "--html", str(html))
    assert result.exit_code == 0, result.output[-3000:]
    out = result.output
    assert '"calibration_inputs_read"' in result.stderr  # the job's sources, read per date

    rows = _candidate_rows(out)
    by_label = {r[0]: r for r in rows}
    assert set(ENGAGEMENT) <= set(by_label), out[-4000:]
    separations = [float(r[1]) for r in rows if re.fullmatch(r"\d\.\d\d", r[1])]
    assert separations == sorted(separations, reverse=True)  # ranked, best first
    proposed = [r[0] for r in rows if r[-1].startswith("追加を提案")]
    assert set(proposed) & set(ENGAGEMENT), rows  # engagement fades before churn in the book

    # one figure checked against the sample book itself
    separation, accounts = _expected_open_rate()
    rate = by_label["メール開封率（当月）"]
    assert rate[1] == f"{separation:.2f}" and rate[2] == "高いほど継続"
    assert rate[3].startswith(f"{accounts}（")

    # the printed snippet, pasted into the project's scorecard, loads with the loader
    snippet = yaml.safe_load(printed_snippet(out, SNIPPET_TITLE))
    live = project.root / "mappings" / "scorecards" / "default.yaml"
    pasted = apply_snippet(yaml.safe_load(live.read_text(encoding="utf-8")), snippet)
    path = live.with_name("pasted.yaml")
    path.write_text(yaml.safe_dump(pasted, allow_unicode=True, sort_keys=False), "utf-8")
    added = load_scorecard(path).categories["engagement_logs"].measures
    assert {m.labels["ja"] for m in added.values()} == set(proposed)

    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") == 4 and "メール開封率（当月）" in page and "<pre>" in page
