"""Logging: JSON lines for machines, console for people, secrets masked everywhere."""

from __future__ import annotations

import json
import logging
import sys

import pytest
import structlog
from structlog.testing import capture_logs

from sfsync.log import bind_run, configure_logging, redact_event, redact_text, register_secrets

SESSION_ID = "00D5g000004XyZaEAK!AQ8AQJ2qxLongSessionValue.abc_DEF"
SLACK = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"
METABASE = "mb_QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
BEARER = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig-nature_value"


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "sfsync"]:
        root.removeHandler(handler)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    sys.excepthook = sys.__excepthook__


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (f"INVALID_SESSION_ID for session {SESSION_ID} at x", SESSION_ID, "INVALID_SESSION_ID"),
        (f"Authorization: {BEARER}", "eyJhbGciOiJSUzI1NiJ9", "Authorization: Bearer ***"),
        (f"Authorization: OAuth {SESSION_ID}", "AQ8AQJ2qx", "Authorization: OAuth ***"),
        (f"slack said invalid_auth for {SLACK}", SLACK, "invalid_auth"),
        (f"x-api-key {METABASE} rejected", METABASE, "rejected"),
        ("GET https://h/api?access_token=abcDEF123&limit=5", "abcDEF123", "limit=5"),
        (
            "POST /services/oauth2/token grant_type=password&password=hunter2!&username=u",
            "hunter2",
            "username=u",
        ),
        ("connect postgresql://sfsync:S3cretPw@db.internal/sfsync", "S3cretPw", "db.internal"),
        ('{"client_secret": "cs-123456", "client_id": "abc"}', "cs-123456", '"client_id": "abc"'),
        ("password: correct-horse", "correct-horse", "password: ***"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----",
            "MIIEow",
            "BEGIN",
        ),
        # URL user-info of any scheme, SQLAlchemy driver URLs included
        ("state at postgresql+psycopg://sfsync:Pg-S3cret@db/x", "Pg-S3cret", "sfsync:***@db/x"),
        ("jdbc:mysql://app:My-S3cret@db:3306/x failed", "My-S3cret", "app:***@db:3306"),
        ("https://user:p@ss@metabase.example/api", "p@ss", "user:***@metabase.example/api"),
        ("https://user:p%40ss%2F1@h/x", "p%40ss", "user:***@h/x"),
        ("git https://ghp_abcdefghij0123456789@github.com/o/r", "ghp_abcdefghij", "***@github"),
        # a session id URL-encoded in a query string
        ("GET /x?sid=1&t=00D5g000004XyZaEAK%21AQ8AQJ2qxLong", "AQ8AQJ2qx", "GET /x"),
    ],
)
def test_redact_text_masks_secret_shapes(text, secret, kept):
    out = redact_text(text)
    assert secret not in out
    assert kept in out


def test_a_key_cut_short_inside_json_keeps_the_json_valid():
    text = json.dumps({"error": "bad key -----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN", "n": 1})
    out = redact_text(text)
    assert "MIIEvQ" not in out
    assert json.loads(out)["n"] == 1


def test_urls_without_a_password_keep_their_user_and_addresses_are_not_urls():
    for text in [
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "see https://host/path?email=a:b@c.com and mailto:cs@example.com",
    ]:
        assert redact_text(text) == text


def test_redact_text_leaves_ordinary_text_alone():
    text = "Session expired or invalid; retrying 3 records (job nightly, token count 5)"
    assert redact_text(text) == text


def test_registered_secret_values_are_masked_anywhere():
    register_secrets(["plain-looking-value-42"])
    assert redact_text("login failed for plain-looking-value-42!") == "login failed for ***!"


def test_registered_secrets_are_masked_in_every_encoded_form():
    from urllib.parse import quote, quote_plus

    secret = 'p@ss/w rd&"é-' + "x" * 6
    register_secrets([secret])
    for form in [
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        'p@ss/w rd&amp;"é-xxxxxx',
    ]:
        assert redact_text(f"said [{form}] twice") == "said [***] twice", form


def test_url_passwords_are_registered_decoded_and_as_written():
    from sfsync.log import register_url_secrets, url_secrets

    assert set(url_secrets("https://u:Zz%40pw-1@h/x")) == {"Zz@pw-1", "Zz%40pw-1"}
    assert url_secrets("postgresql+psycopg://postgres@127.0.0.1/test") == []
    register_url_secrets("postgresql+psycopg://app:Qq%2Fsecret9@db/x")
    assert redact_text("psycopg said: password Qq/secret9 rejected") == (
        "psycopg said: password *** rejected"
    )


def test_an_uncaught_traceback_is_printed_with_secrets_masked(capsys):
    configure_logging("json", 0)
    try:
        raise RuntimeError(f"cannot reach https://u:Tb-S3cret@h with {SLACK}")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError" in err
    assert "Tb-S3cret" not in err and SLACK not in err


