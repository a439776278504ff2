"""Logging (structlog) for people and for machines, with secrets redacted from every event.

- ``configure_logging("json" | "console" | None, verbose)``: JSON lines (ISO timestamp, level,
  event, logger, bound context) for cron/CI, or a readable console renderer; the default is
  console when stderr is a terminal, JSON otherwise. Everything goes to stderr, including
  records of third-party libraries that use the standard ``logging`` module.
- :func:`redact_event` runs on every event (structlog's and stdlib's) after exceptions are
  formatted: values under secret-looking keys are masked, and secret-looking text (Salesforce
  session ids, Bearer tokens, Slack tokens, Metabase API keys, ``password=…`` in URLs, URL
  passwords, PEM private keys, and every configured secret value) is masked wherever it appears.
- :func:`redact_text` does the same for one string. It is the one function every other sink
  calls too: CLI errors, Slack messages, the state store's text columns, the plan file.
- :func:`register_secrets` / :func:`register_url_secrets` add configured secrets (and the
  password of every configured URL); each is masked in its plain, URL-encoded, JSON-escaped
  and HTML-escaped forms.
- :func:`bind_run` adds ``run_id`` and ``job`` to every log line of a run.
"""

from __future__ import annotations

import html
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars

MASK = "***"

# Keys whose (string) values are secrets wherever they appear in an event.
SECRET_KEY = re.compile(
    r"(?i)(token|passw(or)?d|secret|session|api[_-]?key|authorization|private[_-]?key|"
    r"credential|cookie|signature)"
)

_TEXT_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys
    # (a key cut short, or inside JSON text, ends at the first character base64 cannot hold,
    # so a quote that closes a JSON string is kept)
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----"
            r"(?:.*?-----END [A-Z ]*PRIVATE KEY-----|[A-Za-z0-9+/=\s\\:,.\-]*)",
            re.S,
        ),
        "-----BEGIN PRIVATE KEY-----" + MASK,
    ),
    # Authorization header values
    (re.compile(r"(?i)\b(Bearer|OAuth|Basic)\s+[A-Za-z0-9._~+/=!\-]{8,}"), r"\1 " + MASK),
    # Salesforce session ids / access tokens: <15 or 18 char org id>!<token>
    (re.compile(r"\b00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?(?:!|%21)[A-Za-z0-9._\-%]+"), MASK),
    # Slack tokens
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9\-]+"), "xox*-" + MASK),
    (re.compile(r"\bxapp-[A-Za-z0-9\-]+"), "xapp-" + MASK),
    # Metabase API keys
    (re.compile(r"\bmb_[A-Za-z0-9+/=_\-]{8,}"), "mb_" + MASK),
    # URL user-info, any scheme (https, postgresql+psycopg, jdbc:…): scheme://user:password@host
    # keeps the user; the authority ends at the first / ? # or space, its user-info at its last @
    (
        re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@?#\"'<>]*:)[^/\s?#\"'<>]*(@)"),
        r"\1" + MASK + r"\2",
    ),
    # scheme://token@host: a user-info without password that is long enough to be a token
    (
        re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s:@?#\"'<>]{16,}(@)"),
        r"\1" + MASK + r"\2",
    ),
    # key=value / key: value / "key": "value" in query strings, form bodies, messages, JSON
    (
        re.compile(
            r"(?i)\b((?:access|refresh|id|security|session|bearer|slack|api)?[_-]?token|"
            r"passw(?:or)?d|pwd|client[_-]?secret|secret|api[_-]?key|apikey|"
            r"session[_-]?id|sid|private[_-]?key|assertion)"
            r"(\"?'?\s*[:=]\s*\"?'?)(?!\*\*\*)([^\s\"'&,;}\]]+)"
        ),
        r"\1\2" + MASK,
    ),
]

_known_secrets: set[str] = set()
_known_lock = threading.Lock()
_known_pattern: re.Pattern[str] | None = None


def secret_forms(value: str) -> set[str]:
    """The ways one secret shows up in text: as is, URL-encoded (``%40``, ``+``), JSON-escaped
    (``\\"``, ``\\u00e9``) and HTML-escaped (``&amp;``, as Slack text escapes it)."""
    forms = {
        value,
        quote(value, safe=""),
        quote(value, safe="/:"),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value, quote=False),
    }
    return {f for f in forms if f}


