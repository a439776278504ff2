"""The Salesforce client every sfsync module uses: auth, retried session, reads, API budget.

>>> client = connect(settings.salesforce)            # doctest: +SKIP
>>> client.query("SELECT Id, Owner.Email FROM Account")  # doctest: +SKIP

``client.sf`` is an authenticated ``simple_salesforce.Salesforce`` whose HTTP session is the
client's :class:`~sfsync.salesforce.retry.SalesforceSession`, so every call made through it
(REST, SOQL, Bulk 2.0) is retried, re-authenticated and counted the same way.

Deadlines: ``salesforce.timeout_seconds`` bounds each socket read; every HTTP call (logins
included) also has a total deadline, ``salesforce.deadline_seconds`` (default ten times the
read timeout), enforced by a :class:`~sfsync.http_deadline.DeadlineAdapter` on the session. A
Bulk API 2.0 job still running after ``salesforce.bulk_job_deadline_seconds`` is aborted.
"""

from __future__ import annotations

import os
import ssl
from typing import Any
from urllib.parse import urljoin, urlsplit

import pandas as pd
import requests
import structlog
from simple_salesforce import Salesforce

from sfsync.errors import ApiLimitError, ConfigError, ConfigProblem
from sfsync.http_deadline import DeadlineAdapter

from . import query as _query
from .auth import Authenticator, Token, plan_auth_flows, setting
from .retry import RetryPolicy, SalesforceApiError, SalesforceSession, Usage

log = structlog.get_logger(__name__)

DEFAULT_API_VERSION = "62.0"
DEFAULT_BULK_THRESHOLD = 2000
DEFAULT_API_RESERVE = 1000
DEFAULT_BULK_JOB_DEADLINE = 1800.0

__all__ = [
    "SalesforceApiError",
    "SalesforceClient",
    "RetryPolicy",
    "connect",
    "default_verify",
    "soql_in",
]

soql_in = _query.soql_in


