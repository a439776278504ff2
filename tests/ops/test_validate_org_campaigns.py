"""`sfsync validate --org` checks the Campaign rules against the org: a fixed Campaign the org
lacks, a member status or a contact role it does not have, each named with file and key."""

from __future__ import annotations

from tests.ops.conftest import run_cli


def _edit_rules(project, old: str, new: str) -> None:
    path = project.root / "mappings" / "campaigns.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_rules_pass_against_the_practice_org(ops_project, sandbox):
    result = run_cli(ops_project, sandbox, "validate", "--org")
    assert result.exit_code == 0, result.stderr


def test_a_missing_campaign_a_status_and_a_role_the_org_lacks_fail_validate(ops_project, sandbox):
    _edit_rules(ops_project, '"テックタッチ: リリース案内"', '"テックタッチ: 新機能のお知らせ"')
    _edit_rules(ops_project, "roles: [primary, decision_maker]", "roles: [primary, owner]")
    _edit_rules(
        ops_project,
        "    when: {kind: tutorial_completed, within_days: 14}\n",
        "    when: {kind: tutorial_completed, within_days: 14}\n    status: Opened\n",
    )
    offline = run_cli(ops_project, None, "validate")
    assert offline.exit_code == 0, offline.stderr  # offline the rules look fine
    result = run_cli(ops_project, sandbox, "validate", "--org")
    assert result.exit_code == 1, result.stdout + result.stderr
    err = result.stderr
    assert (
        "mappings/campaigns.yaml: rules.release_notice.campaign: the org has no Campaign named "
        "'テックタッチ: 新機能のお知らせ'"
    ) in err
    assert "rules.renewal_reminder.roles: 'owner' not a value of Contact.CS_Contact_Role__c" in err
    assert "rules.tutorial_completed.status: member status 'Opened' is not" in err
    assert "Traceback" not in err