def url_secrets(url: str | None) -> list[str]:
    """The secret part of a URL's user-info: the password (decoded and as written), or a
    user-info without password long enough to be a token (``https://<token>@host``)."""
    if not url or "@" not in url:
        return []
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return []
    userinfo = parts.netloc.rpartition("@")[0]
    if not userinfo:
        return []
    user, has_password, password = userinfo.partition(":")
    secret = password if has_password else (user if len(user) >= 16 else "")
    return [v for v in {secret, unquote(secret)} if v]


def register_url_secrets(*urls: str | None) -> None:
    """Mask the password (or token user-info) of each URL wherever it appears."""
    register_secrets(v for url in urls for v in url_secrets(url))


def register_secrets(values: Iterable[str | None]) -> None:
    """Mask these exact values wherever they appear (configured passwords, tokens, keys).

    Each value is masked in every form of :func:`secret_forms`; values shorter than 4
    characters are left to the shape patterns (they would mask ordinary words).
    """
    global _known_pattern
    with _known_lock:
        for value in values:
            if value and len(value) >= 4:
                _known_secrets.update(f for f in secret_forms(value) if len(f) >= 4)
        if _known_secrets:
            alternatives = sorted(_known_secrets, key=len, reverse=True)
            _known_pattern = re.compile("|".join(re.escape(v) for v in alternatives))


def redact_text(text: str) -> str:
    """Mask every secret-looking part of ``text`` (error messages, log text, tracebacks)."""
    if not text:
        return text
    pattern = _known_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in _TEXT_PATTERNS:
        text = regex.sub(replacement, text)
    return text


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact one event value: nested dicts/lists are walked, secrets under secret keys masked."""
    secret_key = key is not None and SECRET_KEY.search(key) is not None
    if isinstance(value, bool | int | float | date | datetime) or value is None:
        return value
    if isinstance(value, str | bytes):
        if secret_key:
            return MASK
        return redact_text(value if isinstance(value, str) else value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, key) for v in value]
    if type(value).__name__ == "SecretStr":
        return MASK
    return redact_value(str(value), key)


_KEEP = frozenset({"event", "level", "logger", "timestamp", "_record", "_from_structlog"})


def redact_event(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: redact every value of the event (see module docstring)."""
    for key, value in list(event_dict.items()):
        if key in ("_record", "_from_structlog", "level", "timestamp"):
            continue
        event_dict[key] = redact_value(value, None if key in _KEEP else key)
    return event_dict


class _StderrHandler(logging.StreamHandler):
    """A handler that always writes to the *current* ``sys.stderr`` (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _level(log_format: str, verbose: int) -> int:
    # People see the command's own output, so the console shows warnings unless asked;
    # machines (cron/CI) keep the info events (run started, records written, run summary).
    base = logging.WARNING if log_format == "console" else logging.INFO
    return max(logging.DEBUG, base - 10 * max(0, verbose))


def configure_logging(log_format: str | None, verbose: int = 0) -> str:
    """Set up structlog and stdlib logging on stderr; return the format used.

    ``log_format`` is ``"json"``, ``"console"`` or None (console on a terminal, else json).
    Verbosity: console shows warnings, json shows info; each ``-v`` one level more.
    """
    if log_format is None:
        log_format = "console" if _isatty(sys.stderr) else "json"
    if log_format not in ("json", "console"):
        raise ValueError(f"log format must be json or console, not {log_format!r}")
    if log_format == "json":
        renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(sys.stderr))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.set_name("sfsync")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "sfsync"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(log_format, verbose))
    sys.excepthook = _redacting_excepthook
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return log_format


def _redacting_excepthook(exc_type: Any, exc: BaseException, tb: Any) -> None:
    """Print an uncaught exception's traceback to stderr with its secrets masked."""
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write(redact_text(text))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class bind_run:  # noqa: N801 - used like a function
    """Bind ``run_id`` and ``job`` to every log line of the current context.

    Binds immediately; use as a context manager to unbind on exit::

        with bind_run(run_id, "nightly"):
            ...

    Threads started inside a run do not inherit the binding; run their target with
    ``contextvars.copy_context().run`` to keep the run id on their lines.
    """

    def __init__(self, run_id: int | str, job: str) -> None:
        self._tokens = bind_contextvars(run_id=run_id, job=job)

    def __enter__(self) -> bind_run:
        return self

    def __exit__(self, *exc: object) -> None:
        reset_contextvars(**self._tokens)
