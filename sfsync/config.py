"""Settings of one sfsync project: ``sfsync.yaml`` plus environment overrides (SPEC §9).

``load_settings(path, env)`` reads the file (a missing default file means "all defaults"),
applies the ``SFSYNC_*`` environment variables of :data:`ENV_OVERRIDES` on top, and validates
everything at once: each problem names the file and dotted key, or the environment variable.
Secrets are :class:`pydantic.SecretStr`, so printing or ``repr``-ing settings never shows them;
``Settings.redacted_dict()`` gives a displayable view.

``load_project(config_path)`` finds the project around the file: its root folder, ``jobs/``,
``mappings/`` and the state store URL with a relative SQLite path made absolute.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sfsync.configfile import StrictModel, pydantic_problems, read_yaml
from sfsync.defaults import (  # re-exported: the one place of each default is sfsync.defaults
    DEFAULT_API_RESERVE,
    DEFAULT_BULK_THRESHOLD,
    DEFAULT_CONFIG_FILE,
    DEFAULT_STATE_URL,
    DEFAULT_TIMEZONE,
)
from sfsync.errors import ConfigError, ConfigProblem
from sfsync.log import redact_text, register_secrets, url_secrets

ENV_SOURCE = "environment"

# Environment variable -> dotted key in sfsync.yaml. SPEC §9 names the first block; the rest
# are documented extras (README "Configuration") for the other authentication flows.
ENV_OVERRIDES: dict[str, str] = {
    "SFSYNC_SF_INSTANCE_URL": "salesforce.instance_url",
    "SFSYNC_SF_ACCESS_TOKEN": "salesforce.access_token",
    "SFSYNC_SF_USERNAME": "salesforce.username",
    "SFSYNC_SF_PASSWORD": "salesforce.password",
    "SFSYNC_SF_SECURITY_TOKEN": "salesforce.security_token",
    "SFSYNC_SF_CONSUMER_KEY": "salesforce.consumer_key",
    "SFSYNC_SF_PRIVATE_KEY_FILE": "salesforce.private_key_file",
    "SFSYNC_SF_DOMAIN": "salesforce.domain",
    "SFSYNC_METABASE_URL": "metabase.url",
    "SFSYNC_METABASE_API_KEY": "metabase.api_key",
    "SFSYNC_SLACK_TOKEN": "slack.token",
    "SFSYNC_SLACK_BASE_URL": "slack.base_url",
    "SFSYNC_STATE_URL": "state_url",
    # extras
    "SFSYNC_SF_CLIENT_ID": "salesforce.client_id",
    "SFSYNC_SF_CLIENT_SECRET": "salesforce.client_secret",
    "SFSYNC_SF_API_VERSION": "salesforce.api_version",
    "SFSYNC_METABASE_USERNAME": "metabase.username",
    "SFSYNC_METABASE_PASSWORD": "metabase.password",
    "SFSYNC_SLACK_CHANNEL": "slack.channel",
    "SFSYNC_SLACK_MANAGER_CHANNEL": "slack.manager_channel",
    "SFSYNC_SLACK_PACE_SECONDS": "slack.pace_seconds",
    "SFSYNC_TIMEZONE": "timezone",
    "SFSYNC_LANGUAGE": "language",
}


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value.startswith(("https://", "http://")):
        raise PydanticCustomError(
            "url", "must be an http(s) URL such as https://example.my.salesforce.com"
        )
    return value.rstrip("/")


def domain_problem(value: str) -> str | None:
    """Why ``value`` is not a usable ``salesforce.domain`` (None when it is): ``login``,
    ``test``, a My Domain such as ``acme.my`` / ``acme--uat.sandbox.my``, or a full host name
    with an optional port (``acme.my.salesforce.com``, ``127.0.0.1:8443``)."""
    if not value:
        return "it is empty"
    if any(c.isspace() for c in value) or "/" in value:
        return f"{value!r} is not a host name"
    host, colon, port = value.partition(":")
    if colon and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return f"the port {port!r} is not a number from 1 to 65535"
    if not host.isascii():
        return f"{host!r} has characters other than letters, digits, '-' and '.'"
    labels = host.split(".")
    if any(not label for label in labels):
        return f"{host!r} has an empty part between dots"
    bad = [
        label
        for label in labels
        if len(label) > 63 or not label.replace("-", "").isalnum() or "-" in (label[0], label[-1])
    ]
    if bad:
        return (
            f"{bad[0]!r} is not a host name part (letters, digits and '-', not at the start or end)"
        )
    if len(labels) == 1 and not colon and host.lower() not in ("login", "test"):
        return f"write a My Domain with its suffix, such as {host}.my for {host}.my.salesforce.com"
    return None


class _UrlSafeRepr(StrictModel):
    """A settings block whose ``repr`` hides the user-info of its URLs."""

    def __repr_args__(self):
        for name, value in super().__repr_args__():
            yield name, redact_text(value) if isinstance(value, str) and "://" in value else value


class RetrySettings(StrictModel):
    """How one service's transient failures are retried: how many attempts in all, and the
    exponential backoff between them (first wait, longest wait). A key left unset keeps that
    service's built-in default; tests set tiny waits so that nothing sleeps for real."""

    attempts: int | None = Field(None, ge=1)
    wait_initial_seconds: float | None = Field(None, ge=0)
    wait_max_seconds: float | None = Field(None, ge=0)