def default_verify() -> str | bool:
    """Where TLS certificates are checked: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else the
    system bundle (SPEC §9), else requests' own bundle."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(name):
            return os.environ[name]
    cafile = ssl.get_default_verify_paths().cafile
    if cafile and os.path.exists(cafile):
        return cafile
    return True


class SalesforceClient:
    """One authenticated connection to one org, with one retry policy.

    Build it with :func:`connect`; tests may build it from a ready session and token.
    """

    def __init__(
        self,
        session: SalesforceSession,
        token: Token,
        *,
        authenticator: Authenticator | None = None,
        api_version: str = DEFAULT_API_VERSION,
        bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
        api_reserve: int = DEFAULT_API_RESERVE,
        timezone: str | None = None,
        bulk_job_deadline_seconds: float = DEFAULT_BULK_JOB_DEADLINE,
    ) -> None:
        self.session = session
        self.bulk_job_deadline_seconds = bulk_job_deadline_seconds
        self.api_version = api_version.lstrip("v")
        self.bulk_threshold = bulk_threshold
        self.api_reserve = api_reserve
        self.timezone = timezone
        self.retry_settings: Any = None  # ``salesforce.retry``: the writer's lock retry
        self._authenticator = authenticator
        self._describe_cache: dict[str, dict[str, Any]] = {}
        self.sf: Salesforce = self._make_salesforce(token)
        session.access_token = token.access_token
        if authenticator is not None and authenticator.can_renew:
            session.reauthenticate = self._renew_session

    # -- session -----------------------------------------------------------------------
    def _make_salesforce(self, token: Token) -> Salesforce:
        self.instance_url = token.instance_url.rstrip("/")
        self.base_url = f"{self.instance_url}/services/data/v{self.api_version}/"
        return Salesforce(
            instance_url=self.instance_url,
            session_id=token.access_token,
            session=self.session,
            version=self.api_version,
        )

    def _renew_session(self) -> str:
        """Log in again and point ``self.sf`` at the new token (called by the session)."""
        assert self._authenticator is not None
        token = self._authenticator.renew()
        if token.instance_url.rstrip("/") != self.instance_url:
            self.sf = self._make_salesforce(token)
        else:
            self.sf.session_id = token.access_token
            self.sf._generate_headers()  # simple-salesforce's own header refresh
            self.sf._mdapi = None
        return token.access_token

    @property
    def policy(self) -> RetryPolicy:
        return self.session.policy

    @property
    def api_calls(self) -> int:
        """API calls this client sent (every attempt counts, as it does for Salesforce)."""
        return self.session.api_calls

    @property
    def calls_by_kind(self) -> dict[str, int]:
        """API calls by endpoint kind (``query``, ``queryMore``, ``jobs/query``, ``composite``…)."""
        return dict(self.session.calls_by_kind)

    @property
    def api_usage(self) -> Usage | None:
        """The org's usage from the last ``Sforce-Limit-Info`` header seen (used, total)."""
        return self.session.api_usage

    @property
    def auth_flow(self) -> str | None:
        """Which login flow produced the current session (``session``, ``jwt``, …)."""
        return self._authenticator.flow_used if self._authenticator else None

    # -- generic REST ----------------------------------------------------------------------
    def url(self, path: str) -> str:
        """Absolute URL: ``sobjects/Account`` is relative to ``/services/data/vNN.N/``;
        ``/services/...`` is relative to the instance; full URLs pass through."""
        if path.startswith(("https://", "http://")):
            return path
        if path.startswith("/"):
            return f"{self.instance_url}{path}"
        return urljoin(self.base_url, path)

    def request(
        self, method: str, path: str, *, raise_for_status: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send one REST call through the retry policy (re-auth, counting included).

        A response with status ≥ 300 raises :class:`SalesforceApiError` (with ``status``,
        ``error_code`` and the decoded ``content``) unless ``raise_for_status=False``.
        Exhausted retries raise TransientError; an exhausted API limit raises ApiLimitError.
        """
        headers = {"Authorization": f"Bearer {self.sf.session_id}", "Accept": "application/json"}
        headers.update(kwargs.pop("headers", None) or {})
        response = self.session.request(method, self.url(path), headers=headers, **kwargs)
        if raise_for_status and response.status_code >= 300:
            raise SalesforceApiError(response)
        return response

    # -- reads -----------------------------------------------------------------------------
    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """All records of a SOQL query (every page), ``attributes`` stripped, parents dotted."""
        return _query.query(self, soql, include_deleted=include_deleted)

    def query_frame(
        self, soql: str, bulk_threshold: int | None = None, *, include_deleted: bool = False
    ) -> pd.DataFrame:
        """A text DataFrame of a SOQL query; Bulk API 2.0 above ``bulk_threshold`` records."""
        threshold = self.bulk_threshold if bulk_threshold is None else bulk_threshold
        return _query.query_frame(
            self, soql, bulk_threshold=threshold, include_deleted=include_deleted
        )

    def bulk_query_frame(self, soql: str, *, include_deleted: bool = False) -> pd.DataFrame:
        """Always use a Bulk API 2.0 query job."""
        return _query.bulk_query_frame(self, soql, include_deleted=include_deleted)

    def describe(self, sobject: str) -> dict[str, Any]:
        """The sObject describe, fetched once per client."""
        if sobject not in self._describe_cache:
            self._describe_cache[sobject] = self.request(
                "GET", f"sobjects/{sobject}/describe"
            ).json()
        return self._describe_cache[sobject]

    # -- API budget --------------------------------------------------------------------------
    def limits(self) -> dict[str, Any]:
        """The org's ``/limits`` resource (``DailyApiRequests`` → ``Max``/``Remaining`` …)."""
        return self.request("GET", "limits/").json()

    def check_api_budget(self, reserve: int | None = None) -> int:
        """Refuse to start when fewer daily API requests remain than ``reserve``.

        Returns the remaining requests; raises ApiLimitError below the reserve.
        """
        reserve = self.api_reserve if reserve is None else reserve
        daily = self.limits().get("DailyApiRequests") or {}
        remaining, maximum = daily.get("Remaining"), daily.get("Max")
        if remaining is None:
            log.warning("salesforce_limits_without_daily_requests")
            return -1
        log.info("salesforce_api_budget", remaining=remaining, max=maximum, reserve=reserve)
        if remaining < reserve:
            raise ApiLimitError(
                f"only {remaining} of {maximum} daily Salesforce API requests remain, fewer "
                f"than the reserve of {reserve}; the run did not start",
                hint="wait for the 24-hour API window to free requests, or lower "
                "salesforce.api_reserve in sfsync.yaml",
            )
        return int(remaining)


def connect(
    settings: Any,
    *,
    timezone: str | None = None,
    policy: RetryPolicy | None = None,
    verify: str | bool | None = None,
    timeout: float | tuple[float, float] | None = None,
) -> SalesforceClient:
    """Authenticate with the first usable flow of the ``salesforce`` settings block.

    ``settings`` is ``Settings.salesforce`` (or any object/dict with the same field names).
    ``verify`` overrides the CA bundle (default: REQUESTS_CA_BUNDLE, else the system bundle).
    ``timeout`` defaults to (15 s connect, ``timeout_seconds`` or 300 s read) per attempt;
    each call's total time is bounded by ``deadline_seconds`` (default 10 × the read timeout).
    """
    read_timeout = float(setting(settings, "timeout_seconds") or 300.0)
    if timeout is None:
        timeout = (15.0, read_timeout)
    api_version = str(setting(settings, "api_version") or DEFAULT_API_VERSION)
    flows = plan_auth_flows(settings, api_version=api_version)
    session = SalesforceSession(policy or _policy_from(settings), timeout=timeout)
    session.verify = default_verify() if verify is None else verify
    mount_deadline(session, float(setting(settings, "deadline_seconds") or 10 * read_timeout))
    authenticator = Authenticator(flows, session)
    token = authenticator.login()
    _check_instance_url(token.instance_url)
    client = SalesforceClient(
        session,
        token,
        authenticator=authenticator,
        api_version=api_version,
        bulk_threshold=int(setting(settings, "bulk_threshold") or DEFAULT_BULK_THRESHOLD),
        api_reserve=int(
            DEFAULT_API_RESERVE
            if setting(settings, "api_reserve") is None
            else setting(settings, "api_reserve")
        ),
        timezone=timezone,
        bulk_job_deadline_seconds=float(
            setting(settings, "bulk_job_deadline_seconds") or DEFAULT_BULK_JOB_DEADLINE
        ),
    )
    client.retry_settings = setting(settings, "retry")
    log.info("salesforce_connected", flow=authenticator.flow_used, instance_url=client.instance_url)
    return client


def mount_deadline(session: requests.Session, seconds: float) -> None:
    """Give every call ``session`` sends a total deadline of ``seconds``."""
    adapter = DeadlineAdapter(seconds, "Salesforce", "salesforce.deadline_seconds")
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def _policy_from(settings: Any) -> RetryPolicy:
    """The request retry policy of ``salesforce.retry`` (unset keys keep the defaults)."""
    return RetryPolicy.from_settings(setting(settings, "retry"))


def _check_instance_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            [
                ConfigProblem(
                    "salesforce settings",
                    "salesforce.instance_url",
                    f"{url!r} is not an https:// URL of a Salesforce instance",
                )
            ]
        )
