"""The seed-000 scorecard live on the practice org: ``jobs/seed000.yaml`` reads the adoption
checklists and market inputs from the sample Accounts, writes a realistic spread of bands into
its own Account fields (Adoption_*), leaves the nightly job's Health fields, Tasks and signal
ledger alone, and a re-run of either job writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date

from sfsync_sandbox.sample_data import generate

from tests.cli_process import REPO
from tests.e2e.conftest import customers, run_cli

AS_OF = "2025-03-15"
BANDS = ("green", "yellow", "orange", "red")
BAND_JA = {"green": "健全", "yellow": "要注意", "orange": "警戒", "red": "危険"}  # picklist labels
HEALTH = ("Health_Score__c", "Health_Band__c", "Health_Explanation__c", "Churn_Signals__c")


def test_seed000_scores_the_practice_org_without_touching_the_nightly_fields(
    project, sandbox_factory
):
    sb = sandbox_factory(accounts=150)
    nightly = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert nightly.exit_code == 0, nightly.output
    before = {a["Id"]: {f: a.get(f) for f in HEALTH} for a in sb.admin.records("Account")}
    tasks_before = len(sb.admin.records("Task"))

    first = run_cli(project, sb, "run", "seed000", "--as-of", AS_OF)
    assert first.exit_code == 0, first.output
    accounts = sb.admin.records("Account")
    active = customers(accounts, AS_OF)
    assert 130 < len(active) < 150
    assert all(a.get("Adoption_Score__c") is not None for a in active)
    assert all(a.get("Adoption_Score__c") is None for a in accounts if a not in active)
    bands = Counter(a["Adoption_Band__c"] for a in active)
    # a realistic spread: every band holds at least a tenth of the book, none more than half
    assert set(bands) == set(BANDS), bands
    assert all(len(active) // 10 <= bands[b] <= len(active) // 2 for b in BANDS), bands
    for a in active:
        head = f"スコア {int(a['Adoption_Score__c'])}（{BAND_JA[a['Adoption_Band__c']]}）\n"
        assert a["Adoption_Explanation__c"].startswith(head), a["Adoption_Explanation__c"]
        assert "\n原稿 " in a["Adoption_Explanation__c"]  # one category per line
        points = ("Adoption_Postings__c", "Adoption_Management__c", "Adoption_Paid_Ads__c")
        assert all(0 <= a[f] <= 30 for f in points) and 0 <= a["Market_Score__c"] <= 100
    # the job reads usage for the data-quality note: the same accounts as the nightly's lack
    # usage rows (not every linked one, as without a usage source)
    no_usage = {a["Id"] for a in active if "利用データなし" in a["Adoption_Explanation__c"]}
    assert no_usage == {a["Id"] for a in active if "利用データなし" in a["Health_Explanation__c"]}
    assert len(no_usage) < len(active) // 10
    # the score follows the sample's health: healthy accounts score above idle ones
    profiles = generate(150, seed=7, as_of=date(2025, 3, 15)).profiles.set_index("Id")
    by_kind: dict[str, list[float]] = {}
    for a in active:
        by_kind.setdefault(profiles.loc[a["Id"], "archetype"], []).append(a["Adoption_Score__c"])
    mean = {k: sum(v) / len(v) for k, v in by_kind.items()}
    assert mean["healthy"] > mean["low_usage"] + 20 and mean["healthy"] > mean["idle"] + 20

    # the nightly job's fields, Tasks and signals are as it left them
    after = {a["Id"]: {f: a.get(f) for f in HEALTH} for a in accounts}
    assert after == before
    assert len(sb.admin.records("Task")) == tasks_before
    assert "0 tasks created" in first.output and "0 new" in first.output

    again = run_cli(project, sb, "run", "seed000", "--as-of", AS_OF)
    assert again.exit_code == 0, again.output
    assert f"0 account updates, 0 tasks created, 0 tasks updated, {len(active)} unchanged" in (
        again.output
    )
    nightly_again = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert nightly_again.exit_code == 0, nightly_again.output
    assert "0 account updates, 0 tasks created" in nightly_again.output
    assert "alerted      0 new signals" in nightly_again.output


def test_run_seed000_with_the_sandbox_flag(project):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    result = subprocess.run(
        [sys.executable, "-m", "sfsync", "--config", str(project.config), "run", "seed000",
         "--sandbox", "--as-of", AS_OF],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "seed000 as of 2025-03-15: succeeded" in result.stdout
    scored = next(line for line in result.stdout.splitlines() if "scored" in line)
    assert all(f" {band}" in scored for band in BANDS), scored


def test_nightly_scores_s_and_a_accounts_with_seed000(project, sandbox_factory):
    job = project.root / "jobs" / "nightly.yaml"
    text = job.read_text(encoding="utf-8")
    text = text.replace(
        "    columns: salesforce_accounts ", "    columns: salesforce_accounts_seed000 ", 1
    )
    text = text.replace(
        "  scorecard: default ", "  scorecards: {S: seed000, A: seed000, default: default} ", 1
    )
    job.write_text(text, encoding="utf-8")
    sb = sandbox_factory(accounts=150)
    result = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    active = customers(sb.admin.records("Account"), AS_OF)
    by_segment: dict[str, list[dict]] = {}
    for a in active:
        by_segment.setdefault(a["CS_Segment__c"], []).append(a)
    assert {"S", "A", "B"} <= set(by_segment)
    for segment, accounts in by_segment.items():
        for a in accounts:
            category = "\n原稿 " if segment in ("S", "A") else "\n利用状況 "
            assert category in a["Health_Explanation__c"], (segment, a["Health_Explanation__c"])
            if segment in ("S", "A"):  # the default scorecard's categories stay empty
                assert a.get("Health_Usage__c") is None and a.get("Health_Engagement__c") is None
    bands = Counter(a["Health_Band__c"] for a in by_segment["S"] + by_segment["A"])
    assert len(bands) >= 3, bands