class SalesforceSettings(_UrlSafeRepr):
    """How to reach the Salesforce org. The client picks the auth flow from what is set:
    access_token (existing session) > JWT bearer (consumer_key + private_key_file) >
    client credentials (client_id + client_secret) > username + password (+ security_token)."""

    instance_url: str | None = None
    access_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    private_key_file: Path | None = None
    domain: str = "login"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_version: str = "62.0"
    bulk_threshold: int = Field(DEFAULT_BULK_THRESHOLD, ge=1)
    api_reserve: int = Field(DEFAULT_API_RESERVE, ge=0)
    timeout_seconds: float = Field(120, gt=0)
    # total time of one HTTP call (connect, headers and body); None: 10 × timeout_seconds
    deadline_seconds: float | None = Field(None, gt=0)
    # a Bulk API 2.0 job (query or ingest) still running after this is aborted
    bulk_job_deadline_seconds: float = Field(1800, gt=0)
    # failed requests (default 6 attempts, 0.5 s doubling to 30 s) and locked records (5, 0.5 s
    # doubling to 10 s)
    retry: RetrySettings = RetrySettings()

    _url = field_validator("instance_url")(_http_url)

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        value = value.removeprefix("v")
        major, dot, minor = value.partition(".")
        if not (major.isdigit() and dot and minor.isdigit()):
            raise PydanticCustomError("api_version", "must look like 62.0")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().removeprefix("https://").rstrip("/")
        problem = domain_problem(value)
        if problem:
            raise PydanticCustomError(
                "domain",
                "must be login, test or a My Domain host such as acme.my{detail}",
                {"detail": f" ({problem})"},
            )
        return value

    @model_validator(mode="after")
    def _pairs(self) -> SalesforceSettings:
        if self.username is not None and self.password is None and self.consumer_key is None:
            raise PydanticCustomError(
                "incomplete",
                "password is required when username is set without consumer_key "
                "(set salesforce.password or SFSYNC_SF_PASSWORD, or use the JWT bearer flow)",
            )
        pairs = [
            ("consumer_key", "private_key_file", "SFSYNC_SF_PRIVATE_KEY_FILE"),
            ("private_key_file", "consumer_key", "SFSYNC_SF_CONSUMER_KEY"),
            ("client_id", "client_secret", "SFSYNC_SF_CLIENT_SECRET"),
            ("client_secret", "client_id", "SFSYNC_SF_CLIENT_ID"),
        ]
        for have, need, env in pairs:
            if getattr(self, have) is not None and getattr(self, need) is None:
                raise PydanticCustomError(
                    "incomplete",
                    "{need} is required when {have} is set (set salesforce.{need} or {env})",
                    {"need": need, "have": have, "env": env},
                )
        return self


class MetabaseSettings(_UrlSafeRepr):
    """Metabase connection: an API key (preferred) or a username and password."""

    url: str | None = None
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = Field(60, gt=0)
    # total time of one request, retries included; None: 10 × timeout_seconds
    deadline_seconds: float | None = Field(None, gt=0)
    # failed requests (default 4 attempts, 0.5 s doubling to 10 s)
    retry: RetrySettings = RetrySettings()

    _url = field_validator("url")(_http_url)

    @model_validator(mode="after")
    def _password(self) -> MetabaseSettings:
        if self.username is not None and self.password is None:
            raise PydanticCustomError(
                "incomplete",
                "password is required when username is set "
                "(set metabase.password or SFSYNC_METABASE_PASSWORD)",
            )
        return self


