"""The extract stage: read every source of a job, map it to canonical columns, quarantine bad
rows, and stop before anything is written when a source has too many of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import structlog

from sfsync.errors import SfsyncError
from sfsync.guards.inputs import input_figures
from sfsync.jobs import (
    FileSource,
    MetabaseSource,
    SalesforceSource,
    SqlSource,
    add_months,
    resolve_parameters,
    scoring_month,
)
from sfsync.log import register_url_secrets
from sfsync.sources import files as file_source
from sfsync.sources import salesforce as sf_source
from sfsync.sources import sql as sql_source
from sfsync.sources.columns import (
    MappedFrame,
    apply_mapping,
    check_quarantine_share,
    empty_quarantine,
    load_column_mapping,
    quarantine_unknown,
)
from sfsync.sources.tenants import Mislinks, UnknownTenants, find_mislinks, split_unknown_tenants

if TYPE_CHECKING:
    from sfsync.run_context import RunContext

log = structlog.get_logger(__name__)

# the column mapping a role uses when its source does not name one
DEFAULT_COLUMNS = {
    "accounts": "salesforce_accounts",
    "users": "salesforce_users",
    "usage": "metabase_usage",
    "activities": "activities",
}
# the canonical accounts column holding the churn date (mappings/columns/salesforce_accounts.yaml)
CHURN_DATE_COLUMN = "churned_on"
# extraction order: accounts first, so that usage can be checked against known tenants
ROLE_ORDER = ("accounts", "users", "activities", "usage")


@dataclass
class Inputs:
    """Canonical frames by role, every quarantined row of every source, and each source's
    figures for the input guards (``sfsync.guards.inputs``)."""

    frames: dict[str, pd.DataFrame]
    quarantined: pd.DataFrame
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown_tenants: UnknownTenants = field(default_factory=UnknownTenants)
    mislinks: Mislinks = field(default_factory=Mislinks)

    def get(self, role: str) -> pd.DataFrame | None:
        return self.frames.get(role)


def _source_label(source: Any) -> str:
    if isinstance(source, MetabaseSource):
        return f"Metabase card {source.card}" if source.card else "Metabase native query"
    if isinstance(source, SqlSource):
        return f"SQL ({Path(source.query_file).name})"
    if isinstance(source, FileSource):
        return f"file {source.path}"
    return f"Salesforce ({source.object})"


def read_raw(ctx: RunContext, role: str, source: Any) -> pd.DataFrame:
    """Rows of one source, before mapping (Salesforce activities come back canonical)."""
    progress = ctx.progress.callback(role)
    if isinstance(source, SalesforceSource):
        client = _require(ctx.clients.salesforce, "a Salesforce client", role)
        if source.object == "accounts":
            mapping = _mapping(ctx, role, source)
            return sf_source.read_accounts(
                client, mapping, source.scope, bulk_threshold=ctx.bulk_threshold
            )
        if source.object == "users":
            return sf_source.read_users(client, bulk_threshold=ctx.bulk_threshold)
        return sf_source.read_activities(
            client,
            as_of=ctx.as_of,
            lookback_days=source.lookback_days,
            completed_statuses=source.completed_statuses,
            bulk_threshold=ctx.bulk_threshold,
        )
    params = resolve_parameters(source, ctx.as_of)
    if isinstance(source, MetabaseSource):
        client = _require(ctx.clients.metabase, "Metabase settings (metabase.url)", role)
        if source.card is not None:
            return client.card_rows(source.card, params, fmt=source.format)
        sql = sql_source.read_query_file(ctx.root / str(source.query_file))
        return client.native_rows(int(source.database or 0), sql, params, fmt=source.format)
    if isinstance(source, SqlSource):
        url = source.url or ctx.env.get(str(source.url_env), "")
        register_url_secrets(url)  # its password is masked in every sink from now on
        if not url:
            raise SfsyncError(
                f"sources.{role}: the environment variable {source.url_env} is not set",
                hint="set it to the SQLAlchemy URL of the warehouse",
            )
        sql = sql_source.read_query_file(ctx.root / source.query_file)
        return sql_source.read_sql(url, sql, params, chunksize=source.chunksize, progress=progress)
    return file_source.read_file(ctx.root / source.path, file_format=source.format)


def _require(client: Any, what: str, role: str) -> Any:
    if client is None:
        raise SfsyncError(f"sources.{role} needs {what}, which is not configured")
    return client


def _mapping(ctx: RunContext, role: str, source: Any):
    name = source.columns or DEFAULT_COLUMNS[role]
    return load_column_mapping(ctx.mappings_dir / "columns" / f"{name}.yaml")


def map_source(ctx: RunContext, role: str, source: Any, raw: pd.DataFrame) -> MappedFrame:
    """Apply the column mapping (Salesforce activities are canonical already)."""
    if isinstance(source, SalesforceSource) and source.object == "activities":
        return MappedFrame(role, raw, empty_quarantine(), len(raw))
    return apply_mapping(raw, _mapping(ctx, role, source), source=role)


def extract(ctx: RunContext) -> Inputs:
    """Read every source of the job, map and validate it; stop if too many rows are bad.

    Quarantined rows are stored in the state store before the share check, so that a run
    stopped for bad input still leaves the reasons to look at.
    """
    summary = ctx.summary
    mapped: dict[str, MappedFrame] = {}
    churned_tenants: set = set()
    unknown_tenants = UnknownTenants()
    for role in sorted(ctx.job.sources, key=ROLE_ORDER.index):
        source = ctx.job.sources[role]
        ctx.progress.stage(f"Reading {role} from {_source_label(source)}")
        raw = read_raw(ctx, role, source)
        result = map_source(ctx, role, source, raw)
        if role == "accounts" and source.exclude_churned:
            kept = exclude_churned(result, ctx.as_of)
            # their usage is neither scored nor "unknown": drop it quietly below
            churned_tenants = set(result.frame["tenant_id"].dropna()) - set(
                kept.frame["tenant_id"].dropna()
            )
            result = kept
        if role == "usage" and churned_tenants:
            result = MappedFrame(
                role,
                result.frame.loc[~result.frame["tenant_id"].isin(churned_tenants)],
                result.quarantined,
                result.rows_read,
                result.key,
            )
        if role == "usage" and "accounts" in mapped and source.unknown_tenants == "quarantine":
            tenants = mapped["accounts"].frame["tenant_id"]
            result = quarantine_unknown(
                result, "tenant_id", tenants, what="tenant (no account has this tenant id)"
            )
        elif role == "usage" and "accounts" in mapped:
            kept, unknown = split_unknown_tenants(
                result.frame, mapped["accounts"].frame["tenant_id"]
            )
            result = MappedFrame(role, kept, result.quarantined, result.rows_read, result.key)
            if source.unknown_tenants == "report":
                unknown_tenants = unknown
                report_unknown_tenants(ctx, unknown)
        if role == "activities" and "accounts" in mapped:
            ids = sf_source.known_account_ids(mapped["accounts"].frame)
            result = MappedFrame(
                role,
                result.frame.loc[result.frame["account_id"].isin(ids)],
                result.quarantined,
                result.rows_read,
                result.key,
            )
        mapped[role] = result
        summary.read[role] = result.rows_read
        summary.quarantined[role] = result.quarantined_count
        ctx.progress.rows(role, result.rows_read, done=True)
        log.info(
            "source_extracted",
            role=role,
            rows=result.rows_read,
            valid=len(result.frame),
            quarantined=result.quarantined_count,
        )
    quarantined = pd.concat([m.quarantined for m in mapped.values()], ignore_index=True)
    store_quarantine(ctx, quarantined)
    for role, result in mapped.items():
        setting = f"sources.{role}.max_quarantine_share in jobs/{ctx.job_name}.yaml"
        check_quarantine_share(result, ctx.job.sources[role].max_quarantine_share, setting=setting)
    inputs = Inputs(
        {role: m.frame.reset_index(drop=True) for role, m in mapped.items()},
        quarantined,
        figures=source_figures(mapped, ctx.as_of),
        unknown_tenants=unknown_tenants,
    )
    if "usage" in inputs.frames and "accounts" in inputs.frames:
        first_of_previous = add_months(scoring_month(ctx.as_of), -1)
        inputs.mislinks = find_mislinks(
            inputs.frames["accounts"], inputs.frames["usage"], linked_before=first_of_previous
        )
        report_mislinks(ctx, inputs.mislinks)
        if "usage" in inputs.figures:
            inputs.figures["usage"]["mislinked"] = [
                {"account_id": a, "name": n, "tenant_id": t}
                for a, n, t in inputs.mislinks.accounts[:10]
            ]
    if inputs.unknown_tenants.tenants and "usage" in inputs.figures:
        inputs.figures["usage"]["unknown_tenants"] = inputs.unknown_tenants.tenants
        inputs.figures["usage"]["unknown_rows"] = inputs.unknown_tenants.rows
        inputs.figures["usage"]["largest_unknown"] = inputs.unknown_tenants.largest
    return inputs


def source_figures(mapped: dict[str, MappedFrame], as_of: date) -> dict[str, dict[str, Any]]:
    """Each source's figures for the input guards; usage is measured against the linked
    tenants of the accounts and the scoring and previous month of ``as_of``."""
    month = scoring_month(as_of)
    linked = mapped["accounts"].frame["tenant_id"] if "accounts" in mapped else None
    figures = {}
    for role, result in mapped.items():
        if role == "usage" and linked is not None:
            figures[role] = input_figures(
                role,
                result.rows_read,
                result.frame,
                linked_tenants=linked.dropna(),
                scoring_month=month.strftime("%Y-%m"),
                previous_month=add_months(month, -1).strftime("%Y-%m"),
            )
        else:
            figures[role] = input_figures(role, result.rows_read, result.frame)
    return figures


def report_unknown_tenants(ctx: RunContext, unknown: UnknownTenants) -> None:
    """Count usage rows of tenants no account has in the summary and the log (not bad rows)."""
    ctx.summary.unknown_tenants = unknown.tenants
    ctx.summary.unknown_tenant_rows = unknown.rows
    if not unknown.tenants:
        return
    ctx.summary.notes.append(unknown.note())
    log.info(
        "unknown_tenants",
        tenants=unknown.tenants,
        rows=unknown.rows,
        largest=[{"tenant_id": t, "rows": n} for t, n in unknown.largest],
    )


def report_mislinks(ctx: RunContext, mislinks: Mislinks) -> None:
    """Report linked accounts whose tenant has no usage row at all (likely a wrong tenant id)."""
    ctx.summary.likely_mislinked = len(mislinks.accounts)
    if not mislinks.accounts:
        return
    ctx.summary.notes.append(mislinks.note())
    log.warning(
        "tenants_without_usage",
        accounts=len(mislinks.accounts),
        examples=[
            {"account_id": a, "name": n, "tenant_id": t} for a, n, t in mislinks.accounts[:10]
        ],  # fmt: skip
    )


def exclude_churned(mapped: MappedFrame, as_of: date) -> MappedFrame:
    """Drop accounts whose ``churned_on`` date is on or before ``as_of`` (no longer customers).

    Accounts with no churn date, and every account when the column is absent (the org has no
    churn field), are kept. The dropped accounts are not quarantined: nothing is wrong with them.
    """
    if CHURN_DATE_COLUMN not in mapped.frame.columns:
        return mapped
    churned = pd.to_datetime(mapped.frame[CHURN_DATE_COLUMN], errors="coerce")
    gone = (churned.notna() & (churned <= pd.Timestamp(as_of))).to_numpy(dtype=bool)
    if gone.any():
        log.info("churned_accounts_excluded", accounts=int(gone.sum()), as_of=as_of.isoformat())
    return MappedFrame(
        mapped.source, mapped.frame.loc[~gone], mapped.quarantined, mapped.rows_read, mapped.key
    )


def store_quarantine(ctx: RunContext, quarantined: pd.DataFrame) -> None:
    """Record quarantined rows in the state store (``sfsync.state.quarantine``)."""
    if quarantined.empty or ctx.clients.store is None or ctx.run_id is None:
        return
    from sfsync.state.quarantine import record_quarantine

    for source, rows in quarantined.groupby("source", sort=False):
        record_quarantine(ctx.clients.store, ctx.run_id, str(source), rows.drop(columns="source"))