def test_redact_event_masks_keys_values_and_nested_structures():
    event = {
        "event": f"request failed with {BEARER}",
        "access_token": "anything-at-all",
        "api_key": "whatever",
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Accept": "application/json"},
        "params": [{"password": "pw-in-a-list"}, {"note": f"sid {SESSION_ID}"}],
        "token_count": 5,  # numbers under secret-looking keys are not secrets
        "error": ValueError(f"boom {SLACK}"),
        "records": 12,
    }
    out = redact_event(None, "info", dict(event))
    blob = json.dumps(out)
    for secret in [
        "eyJhbGciOiJSUzI1NiJ9",
        "anything-at-all",
        "whatever",
        "dXNlcjpwYXNz",
        "pw-in-a-list",
        "AQ8AQJ2qx",
        SLACK,
    ]:
        assert secret not in blob
    assert out["headers"]["Accept"] == "application/json"
    assert out["token_count"] == 5
    assert out["records"] == 12


def test_json_lines_on_stderr_with_timestamp_level_logger_and_redaction(capsys):
    assert configure_logging("json", 0) == "json"
    log = structlog.get_logger("sfsync.test")
    log.info("records_written", count=3, session_id=SESSION_ID)
    log.debug("not_shown_by_default")
    try:
        raise RuntimeError(f"upstream rejected {SLACK}")
    except RuntimeError:
        log.exception("call_failed", url="https://h/x?access_token=tok123456")
    logging.getLogger("urllib3.connectionpool").warning("GET /?password=stdlib-secret")
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [json.loads(line) for line in captured.err.splitlines()]
    assert [line["event"] for line in lines] == [
        "records_written",
        "call_failed",
        "GET /?password=***",
    ]
    first = lines[0]
    assert first["level"] == "info" and first["logger"] == "sfsync.test" and first["count"] == 3
    assert first["timestamp"].endswith("Z") and "T" in first["timestamp"]
    assert first["session_id"] == "***"
    assert "RuntimeError" in lines[1]["exception"]
    assert lines[2]["logger"] == "urllib3.connectionpool"
    for secret in [SESSION_ID, SLACK, "tok123456", "stdlib-secret"]:
        assert secret not in captured.err


def test_verbosity_and_console_format(capsys):
    assert configure_logging("console", 0) == "console"
    log = structlog.get_logger("sfsync.test")
    log.info("hidden_at_default")
    log.warning("shown_warning", password="pw-123456")
    err = capsys.readouterr().err
    assert "hidden_at_default" not in err
    assert "shown_warning" in err and "pw-123456" not in err and not err.lstrip().startswith("{")
    configure_logging("console", 2)
    log.debug("debug_now_visible")
    assert "debug_now_visible" in capsys.readouterr().err


def test_default_format_is_json_when_stderr_is_not_a_terminal():
    assert configure_logging(None, 0) == "json"  # pytest captures stderr: not a TTY


def test_bind_run_puts_run_id_and_job_on_every_line(capsys):
    configure_logging("json", 0)
    log = structlog.get_logger("sfsync.pipeline")
    with bind_run(42, "nightly"):
        log.info("usage_extracted", rows=10)
        logging.getLogger("simple_salesforce").warning("stdlib line")
    log.info("after_the_run")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line.get("run_id"), line.get("job")) for line in lines] == [
        (42, "nightly"),
        (42, "nightly"),
        (None, None),
    ]


def test_capture_logs_sees_events_for_assertions():
    with capture_logs() as logs:
        structlog.get_logger("sfsync.x").warning("signal_raised", code="red_band")
    assert logs == [{"event": "signal_raised", "code": "red_band", "log_level": "warning"}]


def test_start_run_binds_the_run_id_until_finish_run(capsys, sqlite_store):
    from datetime import date

    from sfsync.state import finish_run, start_run

    configure_logging("json", 0)
    log = structlog.get_logger("sfsync.pipeline")
    run_id = start_run(sqlite_store, "nightly", date(2025, 3, 15))
    log.info("accounts_scored", accounts=3)
    finish_run(sqlite_store, run_id, "succeeded")
    log.info("after_finish")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    by_event = {line["event"]: line for line in lines}
    assert by_event["accounts_scored"]["run_id"] == run_id
    assert by_event["accounts_scored"]["job"] == "nightly"
    assert "run_id" not in by_event["after_finish"]


def test_settings_register_and_hide_the_password_of_every_configured_url():
    from sfsync.config import load_settings

    settings = load_settings(
        None,
        {
            "SFSYNC_METABASE_URL": "https://mb:Mb%40Pw-77@metabase.example",
            "SFSYNC_SF_INSTANCE_URL": "https://sf:Sf-Pw-88@acme.my.salesforce.com",
            "SFSYNC_STATE_URL": "postgresql+psycopg://app:Pg-Pw-99@db/state",
            "SFSYNC_SLACK_TOKEN": "xoxb-1-2-tokenvalue",
        },
    )
    values = set(settings.secret_values())
    assert {"Mb@Pw-77", "Mb%40Pw-77", "Sf-Pw-88", "Pg-Pw-99", "xoxb-1-2-tokenvalue"} <= values
    shown = json.dumps(settings.redacted_dict()) + repr(settings)
    for secret in ["Mb%40Pw-77", "Sf-Pw-88", "Pg-Pw-99", "tokenvalue"]:
        assert secret not in shown
    assert "metabase.example" in shown
