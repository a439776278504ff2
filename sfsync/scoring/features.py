"""Canonical frames -> one row of measure inputs per account (SPEC §3, §10).

``build_features`` turns the accounts, usage and activities frames into a frame aligned with
the accounts frame (same row order, RangeIndex) holding every built-in input a scorecard can
name (see :data:`FEATURES`), plus the extra account/usage columns a scorecard declares in its
``inputs`` section. All work is vectorised: usage rows are mapped to integer tenant codes once
and aggregated with ``groupby`` on those codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sfsync.errors import InputDataError
from sfsync.scoring.arrays import factorize_text, index_in, text_array
from sfsync.scoring.calendar import (
    add_months_array,
    calendar_months_until,
    days_between,
    previous_month,
    scoring_month,
    to_day_array,
    whole_months_between,
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
    "tutorial_completed": Feature("boolean", True, "tutorial completed (any month so far)"),
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

ACCOUNT_COLUMNS = ["account_id", "tenant_id"]
USAGE_COLUMNS = ["tenant_id", "month"]
ACTIVITY_COLUMNS = ["account_id", "date", "type", "completed"]
_COUNTS = ["deliveries", "login_days", "support_tickets", "video_views", "email_opens"]
_COUNTS += ["email_clicks"]
_RATIOS = ["pipeline_conversion_rate", "plan_usage_ratio"]


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


def _month_mask(months: pd.Series, op: str, month: str) -> np.ndarray:
    """``months <op> month`` on a ``YYYY-MM`` column (dates and periods are formatted first)."""
    if isinstance(months.dtype, pd.PeriodDtype) or pd.api.types.is_datetime64_any_dtype(
        months.dtype
    ):
        months = months.dt.strftime("%Y-%m")
    text = text_array(months, empty_as_null=False)
    if op == "equal":  # also accepts "YYYY-MM-DD" month cells
        result = pc.starts_with(text, month)
    else:
        result = getattr(pc, op)(pc.utf8_slice_codeunits(text, 0, 7), month)
    return pc.fill_null(result, False).to_numpy(zero_copy_only=False).astype(bool)


def _sum_by(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Per-code sum of non-NaN values; NaN where a code has no non-NaN value."""
    present = ~np.isnan(values)
    total = np.bincount(codes, weights=np.where(present, values, 0.0), minlength=size)
    count = np.bincount(codes, weights=present, minlength=size)
    return np.where(count > 0, total, np.nan)