class SlackSettings(_UrlSafeRepr):
    """Slack Web API: bot token, optional API base URL (the sandbox), alert channels."""

    token: SecretStr | None = None
    base_url: str | None = None
    channel: str = "#cs-alerts"
    manager_channel: str = "#cs-managers"
    # 429 answers (default 4 attempts, waiting the Retry-After Slack sends, at most
    # wait_max_seconds when set) and 5xx / connection errors (2 attempts, 0.5 s + jitter)
    retry: RetrySettings = RetrySettings()
    # Slack allows about one message per second per channel: posts to one channel are spaced
    # at least this many seconds apart (0 turns the pacing off)
    pace_seconds: float = Field(1.0, ge=0, le=60)
    # Delivered messages are deleted from the state store's outbox after this many days
    # (null keeps them forever)
    outbox_retention_days: int | None = Field(30, ge=1)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        value = _http_url(value)
        return None if value is None else value + "/"  # slack_sdk joins "base_url + method"


class RetentionSettings(StrictModel):
    """How long the state store keeps what it only needs for a while (``retention:``).

    Score snapshots: every one for ``daily_days``, then the last of each ISO week until
    ``weekly_days``, then the last of each month (deleted after ``monthly_days`` when set).
    Run ledger, guard figures, quarantined rows and resolved write failures: ``ledger_days``.
    Whatever a job's trend baseline or output guard still needs is kept whatever these say.
    """

    auto_prune: bool = Field(
        True, description="prune at the end of every successful run (sfsync state prune)"
    )
    daily_days: int = Field(45, ge=1, description="keep every daily snapshot this long")
    weekly_days: int = Field(400, ge=1, description="then one snapshot per week until this age")
    monthly_days: int | None = Field(
        None, ge=1, description="then one per month; older ones are deleted (null: never)"
    )
    ledger_days: int = Field(
        180, ge=1, description="runs, guard figures, quarantine and resolved failures"
    )

    @model_validator(mode="after")
    def _order(self) -> RetentionSettings:
        if self.weekly_days < self.daily_days:
            raise ValueError(
                f"weekly_days ({self.weekly_days}) must be at least daily_days ({self.daily_days})"
            )
        if self.monthly_days is not None and self.monthly_days < self.weekly_days:
            raise ValueError(
                f"monthly_days ({self.monthly_days}) must be at least weekly_days "
                f"({self.weekly_days}) or null"
            )
        return self


_BLOCKS = ("salesforce", "metabase", "slack", "retention")


