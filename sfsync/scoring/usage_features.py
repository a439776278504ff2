"""Usage rows -> per-tenant aggregates (SPEC §10): scoring and previous month values, last
login, tutorial flag, whether a tenant has any row.

Hashing the usage rows' ``tenant_id`` strings is the dominant cost of scoring (13 months of a
million tenants are 11M rows; each lookup in a table of a million keys is a cache miss). So
only the rows that can change a result are looked up in the full table of the accounts'
tenants:

- the scoring and previous month's rows (every month feature comes from them), the rows a
  tutorial flag may come from, and the rows whose ``last_login_date`` is on or after the
  first day of the previous month (the "threshold");
- every other row can only matter for the last login of a tenant whose latest login found so
  far is missing or before the threshold, or for whether a tenant without any looked-up row
  has rows at all. Those tenants are usually few, so the remaining rows are looked up in a
  small table of just them (a cache-resident lookup, several times cheaper).

The result is exactly the aggregate over all rows, whatever the data; only the speed depends
on how many tenants fall behind the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sfsync.calendar import to_day_array
from sfsync.scoring.arrays import encode_keys, find_in, text_array

COUNTS = ["deliveries", "login_days", "support_tickets", "video_views", "email_opens"]
COUNTS += ["email_clicks", "document_views", "email_delivered"]
RATIOS = ["pipeline_conversion_rate", "plan_usage_ratio"]
NAT_INT = np.iinfo(np.int64).min  # NaT's int64 representation


def float_rows(frame: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
    """The rows at positions ``rows`` of a column as float64 (NaN for missing)."""
    if column not in frame.columns:
        return np.full(len(rows), np.nan)
    values = frame[column]
    if values.dtype == np.float64:  # gather from a zero-copy view before any conversion
        return values.to_numpy()[rows]
    return pd.to_numeric(values.take(rows), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def month_mask(months: pd.Series, op: str, month: str) -> np.ndarray:
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


def sum_by(codes: np.ndarray, values: np.ndarray, size: int, seen: np.ndarray) -> np.ndarray:
    """Per-code sum of non-NaN values: 0 for a code without rows (``~seen``), NaN for a code
    whose rows are all NaN."""
    present = ~np.isnan(values)
    if present.all():  # the common case: one bincount
        return np.bincount(codes, weights=values, minlength=size)
    total = np.bincount(codes, weights=np.where(present, values, 0.0), minlength=size)
    count = np.bincount(codes, weights=present, minlength=size)
    return np.where(seen & (count == 0), np.nan, total)


def max_by(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Per-code maximum of non-NaN values; NaN where a code has none."""
    out = np.full(size, -np.inf)
    np.maximum.at(out, codes, np.where(np.isnan(values), -np.inf, values))
    return np.where(np.isneginf(out), np.nan, out)


def raw_dates(values: pd.Series) -> np.ndarray:
    """A date column as numpy datetime64 in its own unit, without copying when possible
    (millions of usage rows: converting every value to days would cost a full pass)."""
    if values.dtype.kind == "M" and getattr(values.dtype, "tz", None) is None:
        return values.to_numpy()
    return to_day_array(values)


def day_bound(raw: np.ndarray, day) -> int:
    """The int64 instant of midnight of ``day`` in ``raw``'s unit."""
    unit = np.datetime_data(raw.dtype)[0]
    return int(np.datetime64(day, "D").astype(f"datetime64[{unit}]").view(np.int64))


def latest_by(codes: np.ndarray, instants: np.ndarray, size: int) -> np.ndarray:
    """Per-code maximum of int64 instants (NaT, the int64 minimum, where a code has none)."""
    out = np.full(size, NAT_INT, dtype=np.int64)
    np.maximum.at(out, codes, instants)
    return out


def _earliest(values: pd.Series, rows: np.ndarray, codes: np.ndarray, size: int) -> np.ndarray:
    """Per code, the earliest date of ``values`` at ``rows`` (``datetime64[D]``, NaT: none)."""
    days = to_day_array(values.take(rows)).view(np.int64)
    out = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    dated = days != NAT_INT
    np.minimum.at(out, codes[dated], days[dated])
    out[out == np.iinfo(np.int64).max] = NAT_INT
    return out.view("datetime64[D]")


@dataclass(frozen=True)
class MonthRows:
    """The usage rows of one month whose tenant is known, and their tenant codes."""

    rows: np.ndarray
    codes: np.ndarray
    seen: np.ndarray  # per tenant code: has at least one row this month