def _max_by(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Per-code maximum of non-NaN values; NaN where a code has none."""
    out = np.full(size, -np.inf)
    np.maximum.at(out, codes, np.where(np.isnan(values), -np.inf, values))
    return np.where(np.isneginf(out), np.nan, out)


_NAT_INT = np.iinfo(np.int64).min  # NaT's int64 representation


def _raw_dates(values: pd.Series) -> np.ndarray:
    """A date column as numpy datetime64 in its own unit, without copying when possible
    (millions of usage rows: converting every value to days would cost a full pass)."""
    if values.dtype.kind == "M" and getattr(values.dtype, "tz", None) is None:
        return values.to_numpy()
    return to_day_array(values)


def _day_bound(raw: np.ndarray, day) -> int:
    """The int64 instant of midnight of ``day`` in ``raw``'s unit."""
    unit = np.datetime_data(raw.dtype)[0]
    return int(np.datetime64(day, "D").astype(f"datetime64[{unit}]").view(np.int64))


def _latest_by(codes: np.ndarray, raw: np.ndarray, keep: np.ndarray, size: int) -> np.ndarray:
    """Per-code latest date among rows of ``keep`` (``datetime64[D]``; NaT when none)."""
    slots = np.where(keep, codes, size)  # rows not kept go to a spare slot; NaT is int64 min
    out = np.full(size + 1, _NAT_INT, dtype=np.int64)
    np.maximum.at(out, slots, raw.view(np.int64))
    return out[:size].view(raw.dtype).astype("datetime64[D]")


@dataclass(frozen=True)
class Features:
    """Per-account measure inputs aligned with the accounts frame."""

    frame: pd.DataFrame  # one column per built-in feature and declared extra input
    linked: np.ndarray  # bool: account has a tenant_id
    scoring_month: str
    previous_month: str


def _usage_by_tenant(
    usage: pd.DataFrame, tenants: pd.Index, month: str, prev: str, as_of: date
) -> dict[str, np.ndarray]:
    """Aggregate usage rows per tenant code: scoring/previous month values and last login.

    Duplicate rows of one tenant and month are added up (counts) or maxed (ratios)."""
    size = len(tenants)
    codes = index_in(usage["tenant_id"], tenants)
    valid = codes >= 0
    out: dict[str, np.ndarray] = {}
    for tag, which in (("this", month), ("prev", prev)):
        mask = _month_mask(usage["month"], "equal", which) & valid
        month_codes = codes[mask]
        seen = np.bincount(month_codes, minlength=size) > 0
        out[f"has_row_{tag}"] = seen
        columns = _COUNTS + _RATIOS if tag == "this" else ["deliveries", "login_days"]
        columns = columns + (["support_tickets"] if tag == "prev" else [])
        for column in columns:
            values = _float(usage, column, mask)
            if column in _COUNTS:
                # A linked tenant with no usage row in a month used 0 that month (SPEC §10);
                # an empty cell in an existing row stays missing.
                out[f"{column}_{tag}"] = np.where(seen, _sum_by(month_codes, values, size), 0.0)
            else:
                out[f"{column}_{tag}"] = _max_by(month_codes, values, size)
    latest = np.full(size, np.datetime64("NaT"), dtype="datetime64[D]")
    if "last_login_date" in usage.columns:
        raw = _raw_dates(usage["last_login_date"])
        before_end = raw.view(np.int64) < _day_bound(raw, as_of + timedelta(days=1))
        latest = _latest_by(codes, raw, valid & before_end, size)
    out["last_login"] = latest
    tutorial = np.zeros(size, dtype=bool)
    if "tutorial_completed" in usage.columns:
        done = _bool(usage, "tutorial_completed").fillna(False).to_numpy(dtype=bool)
        until = _month_mask(usage["month"], "less_equal", month) & valid & done
        tutorial[codes[until]] = True
    out["tutorial_completed"] = tutorial
    out["has_any_row"] = np.bincount(codes[valid], minlength=size) > 0
    return out


def _activity_features(
    activities: pd.DataFrame, account_ids: pa.Array, as_of: date
) -> tuple[np.ndarray, np.ndarray]:
    """Days since the latest completed touch, and meeting-this-quarter, per account position
    (``account_ids`` are the accounts' ids in row order, unique)."""
    n = len(account_ids)
    raw = _raw_dates(activities["date"])
    ints = raw.view(np.int64)
    completed = _bool(activities, "completed").fillna(False).to_numpy(dtype=bool)
    done = completed & (ints != _NAT_INT) & (ints < _day_bound(raw, as_of + timedelta(days=1)))
    codes = np.full(len(activities), -1, dtype=np.int64)
    ids = text_array(activities["account_id"], empty_as_null=False).filter(pa.array(done))
    codes[done] = index_in(ids, account_ids)  # hash only the activities that count
    done &= codes >= 0
    latest = _latest_by(codes, raw, done, n)
    type_codes, type_names = factorize_text(activities["type"])
    meeting_types = [
        i for i, t in enumerate(type_names.to_pylist()) if t.strip().lower() in ("meeting", "qbr")
    ]
    quarter_start = add_months_array(np.array([np.datetime64(as_of, "D")]), -3)[0]
    after_start = ints >= _day_bound(raw, quarter_start.astype(date) + timedelta(days=1))
    meeting = done & np.isin(type_codes, meeting_types) & after_start
    met = np.zeros(n, dtype=bool)
    met[codes[meeting]] = True
    return days_between(latest, as_of), met


def build_features(
    accounts: pd.DataFrame,
    usage: pd.DataFrame,
    activities: pd.DataFrame,
    *,
    as_of: date,
    extra_inputs: dict[str, str] | None = None,
    account_ids=None,
) -> Features:
    """Compute every built-in feature (and declared extra inputs) for each account row.

    ``extra_inputs`` maps a column name to ``accounts`` or ``usage`` (scoring-month value).
    """
    _require(accounts, ACCOUNT_COLUMNS, "accounts")
    _require(usage, USAGE_COLUMNS, "usage")
    _require(activities, ACTIVITY_COLUMNS, "activities")
    month = scoring_month(as_of)
    prev = previous_month(month)
    n = len(accounts)
    if account_ids is None:
        account_ids = text_array(accounts["account_id"])
    tenant_pos, tenants = factorize_text(accounts["tenant_id"])
    linked = tenant_pos >= 0
    per_tenant = _usage_by_tenant(usage, tenants, month, prev, as_of)

    safe_pos = np.maximum(tenant_pos, 0)

    def take(name: str, fill) -> np.ndarray:
        values = per_tenant[name]
        if len(values) == 0:
            return np.full(n, fill, dtype=values.dtype)
        return np.where(linked, values[safe_pos], fill)

    f: dict[str, object] = {}
    for tag, suffix in (("this", "this_month"), ("prev", "previous_month")):
        for column in ("deliveries", "login_days", "support_tickets"):
            f[f"{column}_{suffix}"] = take(f"{column}_{tag}", np.nan)
    for column in ("video_views", "email_opens", "email_clicks"):
        f[f"{column}_this_month"] = take(f"{column}_this", np.nan)
    for column in _RATIOS:
        f[column] = take(f"{column}_this", np.nan)
    last_login = take("last_login", np.datetime64("NaT"))
    f["last_login_date"] = last_login
    f["days_since_last_login"] = days_between(last_login, as_of)
    tutorial = pd.array(take("tutorial_completed", False), dtype="boolean")
    tutorial[~linked] = pd.NA
    f["tutorial_completed"] = tutorial
    f["has_usage_rows"] = take("has_any_row", False)

    f["days_since_last_touch"], f["meeting_this_quarter"] = _activity_features(
        activities, account_ids, as_of
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
        frame[column] = _extra_input(accounts, usage, column, source, tenants, tenant_pos, month)
    return Features(frame=frame, linked=linked, scoring_month=month, previous_month=prev)


def _extra_input(accounts, usage, column, source, tenants, tenant_pos, month) -> pd.Series:
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
    codes = index_in(usage["tenant_id"], tenants)
    mask = _month_mask(usage["month"], "equal", month) & (codes >= 0)
    values = usage.loc[mask, column].reset_index(drop=True)
    per_tenant = values.groupby(codes[mask]).max()
    return per_tenant.reindex(tenant_pos).reset_index(drop=True)  # -1 (unlinked) -> missing
