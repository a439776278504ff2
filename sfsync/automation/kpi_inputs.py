"""Gather the inputs of the monthly KPIs: snapshots from the state store, the CS context from
Salesforce (or CSV files of canonical columns), usage and MRR from files.

Every input that cannot be had is listed in ``KpiInputs.missing`` as a :class:`MissingInput`
(a key of the ``kpi_missing_inputs`` templates, which say what to do about it, and its
placeholders); the KPIs that need it are then ``n/a`` rather than wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import structlog

from sfsync.automation.kpi import month_bounds
from sfsync.calendar import month_text, scoring_month, shift_month_text
from sfsync.config import DEFAULT_BULK_THRESHOLD
from sfsync.errors import InputDataError
from sfsync.sources import salesforce as sf_source
from sfsync.sources.columns import apply_mapping
from sfsync.sources.sfsync_tasks import read_sfsync_tasks
from sfsync.state.signals import signals_first_seen
from sfsync.state.snapshots import history

log = structlog.get_logger(__name__)

DATE_COLUMNS = {
    "contract_start",
    "renewal_date",
    "churned_on",
    "date",
    "last_login_date",
    "activity_date",
    "as_of",
}
BOOL_COLUMNS = {"completed", "is_enterprise", "competitor_evaluation"}
NUMBER_COLUMNS = {
    "arr",
    "deliveries",
    "login_days",
    "mrr",
    "health_score",
    "plan_usage_ratio",
    "pipeline_conversion_rate",
    "support_tickets",
}
REQUIRED = {
    "accounts": ["account_id", "owner_id"],
    "usage": ["tenant_id", "month"],
    "activities": ["account_id", "date", "type", "completed"],
    "tasks": ["sync_key", "activity_date", "completed"],
    "mrr": ["account_id", "month", "mrr"],
    "snapshots": ["account_id", "as_of", "health_score", "health_band"],
}


class MissingInput(NamedTuple):
    """An input the KPIs lack: ``code`` is a key of the ``kpi_missing_inputs`` templates."""

    code: str
    params: dict[str, Any] = {}


@dataclass
class KpiInputs:
    snapshots: pd.DataFrame | None = None
    accounts: pd.DataFrame | None = None
    usage: pd.DataFrame | None = None
    activities: pd.DataFrame | None = None
    tasks: pd.DataFrame | None = None
    mrr: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    signals: pd.DataFrame | None = None  # signal ledger rows (the 48-hour KPIs)
    missing: list[MissingInput] = field(default_factory=list)

    def frames(self) -> dict[str, Any]:
        """Keyword arguments for :func:`sfsync.automation.kpi.compute_kpis`."""
        return {
            "accounts": self.accounts,
            "usage": self.usage,
            "activities": self.activities,
            "tasks": self.tasks,
            "mrr": self.mrr,
            "signals": self.signals,
        }


def read_canonical_csv(path: str | Path, kind: str) -> pd.DataFrame:
    """Read a CSV of canonical columns (SPEC §3 formats); errors name the file and column."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise InputDataError(f"{path}: file not found") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: not a readable CSV file ({exc})") from None
    missing = [c for c in REQUIRED.get(kind, []) if c not in raw.columns]
    if missing:
        raise InputDataError(
            f"{path}: missing column(s) {', '.join(missing)} for {kind}",
            hint=f"a {kind} file needs the columns {', '.join(REQUIRED[kind])}",
        )
    out = raw.copy()
    for col in raw.columns:
        values = raw[col]
        if col == "completed_at":
            parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
            bad = values.notna() & parsed.isna()
            if bad.any():
                raise InputDataError(
                    f"{path}: row {int(bad.idxmax()) + 2}, column {col}: "
                    f"{values[bad.idxmax()]!r} is not a date and time (expected "
                    "YYYY-MM-DD HH:MM, local time)"
                )
            out[col] = parsed.astype("datetime64[ns]")
        elif col in DATE_COLUMNS:
            parsed = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
            bad = values.notna() & parsed.isna()
            if bad.any():
                row = int(bad.idxmax()) + 2
                raise InputDataError(
                    f"{path}: row {row}, column {col}: {values[bad.idxmax()]!r} is not a date "
                    "(expected YYYY-MM-DD)"
                )
            out[col] = parsed.astype("datetime64[ns]")
        elif col in BOOL_COLUMNS:
            lowered = values.str.lower()
            bad = values.notna() & ~lowered.isin(["true", "false"])
            if bad.any():
                raise InputDataError(
                    f"{path}: row {int(bad.idxmax()) + 2}, column {col}: expected true or false"
                )
            out[col] = lowered.map({"true": True, "false": False}).astype("boolean")
        elif col in NUMBER_COLUMNS:
            parsed = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & parsed.isna()
            if bad.any():
                raise InputDataError(
                    f"{path}: row {int(bad.idxmax()) + 2}, column {col}: "
                    f"{values[bad.idxmax()]!r} is not a number"
                )
            out[col] = parsed.astype("float64")
    return out


