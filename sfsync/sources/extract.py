"""The extract stage: read every source of a job, map it to canonical columns, quarantine bad
rows, and stop before anything is written when a source has too many of them.

``extract(job, column_mappings, readers, ...)`` takes the job's sources, their column mappings
(from the :class:`~sfsync.project.JobBundle`) and the ready-made readers; it returns
:class:`Inputs` — the canonical frames, the quarantined rows, each source's figures for the
input guards and what the run summary reports (rows read, quarantined, unknown tenants, likely
mislinks). It writes nothing: the pipeline stores the quarantined rows, then calls
:func:`check_quarantine_shares`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import structlog

from sfsync.calendar import add_months, month_text, scoring_month
from sfsync.errors import SfsyncError, SourceError
from sfsync.frames import isin
from sfsync.guards.inputs import input_figures
from sfsync.jobs import (
    FileSource,
    Job,
    MetabaseSource,
    SalesforceSource,
    Source,
    SqlSource,
    content_log_role,
    resolve_parameters,
)
from sfsync.log import register_url_secrets
from sfsync.ports import SalesforceApi, Store, UsageReader
from sfsync.report import Progress
from sfsync.sources import engagement
from sfsync.sources import files as file_source
from sfsync.sources import salesforce as sf_source
from sfsync.sources import sql as sql_source
from sfsync.sources.columns import (
    ColumnMapping,
    MappedFrame,
    apply_mapping,
    check_quarantine_share,
    empty_quarantine,
    quarantine_unknown,
)
from sfsync.sources.tenants import Mislinks, UnknownTenants, find_mislinks, split_unknown_tenants
from sfsync.state.quarantine import record_quarantine

log = structlog.get_logger(__name__)
T = TypeVar("T")

# the column mapping a role uses when its source does not name one (kept here for importers)
DEFAULT_COLUMNS = {
    "accounts": "salesforce_accounts",
    "users": "salesforce_users",
    "usage": "metabase_usage",
    "activities": "activities",
}
# the canonical accounts column holding the churn date (mappings/columns/salesforce_accounts.yaml)
CHURN_DATE_COLUMN = "churned_on"
# the column mapping of a usage source's per-content log when its content_log names none
CONTENT_LOG_COLUMNS = "content_log"
# extraction order: accounts first, so that usage can be checked against known tenants
ROLE_ORDER = ("accounts", "users", "activities", "usage")


@dataclass(frozen=True)
class Readers:
    """The clients the sources read through (None: not configured)."""

    salesforce: SalesforceApi | None = None
    metabase: UsageReader | None = None


@dataclass(frozen=True)
class SourceRun:
    """What the sources of one run are read with besides the readers: the as-of date, the
    project root (query files, file sources), the environment (``url_env``), the Bulk API
    threshold and where progress goes."""

    as_of: date
    root: Path
    bulk_threshold: int
    env: Mapping[str, str] = field(default_factory=dict)
    progress: Progress = field(default_factory=lambda: Progress(None))
    #: Account fields the job writes (the match field first): read with the accounts source,
    #: so that the plan compares with them and the Accounts are read once per run
    account_write_fields: tuple[str, ...] = ()


@dataclass
class Inputs:
    """Canonical frames by role, every quarantined row of every source, each source's
    figures for the input guards (``sfsync.guards.inputs``), and what the run summary
    reports about the extraction."""

    frames: dict[str, pd.DataFrame]
    quarantined: pd.DataFrame
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown_tenants: UnknownTenants = field(default_factory=UnknownTenants)
    mislinks: Mislinks = field(default_factory=Mislinks)
    mapped: dict[str, MappedFrame] = field(default_factory=dict)
    #: the current values of :attr:`SourceRun.account_write_fields` as read with the accounts
    #: (Salesforce field names); None when the accounts did not come from Salesforce
    current_accounts: pd.DataFrame | None = None

    def get(self, role: str) -> pd.DataFrame | None:
        return self.frames.get(role)

    @property
    def rows_read(self) -> dict[str, int]:
        """Rows read from each source (before mapping)."""
        return {role: m.rows_read for role, m in self.mapped.items()}

    @property
    def quarantined_counts(self) -> dict[str, int]:
        """Rows quarantined per source."""
        return {role: m.quarantined_count for role, m in self.mapped.items()}

    @property
    def notes(self) -> list[str]:
        """The summary's notes about the inputs (unknown tenants, likely mislinks)."""
        notes = []
        if self.unknown_tenants.tenants:
            notes.append(self.unknown_tenants.note())
        if self.mislinks.accounts:
            notes.append(self.mislinks.note())
        return notes

    def keeping_frames(self, roles: Sequence[str]) -> Inputs:
        """These inputs with only the frames of ``roles`` (figures, counts, quarantine and
        notes kept): the usage and activity rows are read for scoring only, and a large
        book's run need not hold them through planning and writing."""
        keep = set(roles)
        return replace(
            self,
            frames={role: f for role, f in self.frames.items() if role in keep},
            mapped={
                role: m if role in keep else replace(m, frame=m.frame.iloc[0:0])
                for role, m in self.mapped.items()
            },
        )


