"""Tech-touch engagement signals from the engagement logs (seed 000), vectorised and pure.

Four signals (thresholds in ``mappings/rules.yaml``, :class:`sfsync.scoring.rules.SignalRules`):

- ``tutorial_not_completed``: the tutorial is not completed ``days`` after the contract start
  (and the contract is younger than ``until_days``). Completed = ``tutorial_completed`` in any
  month up to the scoring month, or a ``tutorial_completed_at`` on or before the as-of date;
- ``onboarding_videos_unwatched``: no ``video_views`` from the contract-start month up to the
  month of the first delivery (while there is none: up to the as-of month, whose rows count
  when the source has them), for a contract between ``min_contract_age_days`` and
  ``until_days`` old. A contract that started in the as-of month is judged only when that
  month has a row (it is not complete: a missing row there means "not logged yet");
- ``email_engagement_falling``: scoring-month ``email_opens`` (or ``email_clicks``) at most
  ``max_ratio`` x the previous ``months`` months' average, where that average reaches the
  minimum volume;
- ``content_interest_rising`` (upsell): scoring-month ``video_views`` + ``document_views`` at
  least ``min_ratio`` x the previous months' average and at least ``min_views``.

A signal is never raised for an account without a tenant, nor when the usage data lacks the
columns it reads (absent, or empty on every row): the source does not log that engagement, so
the rule does not apply. A tenant without a row in a month had no engagement that month (0,
SPEC §10).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from sfsync.calendar import month_start, month_text, shift_month_text
from sfsync.catalogue import signal_kind
from sfsync.scoring.arrays import encode_keys, text_array
from sfsync.scoring.rules import Signal, SignalRules
from sfsync.scoring.usage_features import month_mask

COUNT_COLUMNS = ("deliveries", "video_views", "document_views", "email_opens", "email_clicks")
ROWS = "rows"  # the row count in :attr:`MonthGrid.sums`


def _month_number(text: np.ndarray) -> np.ndarray:
    """``YYYY-MM`` strings -> year * 12 + month - 1 (int64)."""
    years = np.array([int(t[:4]) for t in text], dtype=np.int64)
    months = np.array([int(t[5:7]) for t in text], dtype=np.int64)
    return years * 12 + months - 1


def has_values(usage: pd.DataFrame, column: str) -> bool:
    """The usage data logs ``column``: present and not empty on every row."""
    return column in usage.columns and bool(usage[column].notna().any())


@dataclass(frozen=True)
class MonthGrid:
    """Per account, monthly sums of the count columns: column ``j`` is ``j`` months before the
    month of the as-of date (0 = that month, often partial or absent; 1 = the scoring month).
    ``ROWS`` counts the usage rows. Unlinked accounts hold zeros (their signals are masked
    anyway)."""

    sums: dict[str, np.ndarray]  # column -> (accounts, months) float64
    tutorial_by_as_of: np.ndarray  # bool per account: a tutorial_completed_at <= as-of


def month_grid(
    usage: pd.DataFrame,
    tenant_ids: pd.Series,
    *,
    as_of: date,
    months: int,
    columns: list[str],
) -> MonthGrid:
    """Sum ``columns`` per account and month for the ``months`` months up to the as-of date's
    month (only those rows are read). ``tenant_ids``: the accounts' tenant ids in row order."""
    current = month_text(month_start(as_of))
    first = shift_month_text(current, -(months - 1))
    rows = np.flatnonzero(
        month_mask(usage["month"], "greater_equal", first)
        & month_mask(usage["month"], "less_equal", current)
    )
    # one Arrow hash table for the accounts' tenants and the rows' (as in usage_by_tenant)
    row_tenants = text_array(usage["tenant_id"], empty_as_null=False).take(pa.array(rows))
    account_pos, tenants, (codes,) = encode_keys(text_array(tenant_ids), [row_tenants])
    account_pos = np.asarray(account_pos, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    keep = codes >= 0
    rows, codes = rows[keep], codes[keep]
    # a few distinct months: factorise (hashing) and parse each once
    inverse, distinct = pd.factorize(usage["month"].take(rows).astype("string"))
    distinct = np.asarray([str(m)[:7] for m in distinct], dtype=object)
    top = _month_number(np.array([current]))[0]
    offset = (top - _month_number(distinct))[inverse] if len(distinct) else np.zeros(0, int)
    in_grid = (offset >= 0) & (offset < months)
    size = len(tenants) * months
    cell = codes[in_grid] * months + offset[in_grid]
    linked = account_pos >= 0
    safe = np.maximum(account_pos, 0)
    sums: dict[str, np.ndarray] = {}
    for column in [*columns, ROWS]:
        if column == ROWS:
            values = np.ones(int(in_grid.sum()))
        else:
            values = pd.to_numeric(usage[column].take(rows[in_grid]), errors="coerce")
            values = values.fillna(0.0).to_numpy(dtype=np.float64)
        per_tenant = np.bincount(cell, weights=values, minlength=size).reshape(-1, months)
        if len(tenants) == 0:
            per_tenant = np.zeros((1, months))
        sums[column] = np.where(linked[:, None], per_tenant[safe], 0.0)
    done = np.zeros(max(len(tenants), 1), dtype=bool)
    if "tutorial_completed_at" in usage.columns:
        at = pd.to_datetime(usage["tutorial_completed_at"].take(rows), errors="coerce")
        ok = (at.notna() & (at <= pd.Timestamp(as_of))).to_numpy()
        done[codes[ok]] = True
    return MonthGrid(sums, linked & done[safe])


def _falling(this: np.ndarray, average: np.ndarray, max_ratio: float, minimum: float):
    return (average >= minimum) & (average > 0) & (this <= max_ratio * average)


def engagement_signals(
    features: pd.DataFrame,
    tenant_ids: pd.Series,
    usage: pd.DataFrame,
    linked: np.ndarray,
    *,
    as_of: date,
    rules: SignalRules,
) -> list[Signal]:
    """The enabled engagement signals that the usage data can support, with their masks.

    ``features``: the feature frame (``days_since_contract_start``, ``tutorial_completed``),
    aligned with ``tenant_ids`` (the accounts' ``tenant_id``) and ``linked``."""
    tut = rules.tutorial_not_completed
    vid = rules.onboarding_videos_unwatched
    mail = rules.email_engagement_falling
    content = rules.content_interest_rising
    logged = {c: has_values(usage, c) for c in COUNT_COLUMNS}
    tutorial_logged = has_values(usage, "tutorial_completed") or has_values(
        usage, "tutorial_completed_at"
    )
    wanted = {
        "tutorial_not_completed": tut.enabled and tutorial_logged,
        "onboarding_videos_unwatched": vid.enabled and logged["video_views"],
        "email_engagement_falling": mail.enabled
        and (logged["email_opens"] or logged["email_clicks"]),
        "content_interest_rising": content.enabled
        and (logged["video_views"] or logged["document_views"]),
    }
    if not any(wanted.values()) or not len(features):
        return []
    # the months read, back from the as-of month: the scoring month (1) and the months before
    # it that the comparisons average, and the onboarding window of the video rule
    video_start = month_start(as_of - timedelta(days=vid.until_days))
    top = month_start(as_of)
    video_months = (top.year - video_start.year) * 12 + top.month - video_start.month + 1
    months = max(
        mail.months + 2,
        content.months + 2,
        video_months if wanted["onboarding_videos_unwatched"] else 1,
    )
    columns = [c for c in COUNT_COLUMNS if logged[c]]
    grid = month_grid(usage, tenant_ids, as_of=as_of, months=months, columns=columns)
    age = features["days_since_contract_start"].to_numpy(dtype=np.float64)
    out: list[Signal] = []

    def add(code: str, severity: str, mask: np.ndarray) -> None:
        out.append(Signal(code, signal_kind(code), severity, linked & np.asarray(mask, bool)))

    with np.errstate(invalid="ignore"):
        if wanted["tutorial_not_completed"]:
            flag = features["tutorial_completed"].astype("boolean").fillna(False)
            completed = flag.to_numpy(dtype=bool) | grid.tutorial_by_as_of
            due = (age >= tut.days) & (age < tut.until_days)
            add("tutorial_not_completed", tut.severity, due & ~completed)
        if wanted["onboarding_videos_unwatched"]:
            add(
                "onboarding_videos_unwatched",
                vid.severity,
                _videos_unwatched(
                    features, grid, age, top, months, vid.min_contract_age_days, vid.until_days
                ),
            )
        if wanted["email_engagement_falling"]:
            falling = np.zeros(len(features), dtype=bool)
            for column, minimum in (
                ("email_opens", mail.min_average_opens),
                ("email_clicks", mail.min_average_clicks),
            ):
                if logged[column]:
                    sums = grid.sums[column]
                    average = sums[:, 2 : mail.months + 2].mean(axis=1)
                    falling |= _falling(sums[:, 1], average, mail.max_ratio, minimum)
            add("email_engagement_falling", mail.severity, falling)
        if wanted["content_interest_rising"]:
            views = sum(grid.sums[c] for c in ("video_views", "document_views") if logged[c])
            average = views[:, 2 : content.months + 2].mean(axis=1)
            rising = (views[:, 1] >= content.min_views) & (
                views[:, 1] >= content.min_ratio * average
            )
            add("content_interest_rising", content.severity, rising)
    return out


def _videos_unwatched(
    features: pd.DataFrame,
    grid: MonthGrid,
    age: np.ndarray,
    top: date,
    months: int,
    min_age: int,
    until: int,
) -> np.ndarray:
    """No video views from the contract-start month to the first-delivery month (inclusive;
    while there is none, up to the as-of month)."""
    start = features["contract_start"].to_numpy(dtype="datetime64[M]")
    top_number = top.year * 12 + top.month - 1
    known = ~np.isnat(start)
    start_number = np.where(known, start.astype(np.int64), 0) + 1970 * 12
    back = np.where(known, top_number - start_number, -1)  # months from start to as-of month
    j = np.arange(months)[None, :]
    after_start = j <= back[:, None]
    delivered = (
        (grid.sums["deliveries"] > 0) & after_start
        if "deliveries" in grid.sums
        else (np.zeros_like(after_start))
    )
    # the first delivery is the delivered month furthest back (largest j); none -> 0
    first = np.where(delivered.any(axis=1), months - 1 - np.argmax(delivered[:, ::-1], axis=1), 0)
    window = after_start & (j >= first[:, None])
    views = np.where(window, grid.sums["video_views"], 0.0).sum(axis=1)
    # A complete month (the scoring month or earlier) without a row had no views (SPEC §10);
    # the as-of month is judged only from the rows it has.
    rows = np.where(window, grid.sums[ROWS], 0.0).sum(axis=1)
    judged = (back >= 1) | (rows > 0)
    in_onboarding = known & (age >= min_age) & (age < until)
    return in_onboarding & judged & (views == 0)
