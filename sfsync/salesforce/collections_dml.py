"""The sObject Collections implementation of the writer's :class:`~sfsync.salesforce.dml.DmlOperation`.

Up to 200 records per call, ``allOrNone=false``: ``PATCH composite/sobjects`` for updates by
Id, ``PATCH composite/sobjects/{object}/{external id}`` for upserts, ``POST
composite/sobjects`` for inserts (new records without a key). Each record gets its own
result; a call that fails as a whole (retries exhausted, refused) makes its records, and those
of the calls not yet made, job failures; an exhausted API limit or a failed login propagates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sfsync.errors import ApiLimitError, AuthError, SfsyncError
from sfsync.salesforce.dml import (
    Record,
    WriteRequest,
    WriteResult,
    WriteStatus,
    job_failure,
    parse_error,
)

COLLECTION_SIZE = 200


class CollectionsOperation:
    """Write one request's records with sObject Collections calls (see the module doc)."""

    api = "collections"

    def __init__(self, client: Any, request: WriteRequest) -> None:
        self.client = client
        self.request = request
        self.calls = 0
        self._records: list[Record] = []
        self._results: dict[str, WriteResult] = {}

    def start(self) -> None:
        """Nothing to prepare."""
        self._records, self._results = [], {}

    def load_records(self, records: Sequence[Record]) -> None:
        """Take records to write (sent by :meth:`end`)."""
        self._records.extend(records)

    def end(self) -> None:
        """Send the loaded records, 200 per call."""
        sobject = self.request.sobject
        unavailable: SfsyncError | None = None
        for start in range(0, len(self._records), COLLECTION_SIZE):
            chunk = self._records[start : start + COLLECTION_SIZE]
            if unavailable is None:
                try:
                    outcome = self._send(chunk)
                except (ApiLimitError, AuthError):
                    raise
                except SfsyncError as exc:
                    unavailable = exc
            if unavailable is not None:
                for key, values in chunk:
                    self._results[key] = job_failure(sobject, key, values, unavailable)
                continue
            for (key, values), result in outcome:
                self._results[key] = _result(
                    sobject, key, values, result, insert=self.request.operation == "insert"
                )

    def results(self) -> tuple[WriteResult, ...]:
        """One result per loaded record, in load order."""
        return tuple(self._results[key] for key, _ in self._records)

    def _send(self, chunk: Sequence[Record]) -> list[tuple[Record, dict[str, Any]]]:
        """One collections call; returns (record, result dict) per record, in order."""
        request = self.request
        records = []
        for key, values in chunk:
            body: dict[str, Any] = {"attributes": {"type": request.sobject}, **values}
            if request.operation != "insert":
                body["id" if request.operation == "update" else request.key_field] = key
            records.append(body)
        path, method = "composite/sobjects", "PATCH"
        if request.operation == "upsert":
            path = f"composite/sobjects/{request.sobject}/{request.key_field}"
        elif request.operation == "insert":
            method = "POST"
        self.calls += 1
        response = self.client.request(method, path, json={"allOrNone": False, "records": records})
        payload = response.json()
        if not isinstance(payload, list) or len(payload) != len(chunk):
            got = len(payload) if isinstance(payload, list) else type(payload).__name__
            raise SfsyncError(
                f"unexpected sObject Collections response for {request.sobject}: "
                f"{got} results for {len(chunk)} records"
            )
        return list(zip(chunk, payload, strict=True))


def _result(
    sobject: str, key: str, values: dict[str, Any], result: dict[str, Any], *, insert: bool = False
) -> WriteResult:
    if result.get("success"):
        return WriteResult(
            sobject,
            key,
            WriteStatus.SUCCESS,
            record_id=result.get("id"),
            # a create result carries no "created" flag: every successful insert created one
            created=insert or bool(result.get("created", False)),
            fields=tuple(values),
        )
    code, message = parse_error(result.get("errors"))
    return WriteResult(
        sobject,
        key,
        WriteStatus.ROW_FAILURE,
        record_id=result.get("id"),
        error_code=code,
        message=message,
        fields=tuple(values),
    )
