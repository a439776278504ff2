"""Tech-touch engagement logs (SPEC §3, seed 000): the per-content log and the tutorial date.

A usage source may come with a *per-content log* (``content_log:`` in the job's usage
source): one row per tenant, month and content (a video, a document or a mail) with its
``views`` (for a mail: opens) and optionally a ``completion_ratio`` (0–1). Its column mapping
(``mappings/columns/content_log.yaml``) checks the kind and the ratio like any other input:
a kind other than video/document/mail or a ratio outside 0–1 quarantines the row with the
reason. :func:`aggregate_content_log` sums the views per tenant and month into the canonical
usage columns ``video_views``, ``document_views`` and ``email_opens``, and
:func:`merge_engagement` fills them into the usage rows:

- a value the usage row has itself wins; the log fills the empty cells only;
- a kind the log holds no row of at all is not known: its column is left as it was;
- within the months the log covers, a tenant-month without rows of a kind had no views (0);
- rows of tenant-months that have no usage row are not added (the scoring reads usage rows);
  they are counted (:attr:`EngagementMerge.unmatched_rows`) for the log.

:func:`derive_tutorial_completed` fills ``tutorial_completed`` (bool) from
``tutorial_completed_at`` (date) where the source gave no boolean: a tenant's tutorial counts
as completed in every month that ends on or after its first completion date.

Everything here is pure: frames in, frames out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

# content kind -> the canonical usage column its views add up to
KIND_COLUMNS = {"video": "video_views", "document": "document_views", "mail": "email_opens"}
CONTENT_KINDS = tuple(KIND_COLUMNS)
CONTENT_COLUMNS = ("tenant_id", "month", "content_id", "kind", "views", "completion_ratio")
KEY = ["tenant_id", "month"]


@dataclass(frozen=True)
class EngagementMerge:
    """Usage rows with the log's engagement filled in, and what could not be placed."""

    frame: pd.DataFrame
    filled: dict[str, int]  # cells filled per canonical column
    unmatched_rows: int  # aggregated tenant-months that have no usage row


def aggregate_content_log(log: pd.DataFrame) -> pd.DataFrame:
    """Views per tenant and month, by kind, as canonical usage columns.

    ``log`` holds valid content rows (``tenant_id``, ``month``, ``kind``, ``views``). The result
    has ``tenant_id``, ``month`` and one column per kind that occurs in the log (see
    :data:`KIND_COLUMNS`); a tenant-month without rows of a present kind gets 0.
    """
    kinds = [k for k in CONTENT_KINDS if k in set(log["kind"].dropna())]
    if log.empty or not kinds:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in KEY})
    views = pd.to_numeric(log["views"], errors="coerce").fillna(0.0).astype("float64")
    table = (
        pd.DataFrame(
            {
                "tenant_id": log["tenant_id"],
                "month": log["month"],
                "kind": log["kind"],
                "views": views,
            }
        )  # fmt: skip
        .pivot_table(index=KEY, columns="kind", values="views", aggfunc="sum", fill_value=0.0)
        .reindex(columns=kinds, fill_value=0.0)
        .rename(columns=KIND_COLUMNS)
        .reset_index()
    )
    table.columns.name = None
    return table.astype({KIND_COLUMNS[k]: "float64" for k in kinds})


def merge_engagement(usage: pd.DataFrame, aggregated: pd.DataFrame) -> EngagementMerge:
    """Fill ``usage``'s engagement columns from the aggregated content log (rules: module doc).

    ``usage`` keeps its rows, order and index; only empty cells of the log's columns change.
    """
    columns = [c for c in KIND_COLUMNS.values() if c in aggregated.columns]
    if not columns or usage.empty:
        return EngagementMerge(usage, {c: 0 for c in columns}, len(aggregated))
    keys = pd.MultiIndex.from_frame(usage[KEY].astype(str))
    by_key = aggregated.assign(**{k: aggregated[k].astype(str) for k in KEY}).set_index(KEY)
    first, last = str(aggregated["month"].min()), str(aggregated["month"].max())
    covered = usage["month"].astype(str).between(first, last).to_numpy()
    out = usage.copy(deep=False)  # copy-on-write: the columns set below are the copy's own
    filled = {}
    for column in columns:
        logged = by_key[column].reindex(keys).to_numpy()
        logged = pd.Series(logged, index=usage.index, dtype="float64")
        logged = logged.where(logged.notna() | ~covered, 0.0)  # covered month, no row: no views
        current = (
            pd.to_numeric(out[column], errors="coerce").astype("float64")
            if column in out.columns
            else pd.Series(float("nan"), index=usage.index)
        )
        gap = current.isna() & logged.notna()
        out[column] = current.where(~gap, logged)
        filled[column] = int(gap.sum())
    unmatched = int((~by_key.index.isin(keys)).sum())
    return EngagementMerge(out, filled, unmatched)


def first_tutorial_completions(usage: pd.DataFrame, until: date | None = None) -> pd.Series:
    """Each tenant's earliest ``tutorial_completed_at`` (on or before ``until`` when given),
    indexed by tenant id as text; tenants without one are left out."""
    if "tutorial_completed_at" not in usage or "tenant_id" not in usage:
        return pd.Series(dtype="datetime64[ns]", index=pd.Index([], dtype="string"))
    at = pd.to_datetime(usage["tutorial_completed_at"], errors="coerce").astype("datetime64[ns]")
    keep = at.notna()
    if until is not None:
        keep &= at <= pd.Timestamp(until)
    return at[keep].groupby(usage.loc[keep, "tenant_id"].astype("string")).min()


def derive_tutorial_completed(usage: pd.DataFrame) -> pd.DataFrame:
    """``tutorial_completed`` filled from ``tutorial_completed_at`` where it is empty.

    A tenant's completion date is the earliest ``tutorial_completed_at`` on any of its rows (a
    source may give the date on the month of completion only, or on every row); the tutorial
    is completed in a month when that date is on or before the month's last day, and
    ``tutorial_completed_at`` holds that date on every row of the tenant. Without any
    ``tutorial_completed_at`` value the frame is returned unchanged.
    """
    if "tutorial_completed_at" not in usage.columns or usage.empty:
        return usage
    dates = pd.to_datetime(usage["tutorial_completed_at"], errors="coerce")
    if dates.isna().all():
        return usage
    first = dates.groupby(usage["tenant_id"]).transform("min")
    codes, distinct = pd.factorize(usage["month"])  # a few dozen months: parse each once
    ends = pd.to_datetime(pd.Index(distinct).astype(str) + "-01", format="%Y-%m-%d")
    month_end = (ends + pd.offsets.MonthEnd(0)).to_numpy()[codes]
    derived = pd.Series(
        first.notna().to_numpy() & (first.to_numpy() <= month_end),
        index=usage.index,
        dtype="boolean",
    )
    out = usage.copy(deep=False)  # copy-on-write: the columns set below are the copy's own
    given = (
        out["tutorial_completed"].astype("boolean")
        if "tutorial_completed" in out.columns
        else pd.Series(pd.NA, index=out.index, dtype="boolean")
    )
    out["tutorial_completed"] = given.fillna(derived)
    out["tutorial_completed_at"] = first.astype("datetime64[ns]")
    return out