def _source_label(source: Any) -> str:
    if isinstance(source, MetabaseSource):
        return f"Metabase card {source.card}" if source.card else "Metabase native query"
    if isinstance(source, SqlSource):
        return f"SQL ({Path(source.query_file).name})"
    if isinstance(source, FileSource):
        return f"file {source.path}"
    return f"Salesforce ({source.object})"


def read_raw(
    role: str,
    source: Source,
    mapping: ColumnMapping | None,
    readers: Readers,
    run: SourceRun,
) -> pd.DataFrame:
    """Rows of one source, before mapping (Salesforce activities come back canonical)."""
    progress = run.progress.callback(role)
    if isinstance(source, SalesforceSource):
        client = _require(readers.salesforce, "a Salesforce client", role)
        if source.object == "accounts":
            return sf_source.read_accounts(
                client,
                mapping,
                source.scope,
                bulk_threshold=run.bulk_threshold,
                also_select=run.account_write_fields,
            )
        if source.object == "users":
            return sf_source.read_users(client, bulk_threshold=run.bulk_threshold)
        return sf_source.read_activities(
            client,
            as_of=run.as_of,
            lookback_days=source.lookback_days,
            completed_statuses=source.completed_statuses,
            bulk_threshold=run.bulk_threshold,
        )
    params = resolve_parameters(source, run.as_of)
    if isinstance(source, MetabaseSource):
        client = _require(readers.metabase, "Metabase settings (metabase.url)", role)
        if source.card is not None:
            return client.card_rows(source.card, params, fmt=source.format)
        sql = sql_source.read_query_file(run.root / str(source.query_file))
        return client.native_rows(int(source.database or 0), sql, params, fmt=source.format)
    if isinstance(source, SqlSource):
        url = source.url or run.env.get(str(source.url_env), "")
        register_url_secrets(url)  # its password is masked in every sink from now on
        if not url:
            raise SfsyncError(
                f"sources.{role}: the environment variable {source.url_env} is not set",
                hint="set it to the SQLAlchemy URL of the warehouse",
            )
        sql = sql_source.read_query_file(run.root / source.query_file)
        return sql_source.read_sql(url, sql, params, chunksize=source.chunksize, progress=progress)
    return file_source.read_file(run.root / source.path, file_format=source.format)


def _require(client: T | None, what: str, role: str) -> T:
    if client is None:
        raise SfsyncError(f"sources.{role} needs {what}, which is not configured")
    return client


def map_source(
    role: str, source: Source, mapping: ColumnMapping | None, raw: pd.DataFrame
) -> MappedFrame:
    """Apply the column mapping (Salesforce activities are canonical already)."""
    if isinstance(source, SalesforceSource) and source.object == "activities":
        return MappedFrame(role, raw, empty_quarantine(), len(raw))
    if mapping is None:
        raise SfsyncError(f"sources.{role} has no column mapping")
    try:
        return apply_mapping(raw, mapping, source=role)
    except SourceError as exc:
        if isinstance(source, MetabaseSource) and source.format == "csv" and exc.hint:
            # Metabase before 49 writes display names ("Tenant ID") in CSV headers even with
            # format_rows=false (metabase/metabase#42500); its JSON export keeps column names
            exc.hint += (
                f"; a Metabase older than 49 names CSV columns by their display names: set "
                f"format: json on sources.{role} in the job"
            )
        raise