def snapshots_from_store(store, month: str, trend_months: int, nrr_months: int = 0) -> pd.DataFrame:
    """Snapshots dated in the ``trend_months`` months up to the end of ``month``, and the
    ``nrr_months`` before them (the ARR bases of NRR)."""
    first = month_bounds(shift_month_text(month, -(trend_months - 1 + nrr_months)))[0].date()
    last = month_bounds(month)[1].date()
    return history(store, first, last)


def signals_from_store(store, month: str, trend_months: int) -> pd.DataFrame:
    """Signal ledger rows first seen in the ``trend_months`` months up to the end of ``month``."""
    first = month_bounds(shift_month_text(month, -(trend_months - 1)))[0].date()
    return signals_first_seen(store, first, month_bounds(month)[1].date())


def tasks_from_salesforce(
    client, month: str, trend_months: int, timezone: str, bulk_threshold: int
) -> pd.DataFrame:
    """sfsync's Tasks dated from 4 months before the trend months up to now (a Task completed
    in a month may be dated months earlier)."""
    first = month_bounds(shift_month_text(month, -(trend_months - 1 + 4)))[0].date()
    return read_sfsync_tasks(client, since=first, timezone=timezone, bulk_threshold=bulk_threshold)


def gather_kpi_inputs(
    month: str,
    *,
    trend_months: int,
    store=None,
    files: dict[str, Path | None] | None = None,
    salesforce=None,
    account_mapping=None,
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
    nrr_months: int = 0,
    timezone: str = "UTC",
) -> KpiInputs:
    """Collect what is available; list what is missing (never silently empty)."""
    files = files or {}
    inputs = KpiInputs()
    if store is not None:
        inputs.signals = signals_from_store(store, month, trend_months)
    if files.get("snapshots"):
        inputs.snapshots = read_canonical_csv(files["snapshots"], "snapshots")
    elif store is not None:
        inputs.snapshots = snapshots_from_store(store, month, trend_months, nrr_months)
        if inputs.snapshots is not None and inputs.snapshots.empty:
            inputs.missing.append(
                MissingInput("snapshots_none", {"months": trend_months, "month": month})
            )
    else:
        inputs.missing.append(MissingInput("no_state_store"))
    for kind in ("accounts", "usage", "activities", "tasks", "mrr"):
        if files.get(kind):
            setattr(inputs, kind, read_canonical_csv(files[kind], kind))
    if salesforce is not None and (inputs.accounts is None or inputs.activities is None):
        _read_salesforce(inputs, salesforce, month, account_mapping, bulk_threshold)
    if salesforce is not None and inputs.tasks is None:
        inputs.tasks = tasks_from_salesforce(
            salesforce, month, trend_months, timezone, bulk_threshold
        )
    for kind in ("accounts", "usage", "activities", "tasks"):
        if getattr(inputs, kind) is None:
            inputs.missing.append(MissingInput(f"{kind}_file"))
    return inputs


def _read_salesforce(inputs: KpiInputs, client, month: str, mapping, bulk_threshold: int) -> None:
    """Accounts and activities through the extract stage's Salesforce readers."""
    end = month_bounds(month)[1].date()
    if inputs.activities is None:
        inputs.activities = sf_source.read_activities(
            client, as_of=end, lookback_days=400, bulk_threshold=bulk_threshold
        )
    if inputs.accounts is None and mapping is not None:
        raw = sf_source.read_accounts(client, mapping, bulk_threshold=bulk_threshold)
        inputs.accounts = apply_mapping(raw, mapping, source="Salesforce Account").frame
    if inputs.users is None:
        raw = sf_source.read_users(client, bulk_threshold=bulk_threshold)
        inputs.users = pd.DataFrame(
            {
                "user_id": raw.get("Id"),
                "name": raw.get("Name"),
                "email": raw.get("Email"),
                "username": raw.get("Username"),
            }
        )
    log.info("kpi_salesforce_read", month=month, as_of=(end + timedelta(days=0)).isoformat())


def default_month(today: date) -> str:
    """The last complete calendar month before ``today`` (the scoring month), ``YYYY-MM``."""
    return month_text(scoring_month(today))
