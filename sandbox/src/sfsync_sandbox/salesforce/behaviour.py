"""How the sandbox org paces its answers: query page sizes and Bulk API 2.0 job durations.

A real org gives no fixed figures, so clients must not rely on them:

- Query pages. The REST API's Query Options header (``Sforce-Query-Options: batchSize=n``):
  "The default is 2,000; the minimum is 200, and the maximum is 2,000. There is no guarantee
  that the requested batch size is the actual batch size. Changes are made as necessary to
  maximize performance." The SOAP QueryOptions header adds: "the number of results returned
  can vary based on the size and complexity of the records". Here a page holds
  ``min(batchSize, query_page_size)`` records, and fewer when the records are wide: a page
  stops before its JSON passes ``page_bytes``.
- Bulk API 2.0 jobs are asynchronous: a job stays ``UploadComplete``/``InProgress`` for
  ``bulk_in_progress_polls`` status requests (and at least ``bulk_min_seconds``) before it
  reports ``JobComplete``, so a client that does not poll fails here as it would on a real org.

Set them in-process (``app.behaviour``) or with ``POST /_sandbox/behaviour`` (JSON body).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_BATCH = 2000
MIN_BATCH = 200


@dataclass
class ServerBehaviour:
    """Page sizes and Bulk job pacing (see the module docstring)."""

    query_page_size: int = DEFAULT_BATCH
    page_bytes: int = 4_000_000
    bulk_in_progress_polls: int = 1
    bulk_min_seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerBehaviour:
        """Settings from JSON; unknown keys and out-of-range values are a ValueError."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown behaviour settings: {sorted(unknown)}")
        settings = cls(**{**asdict(cls()), **data})
        if not 1 <= int(settings.query_page_size) <= DEFAULT_BATCH:
            raise ValueError(f"query_page_size must be between 1 and {DEFAULT_BATCH}")
        if int(settings.page_bytes) < 1 or int(settings.bulk_in_progress_polls) < 0:
            raise ValueError("page_bytes must be positive, bulk_in_progress_polls >= 0")
        if float(settings.bulk_min_seconds) < 0:
            raise ValueError("bulk_min_seconds must be >= 0")
        return settings

    def page_size(self, requested: int | None) -> int:
        """Records per page for a requested ``batchSize`` (honoured between 200 and 2,000)."""
        wanted = (
            DEFAULT_BATCH if requested is None else max(MIN_BATCH, min(DEFAULT_BATCH, requested))
        )
        return max(1, min(wanted, int(self.query_page_size)))
