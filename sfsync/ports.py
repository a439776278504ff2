"""The small interfaces the stages use, so that tests and the local practice org plug in.

Each stage names the port it needs (``sfsync.pipeline``): the extract stage a
:class:`SalesforceApi` and a :class:`UsageReader`, apply a :class:`SalesforceApi` as its
writer, record and the guards a :class:`Store`, notify a :class:`Notifier`.
The real implementations are ``sfsync.salesforce.client.SalesforceClient``,
``sfsync.sources.metabase.MetabaseClient``, ``sfsync.state.db.Store`` and
``sfsync.notify.slack.SlackNotifier``; ``sfsync.run_context.open_clients`` builds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import date
from typing import Any, Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class SalesforceApi(Protocol):
    """Reads (SOQL, describe) and writes (sObject Collections, Bulk 2.0) against one org."""

    api_calls: int

    def query(self, soql: str) -> Any:
        """Run one SOQL query."""
        ...

    def query_frame(self, soql: str) -> pd.DataFrame:
        """A text DataFrame of a SOQL query (Bulk API 2.0 above the bulk threshold)."""
        ...

    def describe(self, sobject: str) -> dict[str, Any]:
        """The describe of ``sobject``."""
        ...

    def check_api_budget(self) -> Any:
        """Refuse to start when the org's daily API requests are below the reserve."""
        ...


@runtime_checkable
class UsageReader(Protocol):
    """Rows of a Metabase saved question or native query."""

    api_calls: int

    def card_rows(
        self, card: int, parameters: Mapping[str, object], *, fmt: str = "json"
    ) -> pd.DataFrame:
        """Rows of saved question ``card``."""
        ...

    def native_rows(
        self, database: int, sql: str, parameters: Mapping[str, object], *, fmt: str = "json"
    ) -> pd.DataFrame:
        """Rows of native ``sql`` run on ``database``."""
        ...


class Notifier(Protocol):
    """Slack: alerts of a run, the failure alert, the KPI summary (deduplicated, queued)."""

    @property
    def api_calls(self) -> int:
        """Slack Web API calls made so far."""
        ...

    def notify_run(self, **kwargs: Any) -> Any:
        """Alerts and digest of one run (``sfsync.notify.slack.SlackNotifier.notify_run``)."""
        ...

    def notify_run_failed(self, *, run_id: Any, job: str, as_of: date, error: str) -> Any:
        """The alert of a failed run."""
        ...

    def post_kpi_summary(self, month: str, rows: list[dict[str, Any]]) -> Any:
        """The monthly KPI summary."""
        ...


class Store(Protocol):
    """The state store (``sfsync.state.db.Store``, SQLite or PostgreSQL): write transactions,
    reads, and closing its connections. The ledgers' functions take it as their first
    argument (``sfsync.state``)."""

    def begin(self) -> AbstractContextManager[Any]:
        """A write transaction."""
        ...

    def connect(self) -> Any:
        """A connection for reads."""
        ...

    def dispose(self) -> None:
        """Close every connection."""
        ...


__all__ = ["Notifier", "SalesforceApi", "Store", "UsageReader"]
