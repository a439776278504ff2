"""Upsell Opportunities on the practice org (issue 12 item 3): off by default; when enabled
the nightly job creates one Opportunity per new upsell signal, keyed like its Task, and a
re-run creates or changes none (sales owns an Opportunity once it exists)."""

from __future__ import annotations

import yaml

from tests.e2e.conftest import customers, run_cli, without_daily_task_limit

AS_OF = "2025-03-15"


def _enable(project, **settings) -> None:
    nightly = project.root / "jobs" / "nightly.yaml"
    job = yaml.safe_load(nightly.read_text(encoding="utf-8"))
    job["write"]["opportunity"] = settings
    nightly.write_text(yaml.safe_dump(job, allow_unicode=True), "utf-8")


def _upsell_tasks(sb) -> list[dict]:
    tasks = sb.admin.records("Task")
    return [t for t in tasks if (t.get("Sync_Key__c") or "").startswith("upsell:")]


def test_enabled_creates_one_opportunity_per_new_upsell_signal_and_none_on_a_rerun(
    project, sandbox_factory
):
    sb = sandbox_factory(accounts=150)
    without_daily_task_limit(project)
    _enable(project, enabled=True, stage="Qualification", close_days=30)
    first = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert first.exit_code == 0, first.output

    opportunities = sb.admin.records("Opportunity")
    tasks = _upsell_tasks(sb)
    assert tasks, "the sample book has upsell signals"
    assert sorted(o["Sync_Key__c"] for o in opportunities) == sorted(
        t["Sync_Key__c"] for t in tasks
    )
    owners = {a["Id"]: a["OwnerId"] for a in customers(sb.admin.records("Account"), AS_OF)}
    names = {a["Id"]: a["Name"] for a in sb.admin.records("Account")}
    for opp in opportunities:
        account = opp["Sync_Key__c"].split(":")[2]
        assert opp["AccountId"] == account
        assert opp["OwnerId"] == owners[account]
        assert opp["StageName"] == "Qualification"
        assert opp["CloseDate"] == "2025-04-14"
        assert opp["Name"].startswith(f"アップセル提案: {names[account]}"[:120])

    # sales moves one on; the next run changes nothing and creates nothing
    moved = opportunities[0]
    sb.admin.edit_as(
        moved["OwnerId"], "Opportunity", moved["Id"], {"StageName": "Negotiation/Review"}
    )
    second = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert second.exit_code == 0, second.output
    after = {o["Id"]: o for o in sb.admin.records("Opportunity")}
    assert len(after) == len(opportunities)
    assert after[moved["Id"]]["StageName"] == "Negotiation/Review"
    assert {o["Id"]: o["LastModifiedDate"] for o in opportunities if o["Id"] != moved["Id"]} == {
        i: o["LastModifiedDate"] for i, o in after.items() if i != moved["Id"]
    }


def test_off_by_default_and_an_unknown_stage_stops_before_any_write(project, sandbox_factory):
    sb = sandbox_factory(accounts=60)
    without_daily_task_limit(project)
    default = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert default.exit_code == 0, default.output
    assert _upsell_tasks(sb), "the sample book has upsell signals"
    assert sb.admin.records("Opportunity") == []

    _enable(project, enabled=True, stage="Won")
    bad = run_cli(project, sb, "run", "nightly", "--as-of", AS_OF)
    assert bad.exit_code != 0
    assert "write.opportunity" in bad.output and "'Won'" in bad.output
    assert sb.admin.records("Opportunity") == []
