"""The API budget of a whole plan: write everything or nothing for lack of requests.

Reads are done when a plan exists and its writes are known, so the requests it needs can be
estimated before the first write: sObject Collections take one request per 200 records; a
Bulk API 2.0 upload becomes as many jobs as :func:`~sfsync.salesforce.bulk_upload.count_jobs`
says (the writer's own split under the upload limits), each a fixed number of requests
(create, upload, close, results) plus its status polls.
:func:`estimate_write_calls` is pure; :func:`check_write_budget` compares the estimate with
the org's remaining daily requests (from the ``Sforce-Limit-Info`` header of the last
response, so the check costs no request) minus the reserve.
"""

from __future__ import annotations

import math
from typing import Any

import structlog

from sfsync.errors import ApiLimitError
from sfsync.plan import Plan
from sfsync.salesforce.bulk2 import INGEST_JOB_CALLS, POLLS_PER_JOB
from sfsync.salesforce.bulk_upload import UploadLimits, count_jobs
from sfsync.salesforce.writer import (
    COLLECTION_SIZE,
    DEFAULT_BULK_THRESHOLD,
    choose_api,
    plan_requests,
)

log = structlog.get_logger(__name__)

# create + upload + close + successful/failed/unprocessed results, and the status polls of a
# job that takes a few minutes (the poll interval doubles up to 10 s)
BULK_JOB_CALLS = INGEST_JOB_CALLS + POLLS_PER_JOB
RETRY_MARGIN = 1.1  # room for retried requests (503, dropped connections, lock retries)


def estimate_write_calls(
    plan: Plan,
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
    upload_limits: UploadLimits | None = None,
) -> int:
    """The API requests applying ``plan`` needs, with a margin for retries."""
    calls = 0
    for request in plan_requests(plan):
        records = len(request.records)
        if choose_api(records, bulk_threshold, request.operation) == "bulk":
            calls += BULK_JOB_CALLS * count_jobs(request, upload_limits)
        else:
            calls += math.ceil(records / COLLECTION_SIZE)
    return math.ceil(calls * RETRY_MARGIN)


def check_write_budget(client: Any, plan: Plan, *, bulk_threshold: int) -> int:
    """Refuse to start writing (ApiLimitError) when the remaining daily requests minus the
    reserve cannot cover the plan; returns the estimate."""
    needed = estimate_write_calls(plan, bulk_threshold)
    if not needed:
        return 0
    usage = getattr(client, "api_usage", None)
    if usage is not None:
        remaining, maximum = usage.total - usage.used, usage.total
    else:
        daily = client.limits().get("DailyApiRequests") or {}
        remaining, maximum = daily.get("Remaining"), daily.get("Max")
        if remaining is None:
            return needed
    reserve = int(getattr(client, "api_reserve", 0) or 0)
    log.info("salesforce_write_budget", needed=needed, remaining=remaining, reserve=reserve)
    if remaining - reserve < needed:
        raise ApiLimitError(
            f"the plan needs about {needed:,} Salesforce API requests, but only {remaining:,} "
            f"of {maximum:,} daily requests remain and {reserve:,} are kept in reserve; "
            "nothing was written",
            hint="wait for the 24-hour API window to free requests (the next run writes "
            "everything), or lower salesforce.api_reserve in sfsync.yaml",
        )
    return needed