class Settings(StrictModel):
    """The validated contents of ``sfsync.yaml`` with environment overrides applied."""

    timezone: str = DEFAULT_TIMEZONE
    language: Literal["ja", "en"] = "ja"
    state_url: str = DEFAULT_STATE_URL
    lock_ttl_seconds: int = Field(600, ge=10)
    salesforce: SalesforceSettings = SalesforceSettings()
    metabase: MetabaseSettings = MetabaseSettings()
    slack: SlackSettings = SlackSettings()
    retention: RetentionSettings = RetentionSettings()

    @model_validator(mode="before")
    @classmethod
    def _empty_blocks(cls, data: Any) -> Any:
        # "salesforce:" with every key commented out parses as None: treat it as empty
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if not (k in _BLOCKS and v is None)}
        return data

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone",
                "unknown time zone '{value}'; use an IANA name such as Asia/Tokyo or UTC",
                {"value": value},
            ) from None
        return value

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise PydanticCustomError(
                "state_url",
                "not a database URL; use sqlite:///path/state.db or "
                "postgresql+psycopg://user@host/db",
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise PydanticCustomError(
                "state_url",
                "unsupported database '{backend}'; the state store runs on SQLite or PostgreSQL",
                {"backend": backend},
            )
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    def secret_values(self) -> list[str]:
        """Every configured secret in clear text (for the redactor; never display these):
        each SecretStr and the password (or token user-info) of every configured URL."""
        values = [_url_password(self.state_url)]
        for url in (self.state_url, self.salesforce.instance_url, self.metabase.url):
            values.extend(url_secrets(url))
        values.extend(url_secrets(self.slack.base_url))
        for block in (self.salesforce, self.metabase, self.slack):
            for value in block.__dict__.values():
                if isinstance(value, SecretStr):
                    values.append(value.get_secret_value())
        return [v for v in dict.fromkeys(values) if v]

    def redacted_dict(self) -> dict[str, Any]:
        """Plain data for display: secrets shown as ``'***'`` (or ``None`` when unset)."""
        data = self.model_dump(mode="json")  # SecretStr dumps as '**********'
        for block in ("salesforce", "metabase", "slack"):
            for key, value in getattr(self, block).__dict__.items():
                if isinstance(value, SecretStr):
                    data[block][key] = "***"
        data["state_url"] = redact_url(self.state_url)

        for block, key in (
            ("salesforce", "instance_url"),
            ("metabase", "url"),
            ("slack", "base_url"),
        ):
            if data[block].get(key):
                data[block][key] = redact_text(data[block][key])
        return data

    def __repr_args__(self):
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "state_url" else value


def effective_deadline(block: Any) -> float:
    """The total deadline of one HTTP call for a ``salesforce`` or ``metabase`` settings block:
    ``deadline_seconds``, or ten times the per-read ``timeout_seconds`` when it is not set."""
    configured = getattr(block, "deadline_seconds", None)
    if configured:
        return float(configured)
    return 10.0 * float(getattr(block, "timeout_seconds", None) or 60.0)


def _url_password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:
        return None


def redact_url(url: str) -> str:
    """A database URL with its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _set_dotted(data: dict, dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[leaf] = value


def load_settings(path: str | Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (None or a missing default file: defaults), apply ``env`` overrides, validate.

    Empty environment variables count as unset. Raises ConfigError listing every problem, each
    naming the file and dotted key, or ``environment: SFSYNC_…`` for a bad override.
    """
    env = os.environ if env is None else env
    file = str(path) if path is not None else ENV_SOURCE
    data: Any = read_yaml(Path(path)) if path is not None else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(file, "", "expected a mapping of settings (key: value lines)")]
        )
    overridden: dict[str, str] = {}
    for var, dotted in ENV_OVERRIDES.items():
        value = env.get(var)
        if value is not None and value.strip() != "":
            _set_dotted(data, dotted, value.strip())
            overridden[dotted] = var
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for problem in pydantic_problems(file, exc):
            var = _override_for(problem.path, overridden)
            if var is not None:
                problem = ConfigProblem(ENV_SOURCE, var, problem.message)
            problems.append(problem)
        raise ConfigError(problems) from None


def _override_for(path: str, overridden: dict[str, str]) -> str | None:
    for dotted, var in overridden.items():
        if path == dotted or path.startswith(dotted + "."):
            return var
    return None


@dataclass(frozen=True)
class Project:
    """One sfsync project folder: settings plus where its jobs and mappings live."""

    root: Path
    settings: Settings
    jobs_dir: Path
    mappings_dir: Path
    config_file: Path | None  # None when running on defaults (no sfsync.yaml)

    @property
    def templates_dir(self) -> Path:
        return self.mappings_dir / "templates"

    @property
    def state_url(self) -> str:
        """The state store URL (a relative SQLite path is already made absolute)."""
        return self.settings.state_url


def resolve_state_url(url: str, root: Path) -> str:
    """Make a relative SQLite database path absolute against the project ``root``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    if Path(database).is_absolute():
        return url
    return parsed.set(database=str(root / database)).render_as_string(hide_password=False)


def load_project(
    config_path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Project:
    """Load the project whose settings file is ``config_path`` (default ``./sfsync.yaml``).

    A missing *default* file means defaults with the current folder as root; a missing file
    named explicitly is an error. Relative paths in the settings (SQLite state file, private
    key file) are resolved against the project root. Configured secrets are registered with
    the log redactor.
    """
    explicit = config_path is not None
    path = Path(config_path) if explicit else Path(DEFAULT_CONFIG_FILE)
    config_file = path if explicit or path.exists() else None
    root = (path.parent if config_file else Path.cwd()).resolve()
    settings = load_settings(config_file, env)
    updates: dict[str, Any] = {"state_url": resolve_state_url(settings.state_url, root)}
    key_file = settings.salesforce.private_key_file
    if key_file is not None and not key_file.is_absolute():
        updates["salesforce"] = settings.salesforce.model_copy(
            update={"private_key_file": root / key_file}
        )
    settings = settings.model_copy(update=updates)

    register_secrets(settings.secret_values())
    return Project(
        root=root,
        settings=settings,
        jobs_dir=root / "jobs",
        mappings_dir=root / "mappings",
        config_file=config_file,
    )
