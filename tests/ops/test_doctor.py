"""``sfsync doctor`` against the sandbox: a clean run passes; a mapping naming a field the org
lacks fails with the field and its fix; broken credentials fail without leaking secrets."""

from __future__ import annotations

from tests.ops.conftest import run_cli


def _rows(stdout: str) -> dict[str, str]:
    rows = {}
    for line in stdout.splitlines():
        for status in ("OK", "FAIL", "WARN", "SKIP"):
            marker = f"  {status}"
            if marker + " " in line and not line.startswith(" "):
                rows.setdefault(line.split(marker)[0].strip(), status)
    return rows


def test_a_clean_doctor_run_passes(ops_project, sandbox):
    result = run_cli(ops_project, sandbox, "doctor", "--as-of", "2025-03-15")
    assert result.exit_code == 0, result.stdout + result.stderr[-2000:]
    rows = _rows(result.stdout)
    for name in ("state store", "Salesforce authentication", "Salesforce API version",
                 "mapping account_fields.yaml", "mapping score_history_fields.yaml",
                 "Task.Sync_Key__c", "Salesforce daily API requests", "Metabase authentication",
                 "Metabase card 1 (nightly.usage)", "Slack authentication",
                 "Slack channel #cs-alerts"):  # fmt: skip
        assert rows.get(name) == "OK", (name, result.stdout)
    assert "FAIL" not in _rows(result.stdout).values() and ", 0 FAIL," in result.stdout
    for secret in (sandbox.access_token, sandbox.slack_token, sandbox.metabase_api_key):
        assert secret and secret not in result.stdout + result.stderr


def test_a_field_missing_in_the_org_is_named_with_its_fix(ops_project, sandbox):
    path = ops_project.root / "mappings" / "account_fields.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("field: Health_Band__c,", "field: Health_Colour__c,"), "utf-8")
    result = run_cli(ops_project, sandbox, "doctor", "--as-of", "2025-03-15")
    assert result.exit_code == 1
    line = next(li for li in result.stdout.splitlines() if "Health_Colour__c" in li)
    assert "mapping account_fields.yaml" in line and "FAIL" in line
    assert "Account.Health_Colour__c does not exist in the org" in line
    fix = result.stdout.splitlines()[result.stdout.splitlines().index(line) + 1]
    assert "fix:" in fix and "deploy/salesforce" in fix
    assert "fields.health_band.field" in fix and "account_fields.yaml" in fix
    assert _rows(result.stdout)["Salesforce authentication"] == "OK"


def test_bad_credentials_fail_each_service_without_printing_them(ops_project, sandbox):
    env = {"SFSYNC_SF_ACCESS_TOKEN": "00D000000000001!bogusSessionValue1234",
           "SFSYNC_SF_USERNAME": "", "SFSYNC_SF_PASSWORD": "", "SFSYNC_SF_PRIVATE_KEY_FILE": "",
           "SFSYNC_SF_CONSUMER_KEY": "", "SFSYNC_SF_SECURITY_TOKEN": "",
           "SFSYNC_METABASE_API_KEY": "mb_bogusKeyValue12345",
           "SFSYNC_SLACK_TOKEN": "xoxb-bogus-token-value"}  # fmt: skip
    result = run_cli(ops_project, sandbox, "doctor", "--as-of", "2025-03-15", env=env)
    assert result.exit_code == 1
    rows = _rows(result.stdout)
    assert rows["Salesforce authentication"] == "FAIL"
    assert rows["mapped fields"] == "SKIP"
    assert rows["Metabase authentication"] == "FAIL"
    assert rows["Slack authentication"] == "FAIL"
    assert rows["state store"] == "OK"
    for secret in ("bogusSessionValue1234", "bogusKeyValue12345", "xoxb-bogus-token-value"):
        assert secret not in result.stdout + result.stderr


def test_a_bot_outside_the_channel_is_told_to_invite_it(ops_project, sandbox_factory):
    sb = sandbox_factory(accounts=20)
    import requests

    requests.put(sb.slack_base_url.replace("/api/", "/_sandbox/channels"),
                 json=[{"id": "C0CSALERTS", "name": "cs-alerts", "is_member": False},
                       {"id": "C0CSMANAGERS", "name": "cs-managers", "is_member": True}],
                 verify=sb.ca_bundle, timeout=10)  # fmt: skip
    result = run_cli(ops_project, sb, "doctor", "--as-of", "2025-03-15")
    assert result.exit_code == 1
    assert "the bot is not a member" in result.stdout and "/invite" in result.stdout
