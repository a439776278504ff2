"""Canonical frames -> one row of measure inputs per account (SPEC §3, §10).

``build_features`` turns the accounts, usage and activities frames into a frame aligned with
the accounts frame (same row order, RangeIndex) holding every built-in input a scorecard can
name (see :data:`FEATURES`), plus the extra account/usage columns a scorecard declares in its
``inputs`` section. All work is vectorised: usage rows are mapped to integer tenant codes once
and aggregated with ``groupby`` on those codes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from sfsync.calendar import (
    calendar_months_until,
    days_between,
    month_text,
    previous_month,
    scoring_month,
    shift_months_clamped_array,
    to_day_array,
    whole_months_between,
)
from sfsync.errors import InputDataError
from sfsync.scoring.arrays import (
    encode_keys,
    factorize_text,
    release_unused_memory,
    text_array,
)
from sfsync.scoring.usage_features import (
    NAT_INT,
    RATIOS,
    TenantUsage,
    day_bound,
    latest_by,
    raw_dates,
    usage_by_tenant,
)


@dataclass(frozen=True)
class Feature:
    """A built-in measure input: its kind, and whether it comes from usage rows (so that it is
    not applicable for an account without ``tenant_id``)."""

    kind: str  # number | boolean | category
    usage: bool
    description: str


FEATURES: dict[str, Feature] = {
    "deliveries_this_month": Feature("number", True, "webinars delivered in the scoring month"),
    "deliveries_previous_month": Feature("number", True, "webinars delivered the month before"),
    "login_days_this_month": Feature("number", True, "login days in the scoring month"),
    "login_days_previous_month": Feature("number", True, "login days the month before"),
    "support_tickets_this_month": Feature("number", True, "support tickets, scoring month"),
    "support_tickets_previous_month": Feature("number", True, "support tickets, month before"),
    "pipeline_conversion_rate": Feature("number", True, "conversion rate 0-1, scoring month"),
    "plan_usage_ratio": Feature("number", True, "usage vs plan limit 0-1, scoring month"),
    "video_views_this_month": Feature("number", True, "video views, scoring month"),
    "email_opens_this_month": Feature("number", True, "email opens, scoring month"),
    "email_clicks_this_month": Feature("number", True, "email clicks, scoring month"),
    "document_views_this_month": Feature("number", True, "document views, scoring month"),
    "email_delivered_this_month": Feature("number", True, "emails delivered, scoring month"),
    "email_open_rate_this_month": Feature("number", True, "opens / delivered, scoring month"),
    "email_click_rate_this_month": Feature("number", True, "clicks / delivered, scoring month"),
    "tutorial_completed": Feature("boolean", True, "tutorial completed (any month so far)"),
    "days_to_tutorial": Feature("number", True, "contract start to tutorial completion, days"),
    "days_since_last_login": Feature("number", True, "as-of minus the latest last_login_date"),
    "days_since_last_touch": Feature("number", False, "as-of minus latest completed activity"),
    "meeting_this_quarter": Feature("boolean", False, "completed meeting/QBR in last 3 months"),
    "months_until_renewal": Feature("number", False, "calendar months until renewal_date"),
    "days_until_renewal": Feature("number", False, "days until renewal_date"),
    "months_since_contract_start": Feature("number", False, "whole months since contract_start"),
    "arr": Feature("number", False, "annual contract value (JPY)"),
    "is_enterprise": Feature("boolean", False, "enterprise flag"),
    "industry": Feature("category", False, "industry"),
    "competitor_evaluation": Feature("boolean", False, "competitor evaluation flagged"),
}

# usage count columns read as scoring-month sums (``<column>_this_month``)
ENGAGEMENT_COUNTS = ("video_views", "document_views", "email_delivered", "email_opens",
                     "email_clicks")  # fmt: skip
# the usage columns some built-in input reads (any other numeric usage column can be declared
# under a scorecard's ``inputs``: its scoring-month value)
USAGE_COLUMNS_READ = ("deliveries", "login_days", "support_tickets", *ENGAGEMENT_COUNTS,
                      "pipeline_conversion_rate", "plan_usage_ratio", "last_login_date",
                      "tutorial_completed", "tutorial_completed_at")  # fmt: skip
ACCOUNT_COLUMNS = ["account_id", "tenant_id"]
USAGE_COLUMNS = ["tenant_id", "month"]
ACTIVITY_COLUMNS = ["account_id", "date", "type", "completed"]


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputDataError(f"{name} frame lacks required column(s): {', '.join(missing)}")


def _float(frame: pd.DataFrame, column: str, mask: np.ndarray | None = None) -> np.ndarray:
    """A column as float64 (NaN for missing), optionally only the rows of ``mask``."""
    if column not in frame.columns:
        return np.full(len(frame) if mask is None else int(mask.sum()), np.nan)
    values = frame[column]
    if values.dtype == np.float64:  # zero-copy view; mask before any conversion
        arr = values.to_numpy()
        return arr if mask is None else arr[mask]
    if mask is not None:
        values = values[mask]
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _bool(frame: pd.DataFrame, column: str) -> pd.Series:
    """A nullable boolean column (missing column -> all NA)."""
    if column not in frame.columns:
        return pd.Series(pd.array([pd.NA] * len(frame), dtype="boolean"))
    return frame[column].astype("boolean").reset_index(drop=True)


@dataclass(frozen=True)
class Features:
    """Per-account measure inputs aligned with the accounts frame."""

    frame: pd.DataFrame  # one column per built-in feature and declared extra input
    linked: np.ndarray  # bool: account has a tenant_id
    scoring_month: str
    previous_month: str
    account_ids: pa.Array  # the accounts' ids in row order (checked: present and unique)
    previous_positions: np.ndarray | None  # per row of ``previous_ids``: account row or -1


def _completed_rows(activities: pd.DataFrame, as_of: date) -> np.ndarray:
    """Positions of the completed activities dated on or before ``as_of`` (the only ones
    whose account key needs hashing)."""
    raw = raw_dates(activities["date"])
    ints = raw.view(np.int64)
    completed = _bool(activities, "completed").fillna(False).to_numpy(dtype=bool)
    bound = day_bound(raw, as_of + timedelta(days=1))
    return np.flatnonzero(completed & (ints != NAT_INT) & (ints < bound))


def _activity_features(
    activities: pd.DataFrame, rows: np.ndarray, codes: np.ndarray, n: int, as_of: date
) -> tuple[np.ndarray, np.ndarray]:
    """Days since the latest completed touch, and meeting-this-quarter, per account position.

    ``rows`` are the completed activities up to ``as_of`` and ``codes`` their account
    positions (-1 for an unknown account)."""
    known = codes >= 0
    rows, codes = rows[known], codes[known]
    raw = raw_dates(activities["date"])
    dates = raw[rows]
    latest = latest_by(codes, dates.view(np.int64), n).view(raw.dtype).astype("datetime64[D]")
    quarter_start = shift_months_clamped_array(np.array([np.datetime64(as_of, "D")]), -3)[0]
    after = dates.view(np.int64) >= day_bound(raw, quarter_start.astype(date) + timedelta(days=1))
    recent_rows, recent_codes = rows[after], codes[after]
    type_codes, type_names = factorize_text(activities["type"].take(recent_rows))
    meeting_types = [
        i for i, t in enumerate(type_names.to_pylist()) if t.strip().lower() in ("meeting", "qbr")
    ]
    met = np.zeros(n, dtype=bool)
    met[recent_codes[np.isin(type_codes, meeting_types)]] = True
    return days_between(latest, as_of), met


def _check_account_ids(codes: np.ndarray, ids: pa.Array, n: int) -> None:
    """Every account has an id and no id appears twice."""
    if len(ids) == n:
        return
    if (codes < 0).any():
        raise InputDataError(f"{int((codes < 0).sum())} account(s) have no account_id")
    dupe = ids[int(np.bincount(codes).argmax())].as_py()
    raise InputDataError(
        f"accounts contain duplicate account_id values, e.g. {dupe}; each account must appear once"
    )


def _encode_account_ids(
    accounts: pd.DataFrame,
    activities: pd.DataFrame,
    done_rows: np.ndarray,
    previous_ids: pd.Series | None,
):
    """Account ids, the completed activities' and the previous snapshot's account ids, hashed
    with one table (:func:`encode_keys`). All activities are looked up (a zero-copy view;
    copying out the completed ones would cost more memory than the extra lookups cost time)."""
    others = [text_array(activities["account_id"], empty_as_null=False)]
    if previous_ids is not None:
        others.append(text_array(previous_ids, empty_as_null=False))
    id_codes, account_ids, (activity_codes, *prev_codes) = encode_keys(
        text_array(accounts["account_id"]), others
    )
    return id_codes, account_ids, (activity_codes[done_rows], *prev_codes)


def build_features(
    accounts: pd.DataFrame,
    usage: pd.DataFrame,
    activities: pd.DataFrame,
    *,
    as_of: date,
    extra_inputs: dict[str, str] | None = None,
    previous_ids: pd.Series | None = None,
) -> Features:
    """Compute every built-in feature (and declared extra inputs) for each account row.

    ``extra_inputs`` maps a column name to ``accounts`` or ``usage`` (scoring-month value).
    ``previous_ids``: the previous snapshot's account ids, matched to account rows in the same
    pass (:attr:`Features.previous_positions`). Raises :class:`InputDataError` when an account
    has no id or an id appears twice.
    """
    _require(accounts, ACCOUNT_COLUMNS, "accounts")
    _require(usage, USAGE_COLUMNS, "usage")
    _require(activities, ACTIVITY_COLUMNS, "activities")
    month = month_text(scoring_month(as_of))
    prev = previous_month(month)
    n = len(accounts)
    done_rows = _completed_rows(activities, as_of)
    # The two key spaces are hashed at the same time (Arrow releases the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool:
        by_account = pool.submit(_encode_account_ids, accounts, activities, done_rows, previous_ids)
        usage_agg = usage_by_tenant(usage, text_array(accounts["tenant_id"]), month, prev, as_of)
        id_codes, account_ids, (done_codes, *prev_codes) = by_account.result()
    _check_account_ids(id_codes, account_ids, n)
    release_unused_memory()  # the hash tables and key copies of the lookups
    tenant_pos = usage_agg.tenant_pos
    linked = tenant_pos >= 0
    per_tenant = usage_agg.values

    safe_pos = np.maximum(tenant_pos, 0)

    def spread(values: np.ndarray, fill) -> np.ndarray:
        if len(values) == 0:  # (NaN cannot fill an integer array)
            return np.full(n, fill, dtype=np.result_type(values.dtype, np.asarray(fill).dtype))
        return np.where(linked, values[safe_pos], fill)

    def take(name: str, fill) -> np.ndarray:
        return spread(per_tenant.pop(name), fill)

    def month_value(column: str, tag: str) -> np.ndarray:
        return spread(usage_agg.month_value(column, tag), np.nan)

    f: dict[str, object] = {}
    for tag, suffix in (("this", "this_month"), ("prev", "previous_month")):
        for column in ("deliveries", "login_days", "support_tickets"):
            f[f"{column}_{suffix}"] = month_value(column, tag)
    for column in ENGAGEMENT_COUNTS:
        f[f"{column}_this_month"] = month_value(column, "this")
    delivered = f["email_delivered_this_month"]
    for column, rate in (("email_opens", "email_open_rate"), ("email_clicks", "email_click_rate")):
        with np.errstate(divide="ignore", invalid="ignore"):
            f[f"{rate}_this_month"] = np.where(
                delivered > 0, f[f"{column}_this_month"] / delivered, np.nan
            )
    for column in RATIOS:
        f[column] = month_value(column, "this")
    last_login = take("last_login", np.datetime64("NaT"))
    f["last_login_date"] = last_login
    f["days_since_last_login"] = days_between(last_login, as_of)
    tutorial = pd.array(take("tutorial_completed", False), dtype="boolean")
    tutorial[~linked] = pd.NA
    f["tutorial_completed"] = tutorial
    tutorial_at = take("tutorial_completed_at", np.datetime64("NaT"))
    f["has_usage_rows"] = take("has_any_row", False)

    f["days_since_last_touch"], f["meeting_this_quarter"] = _activity_features(
        activities, done_rows, done_codes, n, as_of
    )
    renewal = to_day_array(accounts["renewal_date"]) if "renewal_date" in accounts else None
    start = to_day_array(accounts["contract_start"]) if "contract_start" in accounts else None
    nat = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    renewal = nat if renewal is None else renewal
    start = nat if start is None else start
    f["renewal_date"] = renewal
    f["contract_start"] = start
    f["months_until_renewal"] = calendar_months_until(as_of, renewal)
    f["days_until_renewal"] = -days_between(renewal, as_of)
    f["months_since_contract_start"] = whole_months_between(start, as_of)
    f["days_since_contract_start"] = days_between(start, as_of)
    to_tutorial = (np.asarray(tutorial_at, dtype="datetime64[D]") - start).astype("timedelta64[D]")
    f["days_to_tutorial"] = np.where(
        np.isnat(to_tutorial), np.nan, to_tutorial.astype(np.int64).astype(np.float64)
    )
    f["arr"] = _float(accounts, "arr")
    f["is_enterprise"] = _bool(accounts, "is_enterprise").array
    f["competitor_evaluation"] = _bool(accounts, "competitor_evaluation").array
    f["industry"] = (
        accounts["industry"].reset_index(drop=True)
        if "industry" in accounts
        else pd.Series([None] * n, dtype="string")
    )

    frame = pd.DataFrame(f, copy=False)
    for column, source in (extra_inputs or {}).items():
        frame[column] = _extra_input(accounts, usage, column, source, usage_agg)
    return Features(
        frame=frame,
        linked=linked,
        scoring_month=month,
        previous_month=prev,
        account_ids=account_ids,
        previous_positions=prev_codes[0] if prev_codes else None,
    )


def _extra_input(accounts, usage, column, source, usage_agg: TenantUsage) -> pd.Series:
    """An extra account column as is, or a usage column's scoring-month value per account."""
    if source == "accounts":
        if column not in accounts.columns:
            raise InputDataError(
                f"the scorecard reads accounts column '{column}', which the accounts data lacks"
            )
        return accounts[column].reset_index(drop=True)
    if column not in usage.columns:
        raise InputDataError(
            f"the scorecard reads usage column '{column}', which the usage data lacks"
        )
    this = usage_agg.months["this"]
    values = usage[column].take(this.rows).reset_index(drop=True)
    per_tenant = values.groupby(this.codes).max()
    return per_tenant.reindex(usage_agg.tenant_pos).reset_index(drop=True)  # -1 -> missing