def extract(
    job: Job,
    column_mappings: Mapping[str, ColumnMapping],
    readers: Readers,
    run: SourceRun,
) -> Inputs:
    """Read every source of the job, map and validate it (nothing is written).

    The caller stores :attr:`Inputs.quarantined` and then calls
    :func:`check_quarantine_shares`, so that a run stopped for bad input still leaves the
    reasons to look at.
    """
    mapped: dict[str, MappedFrame] = {}
    churned_tenants: set = set()
    unknown_tenants = UnknownTenants()
    current_accounts = None
    for role in sorted(job.sources, key=ROLE_ORDER.index):
        source = job.sources[role]
        mapping = column_mappings.get(role)
        run.progress.stage(f"Reading {role} from {_source_label(source)}")
        raw = read_raw(role, source, mapping, readers, run)
        if role == "accounts" and run.account_write_fields:
            current_accounts = current_account_values(source, raw, run.account_write_fields)
        result = map_source(role, source, mapping, raw)
        if role == "usage":
            if source.content_log is not None:
                log_role = content_log_role(role)
                mapped[log_role] = read_content_log(
                    log_role, source.content_log, column_mappings.get(log_role), readers, run
                )
                result = with_content_log(result, mapped[log_role].frame)
            result = _replace_frame(result, engagement.derive_tutorial_completed(result.frame))
        if role == "accounts" and source.exclude_churned:
            kept = exclude_churned(result, run.as_of)
            # their usage is neither scored nor "unknown": drop it quietly below
            churned_tenants = set(result.frame["tenant_id"].dropna()) - set(
                kept.frame["tenant_id"].dropna()
            )
            result = kept
        if role == "usage" and churned_tenants:
            result = MappedFrame(
                role,
                result.frame.loc[~isin(result.frame["tenant_id"], churned_tenants)],
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
                log_unknown_tenants(unknown)
        if role == "activities" and "accounts" in mapped:
            ids = sf_source.known_account_ids(mapped["accounts"].frame)
            result = MappedFrame(
                role,
                result.frame.loc[isin(result.frame["account_id"], ids)],
                result.quarantined,
                result.rows_read,
                result.key,
            )
        mapped[role] = result
        run.progress.rows(role, result.rows_read, done=True)
        log.info(
            "source_extracted",
            role=role,
            rows=result.rows_read,
            valid=len(result.frame),
            quarantined=result.quarantined_count,
        )
    quarantined = pd.concat([m.quarantined for m in mapped.values()], ignore_index=True)
    inputs = Inputs(
        {role: m.frame.reset_index(drop=True) for role, m in mapped.items()},
        quarantined,
        figures=source_figures(mapped, run.as_of),
        unknown_tenants=unknown_tenants,
        mapped=mapped,
        current_accounts=current_accounts,
    )
    if "usage" in inputs.frames and "accounts" in inputs.frames:
        first_of_previous = add_months(scoring_month(run.as_of), -1)
        inputs.mislinks = find_mislinks(
            inputs.frames["accounts"], inputs.frames["usage"], linked_before=first_of_previous
        )
        log_mislinks(inputs.mislinks)
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


def read_content_log(
    role: str, source: Source, mapping: ColumnMapping | None, readers: Readers, run: SourceRun
) -> MappedFrame:
    """Read and map a usage source's per-content engagement log (bad rows quarantined)."""
    run.progress.stage(f"Reading {role} from {_source_label(source)}")
    result = map_source(role, source, mapping, read_raw(role, source, mapping, readers, run))
    run.progress.rows(role, result.rows_read, done=True)
    log.info(
        "source_extracted",
        role=role,
        rows=result.rows_read,
        valid=len(result.frame),
        quarantined=result.quarantined_count,
    )
    return result


def with_content_log(usage: MappedFrame, content: pd.DataFrame) -> MappedFrame:
    """Usage rows with video, document and mail views filled from the content log's sums."""
    merged = engagement.merge_engagement(usage.frame, engagement.aggregate_content_log(content))
    log.info("content_log_merged", filled=merged.filled, unmatched_rows=merged.unmatched_rows)
    return _replace_frame(usage, merged.frame)


def _replace_frame(mapped: MappedFrame, frame: pd.DataFrame) -> MappedFrame:
    return MappedFrame(mapped.source, frame, mapped.quarantined, mapped.rows_read, mapped.key)


def current_account_values(
    source: Source, raw: pd.DataFrame, fields: Sequence[str]
) -> pd.DataFrame | None:
    """The written Account fields as read with the accounts source (Salesforce field names),
    or None when the source is not Salesforce or did not return every one of them."""
    if not isinstance(source, SalesforceSource) or source.object != "accounts":
        return None
    by_lower = {str(c).lower(): c for c in raw.columns}
    if any(f.lower() not in by_lower for f in fields):
        return None
    current = raw[[by_lower[f.lower()] for f in fields]]
    return current.set_axis(list(fields), axis=1)


def check_quarantine_shares(inputs: Inputs, job: Job, job_name: str) -> None:
    """Stop (SourceError) when a source has more bad rows than its ``max_quarantine_share``."""
    for role, result in inputs.mapped.items():
        setting = f"sources.{role}.max_quarantine_share in jobs/{job_name}.yaml"
        share = job.source_of(role).max_quarantine_share
        check_quarantine_share(result, share, setting=setting)


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
                scoring_month=month_text(month),
                previous_month=month_text(add_months(month, -1)),
            )
        else:
            figures[role] = input_figures(role, result.rows_read, result.frame)
    return figures


def log_unknown_tenants(unknown: UnknownTenants) -> None:
    """Log usage rows of tenants no account has (not bad rows; the summary counts them)."""
    if not unknown.tenants:
        return
    log.info(
        "unknown_tenants",
        tenants=unknown.tenants,
        rows=unknown.rows,
        largest=[{"tenant_id": t, "rows": n} for t, n in unknown.largest],
    )


def log_mislinks(mislinks: Mislinks) -> None:
    """Log linked accounts whose tenant has no usage row at all (likely a wrong tenant id)."""
    if not mislinks.accounts:
        return
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


def store_quarantine(store: Store | None, run_id: int | None, quarantined: pd.DataFrame) -> None:
    """Record quarantined rows in the state store (``sfsync.state.quarantine``)."""
    if quarantined.empty or store is None or run_id is None:
        return

    for source, rows in quarantined.groupby("source", sort=False):
        record_quarantine(store, run_id, str(source), rows.drop(columns="source"))
