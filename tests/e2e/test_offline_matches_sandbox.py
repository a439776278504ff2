"""`sfsync score` on the exported sample book gives the scores the nightly job wrote through the
APIs: the offline path and the product path compute the same thing."""

from __future__ import annotations

import pandas as pd

from tests.e2e.conftest import customers, run_cli

AS_OF = "2025-03-15"


def test_offline_scores_equal_the_scores_written_by_the_nightly_job(project, sandbox_factory):
    sb = sandbox_factory(accounts=80, as_of=pd.Timestamp(AS_OF).date())
    nightly = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert nightly.exit_code == 0, nightly.stderr
    samples = project.root / "samples"
    export = run_cli(project, sb, "sandbox", "export", str(samples), "--accounts", "80",
                     "--as-of", AS_OF)  # fmt: skip
    assert export.exit_code == 0, export.stderr
    out = project.root / "scores.csv"
    scored = run_cli(project, sb, "score", "--accounts", str(samples / "accounts.csv"),
                     "--usage", str(samples / "usage.csv"), "--activities",
                     str(samples / "activities.csv"), "--as-of", AS_OF, "--out", str(out))  # fmt: skip
    assert scored.exit_code == 0, scored.stderr

    offline = pd.read_csv(out, dtype=str).set_index("account_id")
    # both leave the accounts churned by the as-of date out (jobs/nightly.yaml exclude_churned)
    accounts = sb.admin.records("Account")
    written = {a["Id"]: a for a in customers(accounts, AS_OF)}
    assert len(written) < len(accounts)
    assert set(offline.index) == set(written)
    mismatches = [
        (account_id, row["health_score"], written[account_id]["Health_Score__c"])
        for account_id, row in offline.iterrows()
        if float(row["health_score"]) != float(written[account_id]["Health_Score__c"])
        or row["health_band"] != written[account_id]["Health_Band__c"]
    ]
    assert mismatches == []