@dataclass(frozen=True)
class TenantUsage:
    """Per-tenant aggregates; tenant codes number the accounts' distinct tenant ids.

    Month values are computed on request (:meth:`month_value`), so that a caller spreading
    them to accounts holds one per-tenant array at a time, not all of them."""

    usage: pd.DataFrame
    tenant_pos: np.ndarray  # per account row: tenant code, -1 when unlinked
    size: int  # number of distinct tenants
    values: dict[str, np.ndarray]  # last_login, tutorial_completed(_at), has_any_row per tenant
    months: dict[str, MonthRows]  # "this" (scoring month) and "prev" (previous month)

    def month_value(self, column: str, tag: str) -> np.ndarray:
        """Per tenant: the month's sum of a count column (0 without rows, NaN when every row
        is empty) or maximum of a ratio column (NaN without a value)."""
        month = self.months[tag]
        values = float_rows(self.usage, column, month.rows)
        if column in COUNTS:
            return sum_by(month.codes, values, self.size, month.seen)
        return max_by(month.codes, values, self.size)


def usage_by_tenant(
    usage: pd.DataFrame, account_tenants: pa.Array, month: str, prev: str, as_of: date
) -> TenantUsage:
    """Aggregate usage rows per tenant of ``account_tenants`` (the accounts' ``tenant_id``,
    empty as null): the scoring (``this``) and previous (``prev``) month's rows for
    :meth:`TenantUsage.month_value` (duplicate rows of one tenant and month are added up for
    counts, maxed for ratios; a tenant without a row in a month has 0 counts, SPEC §10),
    ``last_login``
    (``datetime64[D]``: the latest ``last_login_date`` on or before ``as_of``),
    ``tutorial_completed`` (any month up to the scoring month), ``tutorial_completed_at``
    (``datetime64[D]``: the earliest ``tutorial_completed_at`` of those rows, NaT without one)
    and ``has_any_row``."""
    this_mask = month_mask(usage["month"], "equal", month)
    prev_mask = month_mask(usage["month"], "equal", prev)
    lookup = this_mask | prev_mask
    raw = None
    if "last_login_date" in usage.columns:
        raw = raw_dates(usage["last_login_date"])
        instants = raw.view(np.int64)
        threshold = day_bound(raw, date(int(prev[:4]), int(prev[5:7]), 1))
        in_range = (instants != NAT_INT) & (instants < day_bound(raw, as_of + timedelta(days=1)))
        lookup |= in_range & (instants >= threshold)
    tutorial_mask = None
    if "tutorial_completed" in usage.columns:
        done = usage["tutorial_completed"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        tutorial_mask = month_mask(usage["month"], "less_equal", month) & done
        lookup |= tutorial_mask
    rows = np.flatnonzero(lookup)
    del lookup
    tenants_text = text_array(usage["tenant_id"], empty_as_null=False)
    tenant_pos, tenants, (codes,) = encode_keys(account_tenants, [tenants_text.take(rows)])
    size = len(tenants)
    known = codes >= 0
    rows, codes = rows[known], codes[known]

    out: dict[str, np.ndarray] = {}
    months: dict[str, MonthRows] = {}
    for tag, mask in (("this", this_mask), ("prev", prev_mask)):
        chosen = mask[rows]
        month_codes = codes[chosen]
        seen = np.bincount(month_codes, minlength=size) > 0
        months[tag] = MonthRows(rows[chosen], month_codes, seen)
    del this_mask, prev_mask

    tutorial = np.zeros(size, dtype=bool)
    completed_at = np.full(size, np.datetime64("NaT"), dtype="datetime64[D]")
    if tutorial_mask is not None:
        done_rows = tutorial_mask[rows]
        tutorial[codes[done_rows]] = True
        if "tutorial_completed_at" in usage.columns:
            completed_at = _earliest(usage["tutorial_completed_at"], rows[done_rows],
                                     codes[done_rows], size)  # fmt: skip
    out["tutorial_completed"] = tutorial
    out["tutorial_completed_at"] = completed_at

    has_any = np.zeros(size, dtype=bool)
    has_any[codes] = True
    latest = np.full(size, NAT_INT, dtype=np.int64)
    if raw is not None:
        ok = in_range[rows]
        latest = latest_by(codes[ok], instants[rows[ok]], size)
        behind = latest < threshold  # also every tenant without a dated row (NaT)
    else:
        behind = ~has_any
    # The rows not looked up yet can only matter for the tenants "behind": find their rows
    # with a lookup in a table of just those tenants.
    behind_codes = np.flatnonzero(behind)
    if len(behind_codes):
        hit_rows, found = find_in(tenants_text, tenants.take(pa.array(behind_codes)))
        hit_codes = behind_codes[found]
        has_any[hit_codes] = True
        if raw is not None:
            ok = in_range[hit_rows]
            more = latest_by(hit_codes[ok], instants[hit_rows[ok]], size)
            np.maximum(latest, more, out=latest)
    out["has_any_row"] = has_any
    unit = raw.dtype if raw is not None else np.dtype("datetime64[D]")
    out["last_login"] = latest.view(unit).astype("datetime64[D]")
    return TenantUsage(usage, tenant_pos, size, out, months)
