"""Settings: defaults, file + environment overrides, secrets never shown, all errors at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from sfsync.config import ENV_OVERRIDES, Settings, load_project, load_settings
from sfsync.errors import ConfigError

SECRETS = {
    "SFSYNC_SF_ACCESS_TOKEN": "00D5g000004XyZa!AQ8AQJ2qxsecretsessionvalue",
    "SFSYNC_SF_PASSWORD": "hunter2-password",
    "SFSYNC_SF_SECURITY_TOKEN": "secTok3nValue",
    "SFSYNC_METABASE_API_KEY": "mb_QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    "SFSYNC_SLACK_TOKEN": "xoxb-123-456-abcdefSECRET",
    "SFSYNC_SF_CLIENT_SECRET": "client-secret-value",
    "SFSYNC_METABASE_PASSWORD": "metabase-pass-1",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sfsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file():
    settings = load_settings(None, {})
    assert settings.timezone == "Asia/Tokyo"
    assert settings.language == "ja"
    assert settings.state_url == "sqlite:///.sfsync/state.db"
    assert settings.salesforce.api_version == "62.0"
    assert settings.salesforce.bulk_threshold == 2000
    assert settings.slack.channel == "#cs-alerts"
    assert settings.salesforce.access_token is None


def test_the_shipped_sfsync_yaml_is_valid_and_has_no_secrets():
    path = Path(__file__).parents[2] / "sfsync.yaml"
    settings = load_settings(path, {})
    assert settings.timezone == "Asia/Tokyo"
    assert settings.secret_values() == []


def test_environment_overrides_the_file(tmp_path):
    path = write(
        tmp_path,
        "timezone: UTC\nsalesforce:\n  instance_url: https://file.my.salesforce.com\n"
        "  domain: login\nmetabase:\n  url: https://file-metabase.example.com\n",
    )
    env = {
        "SFSYNC_SF_INSTANCE_URL": "https://env.my.salesforce.com/",
        "SFSYNC_SF_DOMAIN": "test",
        "SFSYNC_SF_USERNAME": "integration@example.com",
        "SFSYNC_METABASE_URL": "https://env-metabase.example.com",
        "SFSYNC_SLACK_BASE_URL": "https://127.0.0.1:8443/api",
        "SFSYNC_STATE_URL": "postgresql+psycopg://sfsync:pw123456@db/sfsync",
        "SFSYNC_SF_CONSUMER_KEY": "",  # empty counts as unset
        "SFSYNC_SF_CLIENT_ID": "3MVG9clientid",
        **SECRETS,
    }
    settings = load_settings(path, env)
    assert settings.timezone == "UTC"  # from the file, no override
    assert settings.salesforce.instance_url == "https://env.my.salesforce.com"
    assert settings.salesforce.domain == "test"
    assert settings.salesforce.username == "integration@example.com"
    assert settings.salesforce.consumer_key is None
    assert settings.metabase.url == "https://env-metabase.example.com"
    assert settings.slack.base_url == "https://127.0.0.1:8443/api/"
    assert settings.state_url.startswith("postgresql+psycopg://sfsync:pw123456@")
    assert settings.salesforce.access_token.get_secret_value() == SECRETS["SFSYNC_SF_ACCESS_TOKEN"]
    assert settings.slack.token.get_secret_value() == SECRETS["SFSYNC_SLACK_TOKEN"]
    assert settings.metabase.api_key.get_secret_value() == SECRETS["SFSYNC_METABASE_API_KEY"]


@pytest.mark.parametrize("var", sorted(ENV_OVERRIDES))
def test_every_documented_variable_is_read(var):
    samples = {
        "SFSYNC_SF_INSTANCE_URL": "https://x.my.salesforce.com",
        "SFSYNC_METABASE_URL": "https://mb.example.com",
        "SFSYNC_SLACK_BASE_URL": "https://slack.example.com/api/",
        "SFSYNC_STATE_URL": "sqlite:////tmp/x.db",
        "SFSYNC_SF_DOMAIN": "test",
        "SFSYNC_TIMEZONE": "UTC",
        "SFSYNC_LANGUAGE": "en",
        "SFSYNC_SF_API_VERSION": "61.0",
        "SFSYNC_SLACK_PACE_SECONDS": "0.5",
    }
    partners = {  # variables that need their pair to be valid
        "SFSYNC_SF_USERNAME": {"SFSYNC_SF_PASSWORD": "p4ssword"},
        "SFSYNC_SF_CONSUMER_KEY": {"SFSYNC_SF_PRIVATE_KEY_FILE": "key.pem"},
        "SFSYNC_SF_PRIVATE_KEY_FILE": {"SFSYNC_SF_CONSUMER_KEY": "3MVG9"},
        "SFSYNC_SF_CLIENT_ID": {"SFSYNC_SF_CLIENT_SECRET": "s3cr3t!"},
        "SFSYNC_SF_CLIENT_SECRET": {"SFSYNC_SF_CLIENT_ID": "3MVG9"},
        "SFSYNC_METABASE_USERNAME": {"SFSYNC_METABASE_PASSWORD": "p4ssword"},
    }
    value = samples.get(var, "value-1234")
    settings = load_settings(None, {var: value, **partners.get(var, {})})
    node = settings
    for part in ENV_OVERRIDES[var].split("."):
        node = getattr(node, part)
    if isinstance(node, SecretStr):
        node = node.get_secret_value()
    assert str(node).rstrip("/") == value.rstrip("/")


def test_printing_settings_never_shows_a_secret():
    env = {
        **SECRETS,
        "SFSYNC_SF_USERNAME": "integration@example.com",
        "SFSYNC_SF_CLIENT_ID": "3MVG9clientid",
        "SFSYNC_METABASE_USERNAME": "admin@example.com",
        "SFSYNC_STATE_URL": "postgresql+psycopg://sfsync:dbpassw0rd@db.internal/sfsync",
    }
    settings = load_settings(None, env)
    shown = " ".join(
        [repr(settings), str(settings), f"{settings}", str(settings.redacted_dict())]
        + [repr(settings.salesforce), str(settings.metabase), repr(settings.slack)]
    )
    for secret in [*SECRETS.values(), "dbpassw0rd"]:
        assert secret not in shown
    assert "integration@example.com" in shown  # not a secret
    assert settings.redacted_dict()["salesforce"]["access_token"] == "***"
    assert settings.redacted_dict()["salesforce"]["instance_url"] is None
    assert "***" in settings.redacted_dict()["state_url"]
    assert "dbpassw0rd" in settings.secret_values()


def test_every_error_at_once_with_file_and_key_path(tmp_path):
    path = write(
        tmp_path,
        "timezone: Asia/Tokio\nlanguage: fr\nsalesforce:\n  bulk_treshold: 10\n"
        "  api_reserve: lots\nslack:\n  channel: 5\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"SFSYNC_SF_INSTANCE_URL": "ftp://nope"})
    got = [str(p) for p in info.value.problems]
    assert got == [
        f"{path}: timezone: unknown time zone 'Asia/Tokio'; use an IANA name such as Asia/Tokyo or UTC",
        f"{path}: language: Input should be 'ja' or 'en'",
        "environment: SFSYNC_SF_INSTANCE_URL: must be an http(s) URL such as https://example.my.salesforce.com",
        f"{path}: salesforce.api_reserve: Input should be a valid integer, unable to parse string as an integer",
        f"{path}: salesforce.bulk_treshold: unknown key (check the spelling; see the documented keys)",
        f"{path}: slack.channel: Input should be a valid string",
    ]
    assert str(info.value).startswith("6 configuration problems:")


def test_incomplete_credentials_are_reported(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"SFSYNC_SF_USERNAME": "me@example.com"})
    assert str(info.value) == (
        "environment: salesforce: password is required when username is set without "
        "consumer_key "
        "(set salesforce.password or SFSYNC_SF_PASSWORD, or use the JWT bearer flow)"
    )


def test_load_project_resolves_paths_against_the_project_root(tmp_path, monkeypatch):
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    write(project_dir, "salesforce:\n  consumer_key: 3MVG9\n  private_key_file: keys/sf.pem\n")
    monkeypatch.chdir(tmp_path)
    project = load_project(project_dir / "sfsync.yaml", env={})
    assert project.root == project_dir.resolve()
    assert project.config_file == project_dir / "sfsync.yaml"
    assert project.jobs_dir == project.root / "jobs"
    assert project.mappings_dir == project.root / "mappings"
    assert project.settings.state_url == f"sqlite:///{project.root}/.sfsync/state.db"
    assert project.settings.salesforce.private_key_file == project.root / "keys/sf.pem"


def test_missing_default_file_means_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = load_project(None, env={})
    assert project.config_file is None
    assert project.root == tmp_path.resolve()
    assert project.settings.language == "ja"


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_project(tmp_path / "nope.yaml", env={})


def test_settings_are_immutable():
    settings = Settings()
    with pytest.raises(Exception):  # noqa: B017  (pydantic's frozen error type)
        settings.timezone = "UTC"


def test_a_block_with_every_key_commented_out_is_empty(tmp_path):
    path = write(tmp_path, "salesforce:\n  # instance_url: https://x\nslack:\n")
    settings = load_settings(path, {"SFSYNC_SLACK_TOKEN": "xoxb-1-2-abc"})
    assert settings.salesforce.domain == "login"
    assert settings.slack.token.get_secret_value() == "xoxb-1-2-abc"


def test_slack_pacing_and_outbox_retention_are_validated(tmp_path):
    settings = load_settings(None, {})
    assert settings.slack.pace_seconds == 1.0 and settings.slack.outbox_retention_days == 30
    config = tmp_path / "sfsync.yaml"
    config.write_text("slack:\n  pace_seconds: -1\n  outbox_retention_days: 0\n", "utf-8")
    with pytest.raises(ConfigError) as exc:
        load_settings(config, {})
    message = str(exc.value)
    assert "slack.pace_seconds" in message and "slack.outbox_retention_days" in message
    config.write_text("slack:\n  outbox_retention_days: null\n", "utf-8")
    assert load_settings(config, {}).slack.outbox_retention_days is None
