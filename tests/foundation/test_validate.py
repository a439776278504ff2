"""`sfsync validate`: broken configuration files with their exact messages, OK output, --org."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync import validation
from sfsync.cli import main
from sfsync.errors import ConfigProblem

BROKEN = Path(__file__).with_name("broken")

CASES = {
    "unknown_key.yaml": [
        "unknown_key.yaml: salesforce.bulk_treshold: unknown key (check the spelling; see the "
        "documented keys)"
    ],
    "wrong_type.yaml": [
        "wrong_type.yaml: salesforce.bulk_threshold: Input should be a valid integer, unable to "
        "parse string as an integer"
    ],
    "bad_timezone.yaml": [
        "bad_timezone.yaml: timezone: unknown time zone 'Asia/Tokio'; use an IANA name such as "
        "Asia/Tokyo or UTC"
    ],
    "invalid_yaml.yaml": [
        "invalid_yaml.yaml: line 4, column 11: invalid YAML: mapping values are not allowed here"
    ],
    "not_a_mapping.yaml": ["not_a_mapping.yaml: expected a mapping of settings (key: value lines)"],
    "incomplete_credentials.yaml": [
        "incomplete_credentials.yaml: salesforce: client_secret is required when client_id is "
        "set (set salesforce.client_secret or SFSYNC_SF_CLIENT_SECRET)"
    ],
    "missing_key_file.yaml": [
        "missing_key_file.yaml: salesforce.private_key_file: private key file "
        "keys/does-not-exist.pem not found"
    ],
    "several_errors.yaml": [
        "several_errors.yaml: timezone: unknown time zone 'Mars/Olympus'; use an IANA name such "
        "as Asia/Tokyo or UTC",
        "several_errors.yaml: language: Input should be 'ja' or 'en'",
        "several_errors.yaml: state_url: unsupported database 'mysql'; the state store runs on "
        "SQLite or PostgreSQL",
        "several_errors.yaml: lock_ttl_seconds: Input should be greater than or equal to 10",
        "several_errors.yaml: salesforce.instance_url: must be an http(s) URL such as "
        "https://example.my.salesforce.com",
        "several_errors.yaml: salesforce.api_version: must look like 62.0",
        "several_errors.yaml: metabase: password is required when username is set (set "
        "metabase.password or SFSYNC_METABASE_PASSWORD)",
        "several_errors.yaml: slack.channels: unknown key (check the spelling; see the "
        "documented keys)",
    ],
    "templates_project/sfsync.yaml": [
        "templates_project/mappings/templates/fr/tasks.yaml: tasks.signal_red_band: expected "
        "field: text pairs",
        "templates_project/mappings/templates/en: tasks.renewal_reminder: template missing "
        "(defined for ja)",
        "templates_project/mappings/templates/ja: tasks.qbr_due: template missing (defined for en)",
    ],
}


REPO = Path(__file__).parents[2]
FOUNDATION_VALIDATORS = [
    ("settings", validation.validate_settings),
    ("templates", validation.validate_templates),
]


REGISTERED = list(validation.VALIDATORS)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in validation.ENV_OVERRIDES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("SFSYNC_CONFIG", raising=False)
    # synthetic projects have no mappings/jobs: check what the foundation owns
    monkeypatch.setattr(validation, "VALIDATORS", FOUNDATION_VALIDATORS)


@pytest.fixture
def full_registry(monkeypatch):
    """Every registered validator (for the shipped project)."""
    monkeypatch.setattr(validation, "VALIDATORS", REGISTERED)


def test_the_shipped_configuration_is_valid(full_registry, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    code, out, err = run(["validate"], capsys)
    assert code == 0, err
    assert out.startswith("OK: checked settings (sfsync.yaml), templates (en: ")
    for name in ("scorecards (default", "jobs", "field mappings and task rules"):
        assert name in out


def test_a_broken_shipped_file_is_found_by_the_registered_validators(
    full_registry, tmp_path, monkeypatch, capsys
):
    import shutil

    for folder in ("mappings", "jobs"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    shutil.copy(REPO / "sfsync.yaml", tmp_path / "sfsync.yaml")
    card = tmp_path / "mappings" / "scorecards" / "default.yaml"
    card.write_text(card.read_text(encoding="utf-8") + "\nunexpected_key: 1\n", "utf-8")
    job = tmp_path / "jobs" / "nightly.yaml"
    job.write_text(job.read_text(encoding="utf-8") + "\nschedule_typo: daily\n", "utf-8")
    wording = tmp_path / "mappings" / "templates" / "ja" / "explanation.yaml"
    wording.write_text(wording.read_text(encoding="utf-8").replace("{score}", "{scroe}"), "utf-8")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["validate"], capsys)
    assert code == 1
    assert "mappings/scorecards/default.yaml: unexpected_key: unknown key" in err
    assert "jobs/nightly.yaml: schedule_typo: unknown key" in err
    assert (
        "mappings/templates/ja/explanation.yaml: explanation.header.text: "
        "unknown placeholder(s) scroe; available: band, score" in err
    )


def test_org_validation_against_the_sandbox(sandbox, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    code, out, err = run(["validate", "--org"], capsys)
    assert code == 0, err
    assert out.splitlines()[-1] == "OK: checked org"


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def expected_error(problems: list[str]) -> str:
    if len(problems) == 1:
        return f"Error: {problems[0]}\n"
    lines = "".join(f"  - {p}\n" for p in problems)
    return f"Error: {len(problems)} configuration problems:\n{lines}"


def test_every_broken_fixture_has_a_case():
    fixtures = {p.name for p in BROKEN.glob("*.yaml") if p.name != "expectations.yaml"}
    fixtures |= {"templates_project/sfsync.yaml"}  # the corpus (test_broken_corpus.py) aside
    assert fixtures == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_configuration_gives_exact_messages(name, monkeypatch, capsys):
    monkeypatch.chdir(BROKEN)
    code, out, err = run(["--log-format", "json", "--config", name, "validate"], capsys)
    assert (code, out) == (1, "")
    assert err == expected_error(CASES[name])


def make_project(root: Path, language: str = "ja") -> Path:
    (root / "sfsync.yaml").write_text(f"language: {language}\ntimezone: UTC\n", encoding="utf-8")
    for lang in ("ja", "en"):
        folder = root / "mappings" / "templates" / lang
        folder.mkdir(parents=True)
        (folder / "slack.yaml").write_text(
            "slack:\n  new_risk:\n    text: '{account_name}'\n", encoding="utf-8"
        )
    return root / "sfsync.yaml"


def test_valid_project_prints_what_was_checked(tmp_path, monkeypatch, capsys):
    config = make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["--config", str(config), "validate"], capsys)
    assert code == 0, err
    assert out == f"OK: checked settings ({config}), templates (en: 1, ja: 1)\n"


def test_defaults_without_any_file_are_valid(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["validate"], capsys)
    assert code == 0
    assert out == "OK: checked settings (defaults (no sfsync.yaml)), templates (none found)\n"


def test_environment_problems_name_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFSYNC_SF_DOMAIN", "not a host")
    monkeypatch.setenv("SFSYNC_SLACK_BASE_URL", "slack.local")
    code, _, err = run(["validate"], capsys)
    assert code == 1
    assert err == expected_error(
        [
            "environment: SFSYNC_SF_DOMAIN: must be login, test or a My Domain host such as "
            "acme.my ('not a host' is not a host name)",
            "environment: SFSYNC_SLACK_BASE_URL: must be an http(s) URL such as "
            "https://example.my.salesforce.com",
        ]
    )


def test_secrets_in_environment_never_reach_the_output(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFSYNC_SF_ACCESS_TOKEN", "00D5g000004XyZa!AQ8AQsecretvalue")
    monkeypatch.setenv("SFSYNC_STATE_URL", "postgresql://u:pw-s3cret@db/x?sslmode=bogus value")
    monkeypatch.setenv("SFSYNC_SF_INSTANCE_URL", "no-scheme")
    code, out, err = run(["validate"], capsys)
    assert code == 1
    assert "AQ8AQsecretvalue" not in out + err and "pw-s3cret" not in out + err


def test_missing_template_language_is_reported(tmp_path, monkeypatch, capsys):
    config = make_project(tmp_path, language="en")
    for f in (tmp_path / "mappings" / "templates" / "en").iterdir():
        f.unlink()
    (tmp_path / "mappings" / "templates" / "en").rmdir()
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["--config", "sfsync.yaml", "validate"], capsys)
    assert code == 1
    assert err == expected_error(
        ["sfsync.yaml: language: no templates for language 'en' in mappings/templates"]
    )
    assert config.exists()


def test_registered_validators_run_and_report(tmp_path, monkeypatch, capsys):
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    calls = []

    def check_jobs(project):
        calls.append(project.jobs_dir)
        return [ConfigProblem("jobs/nightly.yaml", "steps.0.source", "unknown source 'x'")]

    monkeypatch.setattr(validation, "VALIDATORS", [*validation.VALIDATORS, ("jobs", check_jobs)])
    code, _, err = run(["--config", "sfsync.yaml", "validate"], capsys)
    assert calls == [tmp_path.resolve() / "jobs"]
    assert (code, err) == (1, "Error: jobs/nightly.yaml: steps.0.source: unknown source 'x'\n")


def test_lazy_validator_strings_resolve():
    assert validation.resolve("sfsync.validation:validate_settings") is validation.validate_settings


def test_org_flag_without_an_org_validator_says_so(tmp_path, monkeypatch, capsys):
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(validation, "ORG_VALIDATOR", None)
    code, out, err = run(["--config", "sfsync.yaml", "validate", "--org"], capsys)
    assert code == 1
    assert out.startswith("OK: checked settings")
    assert err == (
        "Error: cannot check the org: org validation is not available in this version of "
        "sfsync (the offline checks above passed; run without --org)\n"
    )


def test_org_flag_calls_the_registered_hook(tmp_path, monkeypatch, capsys):
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    seen = []
    monkeypatch.setattr(
        validation, "ORG_VALIDATOR", lambda p: (seen.append(p.root) or [], "3 fields")
    )
    code, out, _ = run(["--config", "sfsync.yaml", "validate", "--org"], capsys)
    assert code == 0 and seen == [tmp_path.resolve()]
    assert out.splitlines()[-1] == "OK: checked org (3 fields)"


def test_org_validation_names_a_field_missing_in_the_org(sandbox, tmp_path, monkeypatch, capsys):
    import shutil

    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    shutil.copy(REPO / "sfsync.yaml", tmp_path / "sfsync.yaml")
    mapping = tmp_path / "mappings" / "account_fields.yaml"
    text = mapping.read_text(encoding="utf-8").replace("Health_Trend__c", "Health_Trend_Typo__c")
    mapping.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    code, out, err = run(["validate", "--org"], capsys)
    assert code == 1 and out.startswith("OK: checked settings")
    assert "Health_Trend_Typo__c" in err
