"""Canonical frames -> one row of measure inputs per account (SPEC §3, §10).

``build_features`` turns the accounts, usage and activities frames into a frame aligned with
the accounts frame (same row order, RangeIndex) holding every built-in input a scorecard can
name (see :data:`FEATURES`), plus the extra account/usage columns a scorecard declares in its
``inputs`` section. All work is vectorised: usage rows are mapped to integer tenant codes once
and aggregated with ``groupby`` on those codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sfsync.errors import InputDataError
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


def _float(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _bool(frame: pd.DataFrame, column: str) -> pd.Series:
    """A nullable boolean column (missing column -> all NA)."""
    if column not in frame.columns:
        return pd.Series(pd.array([pd.NA] * len(frame), dtype="boolean"))
    return frame[column].astype("boolean").reset_index(drop=True)


def _text_key(values: pd.Series) -> pd.Series:
    """Trimmed strings with empty -> NA (join keys such as account_id, tenant_id)."""
    return values.astype("string").str.strip().replace("", pd.NA).reset_index(drop=True)


def _arrow_text(values: pd.Series) -> pa.ChunkedArray | pa.Array:
    """A string column as an Arrow array, trimmed, empty -> null (zero-copy for ``str``)."""
    if not pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        values = values.astype("string")
    trimmed = pc.utf8_trim_whitespace(pa.array(values, type=pa.string(), from_pandas=True))
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _codes(values: pd.Series, keys: pd.Index) -> np.ndarray:
    """Position of each value in ``keys`` (unique, already trimmed), -1 when absent or NA.

    Arrow's hash lookup is several times faster than ``Index.get_indexer`` on strings, which
    matters for 13 million usage rows."""
    if len(keys) == 0 or len(values) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    value_set = pa.array(keys.to_numpy(dtype=object), type=pa.string())
    found = pc.index_in(_arrow_text(values), value_set=value_set)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _month_mask(months: pd.Series, op: str, month: str) -> np.ndarray:
    """``months <op> month`` on a ``YYYY-MM`` column (also accepts dates and periods)."""
    if isinstance(months.dtype, pd.PeriodDtype) or pd.api.types.is_datetime64_any_dtype(
        months.dtype
    ):
        months = months.dt.strftime("%Y-%m")
    text = pc.utf8_slice_codeunits(_arrow_text(months), 0, 7)
    result = getattr(pc, op)(text, month)
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


def _max_day_by(codes: np.ndarray, days: np.ndarray, size: int) -> np.ndarray:
    """Per-code latest date (``datetime64[D]``); NaT where a code has no date."""
    keep = ~np.isnat(days)
    out = np.full(size, np.iinfo(np.int64).min)
    np.maximum.at(out, codes[keep], days[keep].astype(np.int64))
    result = out.astype("datetime64[D]")
    return np.where(out == np.iinfo(np.int64).min, np.datetime64("NaT"), result)


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
    codes = _codes(usage["tenant_id"], tenants)
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
            values = _float(usage, column)[mask]
            if column in _COUNTS:
                # A linked tenant with no usage row in a month used 0 that month (SPEC §10);
                # an empty cell in an existing row stays missing.
                out[f"{column}_{tag}"] = np.where(seen, _sum_by(month_codes, values, size), 0.0)
            else:
                out[f"{column}_{tag}"] = _max_by(month_codes, values, size)
    latest = np.full(size, np.datetime64("NaT"), dtype="datetime64[D]")
    if "last_login_date" in usage.columns:
        last_login = to_day_array(usage["last_login_date"])
        keep = valid & (last_login <= np.datetime64(as_of, "D"))
        latest = _max_day_by(codes[keep], last_login[keep], size)
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
    activities: pd.DataFrame, account_index: pd.Index, as_of: date
) -> tuple[np.ndarray, np.ndarray]:
    """Days since the latest completed touch, and meeting-this-quarter, per account position."""
    n = len(account_index)
    codes = _codes(activities["account_id"], account_index)
    days = to_day_array(activities["date"])
    completed = _bool(activities, "completed").fillna(False).to_numpy(dtype=bool)
    as_of_d = np.datetime64(as_of, "D")
    done = (codes >= 0) & completed & ~np.isnat(days) & (days <= as_of_d)
    latest = _max_day_by(codes[done], days[done], n)
    kind = activities["type"].astype("string").str.strip().str.lower().to_numpy(na_value="")
    quarter_start = add_months_array(np.array([as_of_d]), -3)[0]
    meeting = done & np.isin(kind, ["meeting", "qbr"]) & (days > quarter_start)
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
    tenant_key = _text_key(accounts["tenant_id"])
    linked = tenant_key.notna().to_numpy()
    tenants = pd.Index(tenant_key[linked].unique())
    tenant_pos = _codes(accounts["tenant_id"], tenants)
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

    account_index = pd.Index(_text_key(accounts["account_id"]))
    f["days_since_last_touch"], f["meeting_this_quarter"] = _activity_features(
        activities, account_index, as_of
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
    industry = accounts["industry"] if "industry" in accounts else pd.Series([pd.NA] * n)
    f["industry"] = _text_key(industry).array

    frame = pd.DataFrame(f)
    for column, source in (extra_inputs or {}).items():
        frame[column] = _extra_input(accounts, usage, column, source, tenants, tenant_pos, month)
    return Features(frame=frame, linked=linked, scoring_month=month, previous_month=prev)


def _extra_input(accounts, usage, column, source, tenants, tenant_pos, month) -> pd.Series:
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
    codes = _codes(usage["tenant_id"], tenants)
    mask = _month_mask(usage["month"], "equal", month) & (codes >= 0)
    values = usage.loc[mask, column].reset_index(drop=True)
    per_tenant = values.groupby(codes[mask]).max()
    return per_tenant.reindex(tenant_pos).reset_index(drop=True)
