"""A small client for the sandbox admin endpoint (``/_sandbox/...``): counters and faults."""

from __future__ import annotations

from typing import Any

import requests


class SandboxAdmin:
    """Counters, fault injection, raw records and UI-style edits of the sandbox org.

    Admin calls are not Salesforce API calls: they are not counted and never fail by fault.
    """

    def __init__(
        self,
        salesforce_url: str,
        ca_bundle: str,
        slack_base_url: str | None = None,
    ):
        self._base = f"{salesforce_url}/_sandbox"
        self._slack = f"{slack_base_url.split('/api/')[0]}/_sandbox" if slack_base_url else None
        self._session = requests.Session()
        self._session.verify = ca_bundle
        # REQUESTS_CA_BUNDLE in the environment would override Session.verify
        self._session.trust_env = False

    def _call(self, method: str, path: str, base: str | None = None, **kwargs: Any) -> Any:
        url = f"{base or self._base}/{path}"
        response = self._session.request(method, url, timeout=60, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(
                f"sandbox admin {method} {path} failed ({response.status_code}): {response.text[:500]}"
            )
        return response.json()

    def counters(self) -> dict[str, Any]:
        """``calls`` ("METHOD endpoint" -> n), ``api_calls``, ``records_written``,
        ``writes_per_record`` (id -> n) and ``faults`` (kind -> n injected) since the last reset."""
        return self._call("GET", "counters")

    def reset_counters(self) -> None:
        self._call("POST", "counters/reset")

    def set_faults(
        self,
        seed: int = 0,
        http_503: float = 0.0,
        lock_row: float = 0.0,
        drop_connection: float = 0.0,
        session_expiry_after: int | None = None,
        daily_api_remaining: int | None = None,
        lose_response: str | None = None,
        lose_response_times: int = 0,
    ) -> None:
        """Inject faults: probabilities per request (503, dropped connection) or per record
        write (UNABLE_TO_LOCK_ROW), sessions expiring after K more API calls, the daily
        API requests remaining, and the answers of the next ``lose_response_times`` requests
        to ``lose_response`` (``"POST composite/sobjects"``) lost after the org did the work.
        Seeded, so a test sees the same faults every run."""
        self._call(
            "POST",
            "faults",
            json={
                "seed": seed,
                "http_503": http_503,
                "lock_row": lock_row,
                "drop_connection": drop_connection,
                "session_expiry_after": session_expiry_after,
                "daily_api_remaining": daily_api_remaining,
                "lose_response": lose_response,
                "lose_response_times": lose_response_times,
            },
        )

    def set_behaviour(self, **settings: Any) -> None:
        """Query page size, page byte budget and Bulk job pacing of the org (see
        :class:`sfsync_sandbox.salesforce.behaviour.ServerBehaviour`); no arguments: defaults."""
        self._call("POST", "behaviour", json=settings)

    def clear_faults(self) -> None:
        """No more faults; the daily quota is full again and sessions a fault expired work again."""
        self._call("DELETE", "faults")

    def records(self, sobject: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every stored record of ``sobject`` with all its fields (no API call counted)."""
        params = {"include_deleted": "true"} if include_deleted else None
        return self._call("GET", f"records/{sobject}", params=params)

    def edit_as(
        self, user_id: str, sobject: str, record_id: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """Edit a record as ``user_id`` would in the Salesforce UI (e.g. a CSM completing a
        Task: ``{"Status": "Completed"}``); returns the updated record."""
        return self._call(
            "POST",
            "edit_as",
            json={"user_id": user_id, "sobject": sobject, "record_id": record_id, "fields": fields},
        )

    def update_as(
        self, sobject: str, record_id: str, fields: dict[str, Any], user_id: str
    ) -> dict[str, Any]:
        """:meth:`edit_as` with the arguments in record-first order."""
        return self.edit_as(user_id, sobject, record_id, fields)

    def info(self) -> dict[str, Any]:
        """``org_id`` and ``integration_user_id``."""
        return self._call("GET", "info")

    # -- Slack pass-throughs ----------------------------------------------------------
    def _slack_call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._slack is None:
            raise RuntimeError("the sandbox Slack app is not running")
        return self._call(method, path, base=self._slack, **kwargs)

    def slack_messages(self) -> list[dict[str, Any]]:
        """Messages the sandbox Slack app recorded, oldest first."""
        return self._slack_call("GET", "messages")

    def clear_slack_messages(self) -> None:
        self._slack_call("DELETE", "messages")

    def slack_counters(self) -> dict[str, int]:
        """Calls per Slack Web API method, ``api_calls`` and injected faults."""
        return self._slack_call("GET", "counters")

    def set_slack_faults(
        self, rate_limited: int = 0, retry_after: int = 1, outage: str | None = None
    ) -> None:
        """Slack faults: the next ``rate_limited`` calls get 429 with Retry-After;
        ``outage`` "503" or "drop" fails every call until cleared."""
        body: dict[str, Any] = {"rate_limited": rate_limited, "retry_after": retry_after}
        if outage:
            body["outage"] = outage
        self._slack_call("POST", "faults", json=body)

    def clear_slack_faults(self) -> None:
        self._slack_call("DELETE", "faults")
