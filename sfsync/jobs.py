"""Job definitions (``jobs/<name>.yaml``): which sources, what to compute, what to write.

A job names its inputs by role (``accounts``, ``users``, ``activities``, ``usage``), each read
from one source kind (``salesforce``, ``metabase``, ``sql``, ``file``) and mapped to canonical
columns by a column mapping (``mappings/columns/<name>.yaml``). ``compute`` says what the run
derives (``score``: the scorecard engine; ``usage_import``: copy the scoring month's usage
figures onto the tenant's Account; ``kpi``: the monthly KPI report, no writes to Salesforce).
``write`` says which Account field mapping to apply and whether to upsert signal Tasks and
scheduled follow-up Tasks; ``notify`` whether to alert Slack.

Source parameters may use these placeholders, filled in from the as-of date of the run:
``{as_of}`` (YYYY-MM-DD), ``{scoring_month}``, ``{previous_month}``, ``{from_month}`` and
``{to_month}`` (YYYY-MM; the window of ``months`` months ending with the scoring month), and
``{as_of_month}`` (YYYY-MM, the current partial month: a usage window that ends there lets the
latest logins count, SPEC §10; monthly measures still use the scoring month).

Each source has an input guard (``guard``) and the job an output guard (``guards.output``):
SPEC §12, see :mod:`sfsync.guards`.
"""

from __future__ import annotations

import string
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from sfsync.calendar import add_months, is_month_text, month_text, scoring_month
from sfsync.catalogue import SEGMENTS
from sfsync.configfile import StrictModel, load_model
from sfsync.errors import ConfigError, ConfigProblem
from sfsync.scope import ScopeCondition

ROLES = ("accounts", "users", "activities", "usage")
PLACEHOLDERS = (
    "as_of",
    "scoring_month",
    "previous_month",
    "from_month",
    "to_month",
    "as_of_month",
)


class InputGuard(StrictModel):
    """Checks of one source's rows before anything is written (SPEC §12; ``sfsync.guards``)."""

    enabled: bool = Field(default=True, description="false: no input checks for this source")
    min_row_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="rows read must be at least this share of the last successful run's",
    )
    min_coverage_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="usage: linked tenants with a scoring-month row must be at least this share "
        "of those with a previous-month row and of the last successful run's",
    )
    min_measure_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="usage: each measure's filled share in the scoring month must be at least "
        "this share of its filled share in the previous month (0 when all empty)",
    )


class _SourceBase(StrictModel):
    columns: str | None = Field(
        default=None, description="column mapping name: mappings/columns/<columns>.yaml"
    )
    months: int = Field(default=13, ge=1, le=120, description="window for {from_month}")
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    max_quarantine_share: float = Field(default=0.05, ge=0, le=1)
    unknown_tenants: Literal["report", "quarantine", "ignore"] = Field(
        default="report",
        description="usage rows whose tenant no account has (trials, internal, churned, not yet "
        "linked): report (counted and reported, left out), quarantine (bad rows), ignore",
    )
    guard: InputGuard = Field(default_factory=InputGuard)
    exclude_churned: bool = Field(
        default=False,
        description="accounts only: leave out accounts whose churned_on date is on or before "
        "the as-of date (they are no longer customers); accounts without it are kept",
    )
    content_log: ContentLogSource | None = Field(
        default=None,
        description="usage only: a per-content engagement log (tenant, month, content id, kind "
        "video/document/mail, views, completion ratio) read from its own metabase, sql or file "
        "source (default column mapping: content_log) and summed per tenant and month into "
        "video_views, document_views and email_opens (sfsync.sources.engagement)",
    )

    @field_validator("parameters")
    @classmethod
    def _known_placeholders(cls, params: dict) -> dict:
        for name, value in params.items():
            if not isinstance(value, str):
                continue
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            unknown = sorted(used - set(PLACEHOLDERS))
            if unknown:
                raise ValueError(
                    f"{name}: unknown placeholder(s) {', '.join(unknown)}; "
                    f"available: {', '.join(PLACEHOLDERS)}"
                )
        return params


class SalesforceSource(_SourceBase):
    """Accounts, users or activities read from Salesforce with SOQL."""

    kind: Literal["salesforce"]
    object: Literal["accounts", "users", "activities"]
    scope: list[ScopeCondition] = Field(default_factory=list)
    lookback_days: int = Field(default=400, ge=1, le=3660)
    completed_statuses: list[str] = Field(default_factory=lambda: ["Completed"], min_length=1)


class MetabaseSource(_SourceBase):
    """A saved question (``card``) or native SQL (``database`` + ``query_file``)."""

    kind: Literal["metabase"]
    card: int | None = Field(default=None, ge=1)
    database: int | None = Field(default=None, ge=1)
    query_file: str | None = None
    format: Literal["json", "csv"] = Field(
        default="csv",
        description="export format: csv (default: a quarter of the JSON's bytes, decoded by "
        "Arrow into text columns; the column mapping types them) or json (for a Metabase "
        "older than 49.x, whose CSV export ignores format_rows=false and writes display "
        "names or formatted values)",
    )

    @model_validator(mode="after")
    def _card_or_sql(self) -> MetabaseSource:
        if (self.card is None) == (self.query_file is None):
            raise ValueError("set either card (a saved question id) or query_file + database")
        if self.query_file is not None and self.database is None:
            raise ValueError("query_file needs database (the Metabase database id)")
        return self


class SqlSource(_SourceBase):
    """A query file run against a SQLAlchemy URL (given directly or by an environment variable)."""

    kind: Literal["sql"]
    url: str | None = None
    url_env: str | None = Field(default=None, description="environment variable holding the URL")
    query_file: str
    chunksize: int = Field(default=50_000, ge=1)

    @model_validator(mode="after")
    def _one_url(self) -> SqlSource:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of url and url_env")
        return self


class FileSource(_SourceBase):
    """A CSV or Parquet file (path relative to the project root)."""

    kind: Literal["file"]
    path: str
    format: Literal["csv", "parquet"] | None = None


Source = Annotated[
    SalesforceSource | MetabaseSource | SqlSource | FileSource, Field(discriminator="kind")
]
# where a usage source's per-content engagement log comes from (any source but Salesforce)
ContentLogSource = Annotated[MetabaseSource | SqlSource | FileSource, Field(discriminator="kind")]
for _model in (_SourceBase, SalesforceSource, MetabaseSource, SqlSource, FileSource):
    _model.model_rebuild()


class ScoreCompute(StrictModel):
    """Score accounts with a scorecard (``mappings/scorecards/<scorecard>.yaml``)."""

    kind: Literal["score"]
    scorecard: str = "default"
    trend_days: int = Field(
        default=28,
        ge=1,
        description="Health_Trend__c: the change against the latest stored score at least "
        "this many days older",
    )
    benchmarks: str | None = Field(
        default=None,
        description="a CSV in mappings/benchmarks/ (industry,rate); null: the scorecard's own",
    )
    direction_dead_band: float = Field(
        default=5,
        ge=0,
        description="Health_Direction__c: a trend within ±this many points is flat, above up, "
        "below down",
    )
    scorecards: dict[str, str] | None = Field(
        default=None,
        description="a scorecard per segment (S, A, B, C; `default` for the others, else "
        "`scorecard`): each account is scored with its segment's scorecard, the segment "
        "being decided by the default scorecard's rules (sfsync.scoring.segmented)",
    )

    @field_validator("scorecards")
    @classmethod
    def _segment_keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        unknown = [k for k in value if k not in (*SEGMENTS, "default")]
        if unknown:
            raise ValueError(
                f"unknown segment(s) {', '.join(map(repr, unknown))}; "
                f"use {', '.join(SEGMENTS)} or default"
            )
        empty = [k for k, v in value.items() if not v.strip()]
        if empty:
            raise ValueError(f"{empty[0]}: give a scorecard name")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_scorecard(cls, data: object) -> object:
        """``scorecards.default`` is the job's ``scorecard`` (given once or equal)."""
        if not isinstance(data, dict) or not isinstance(data.get("scorecards"), dict):
            return data
        default = data["scorecards"].get("default")
        if not isinstance(default, str):
            return data
        if "scorecard" in data and data["scorecard"] != default:
            raise ValueError(
                f"scorecard ({data['scorecard']}) and scorecards.default ({default}) differ: "
                "name the default scorecard once"
            )
        return {**data, "scorecard": default}

    def segment_scorecards(self) -> dict[str, str]:
        """Segment -> scorecard name, for the segments scored with another scorecard than
        the default (``scorecard``); empty for a job with one scorecard."""
        return {
            seg: name
            for seg, name in (self.scorecards or {}).items()
            if seg != "default" and name != self.scorecard
        }

    def scorecard_names(self) -> list[str]:
        """Every scorecard the job scores with, the default first."""
        return list(dict.fromkeys([self.scorecard, *self.segment_scorecards().values()]))


class UsageImportCompute(StrictModel):
    """Copy the scoring month's usage figures onto the Account whose tenant id matches."""

    kind: Literal["usage_import"]


class KpiCompute(StrictModel):
    """``compute:`` section of a KPI job."""

    kind: Literal["kpi"]
    month: str = "previous"  # "previous" = the last complete month before the as-of date
    report: str | None = "out/kpi-{month}.html"  # relative to the project root
    post: bool = True

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        if value != "previous" and not is_month_text(value):
            raise ValueError(f"{value!r}: use previous or a month YYYY-MM")
        return value

    @field_validator("report")
    @classmethod
    def _report(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(month="2025-01")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"{value!r}: the only placeholder is {{month}} ({exc})") from None
        return value

    def resolve_month(self, as_of: date) -> str:
        """The report month: ``previous`` is the last complete month before ``as_of``."""
        return month_text(scoring_month(as_of)) if self.month == "previous" else self.month


Compute = Annotated[ScoreCompute | UsageImportCompute | KpiCompute, Field(discriminator="kind")]


class OpportunitySpec(StrictModel):
    """``write.opportunity`` of a scoring job: an upsell Opportunity for sales (off by default)."""

    enabled: bool = Field(
        default=False,
        description="one Opportunity per new upsell signal (account, signal, scoring month), "
        "upserted by Opportunity.Sync_Key__c; an existing one is never changed",
    )
    stage: str = Field(
        default="Prospecting",
        min_length=1,
        max_length=255,
        description="StageName of new Opportunities: an active stage of the org's sales process",
    )
    close_days: int = Field(
        default=30,
        ge=1,
        le=730,
        description="CloseDate = the as-of date plus this many days (never in the past)",
    )
    amount_arr_share: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="Amount = this share of the account's ARR (0.2 = 20 %); null: no Amount",
    )

    @field_validator("stage")
    @classmethod
    def _stage_text(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError(f"{value!r}: no leading or trailing spaces")
        return value


class WriteSpec(StrictModel):
    account_fields: str | None = Field(
        default="account_fields", description="mappings/<name>.yaml; null: no Account fields"
    )
    signal_tasks: bool = True
    followup_tasks: bool = Field(
        default=False,
        description="scheduled follow-up Tasks of mappings/playbook.yaml (onboarding, QBR, "
        "renewal, overdue touch, hand-over, recovery)",
    )
    opportunity: OpportunitySpec = Field(default_factory=OpportunitySpec)
    campaigns: str | None = Field(
        default=None,
        description="mappings/<name>.yaml: Campaign membership rules for marketing automation "
        "(docs/MARKETING_AUTOMATION.md); null: no Campaign members",
    )


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class HistorySpec(StrictModel):
    """``history:`` of a scoring job: the periodic Health_Score_History__c snapshot."""

    every: Literal["weekly", "monthly", "off"] = Field(
        default="weekly",
        description="one history record per account and week (or month); off: none (history "
        "then comes from sfsync backfill only)",
    )
    weekday: Literal[WEEKDAYS] = Field(  # type: ignore[valid-type]
        default="monday",
        description="weekly: the first run of the week on or after this day writes the week's "
        "snapshot (a missed run is caught up the next night)",
    )
    day: int = Field(
        default=1,
        ge=1,
        le=28,
        description="monthly: the first run of the month on or after this day of the month "
        "writes the month's snapshot",
    )
    mapping: str = Field(
        default="score_history_fields", description="mappings/<name>.yaml (the history mapping)"
    )

    @field_validator("every", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        # YAML reads an unquoted `off` as false
        return "off" if value is False else value

    @property
    def weekday_number(self) -> int:
        """Monday 0 … Sunday 6 (``date.weekday()``)."""
        return WEEKDAYS.index(self.weekday)


class ChangeLimit(StrictModel):
    """A figure may not exceed ``max(floor, factor × its largest value in recent runs)``."""

    floor: float = Field(ge=0, le=1)
    factor: float = Field(ge=1)


class PerAccountLimit(ChangeLimit):
    """A :class:`ChangeLimit` of a count per account (may exceed 1)."""

    floor: float = Field(ge=0)


class OutputGuard(StrictModel):
    """The mass-change brake: what a run is about to write against recent runs (SPEC §12)."""

    enabled: bool = True
    recent_days: int = Field(
        default=35, ge=1, le=400, description="runs as of this many days back form the baseline"
    )
    red_turn_share: ChangeLimit = Field(
        default_factory=lambda: ChangeLimit(floor=0.10, factor=3),
        description="share of accounts turning red (not red at the previous score)",
    )
    new_churn_signal_share: ChangeLimit = Field(
        default_factory=lambda: ChangeLimit(floor=0.20, factor=3),
        description="new churn signals per scored account",
    )
    rewrite_share: ChangeLimit = Field(
        default_factory=lambda: ChangeLimit(floor=0.60, factor=2),
        description="share of accounts whose visible fields change (score, band, points, "
        "phase, segment, signals; not the scoring time, trend or explanation text)",
    )
    campaign_member_share: PerAccountLimit = Field(
        default_factory=lambda: PerAccountLimit(floor=2.0, factor=2),
        description="contacts added to Campaigns (write.campaigns) per account in scope; a "
        "month's first night adds the monthly Campaigns' members (about one per account), and "
        "the recent runs of 35 days include the last one",
    )


class Guards(StrictModel):
    output: OutputGuard = Field(default_factory=OutputGuard)


class NotifySpec(StrictModel):
    slack: bool = True


def content_log_role(role: str) -> str:
    """The name under which the per-content log of source ``role`` is read, mapped, quarantined
    and guarded (``usage.content_log``)."""
    return f"{role}.content_log"


class Job(StrictModel):
    """One job file."""

    description: str = ""
    sources: dict[str, Source]
    compute: Compute
    write: WriteSpec = Field(default_factory=WriteSpec)
    notify: NotifySpec = Field(default_factory=NotifySpec)
    guards: Guards = Field(default_factory=Guards)
    history: HistorySpec = Field(default_factory=HistorySpec)

    @model_validator(mode="after")
    def _roles(self) -> Job:
        unknown = sorted(set(self.sources) - set(ROLES))
        if unknown:
            raise ValueError(
                f"unknown source role(s) {', '.join(unknown)}; roles: {', '.join(ROLES)}"
            )
        if "accounts" not in self.sources:
            raise ValueError("sources.accounts is required (every job works on accounts)")
        if "usage" not in self.sources and isinstance(self.compute, UsageImportCompute):
            raise ValueError("compute usage_import needs sources.usage")
        for role, source in self.sources.items():
            if isinstance(source, SalesforceSource) and source.object != role:
                raise ValueError(
                    f"sources.{role}: a salesforce source for role {role!r} must read "
                    f"object: {role}"
                )
        for role, source in self.sources.items():
            if isinstance(source, SalesforceSource) and source.scope and role != "accounts":
                raise ValueError(f"sources.{role}: scope applies to accounts only")
            if source.exclude_churned and role != "accounts":
                raise ValueError(f"sources.{role}: exclude_churned applies to accounts only")
            if source.content_log is not None and role != "usage":
                raise ValueError(f"sources.{role}: content_log applies to usage only")
            if source.content_log is not None and source.content_log.content_log is not None:
                raise ValueError(f"sources.{role}.content_log cannot have a content_log itself")
        if self.write.signal_tasks and not isinstance(self.compute, ScoreCompute):
            raise ValueError("write.signal_tasks needs compute kind score")
        if self.write.opportunity.enabled and not self.write.signal_tasks:
            raise ValueError(
                "write.opportunity needs write.signal_tasks: true (upsell signals come with it)"
            )
        if self.write.followup_tasks and not isinstance(self.compute, ScoreCompute):
            raise ValueError("write.followup_tasks needs compute kind score")
        if isinstance(self.compute, KpiCompute) and self.write.account_fields:
            raise ValueError(
                "compute kind kpi writes nothing to Salesforce: set write.account_fields: null"
            )
        return self

    def source_of(self, role: str) -> _SourceBase:
        """The source read under ``role``: a role of ``sources``, or a source's content log
        (:func:`content_log_role`). A KeyError when there is none."""
        for name, source in self.sources.items():
            if role == name:
                return source
            if source.content_log is not None and role == content_log_role(name):
                return source.content_log
        raise KeyError(role)


def job_path(jobs_dir: Path, name: str) -> Path:
    """``jobs/<name>.yaml``; ``name`` may also be a path to a YAML file."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    return Path(jobs_dir) / f"{name}.yaml"


def load_job(jobs_dir: Path, name: str) -> Job:
    """Load and validate one job; an unknown job lists the jobs that exist."""
    path = job_path(jobs_dir, name)
    if not path.exists():
        available = sorted(p.stem for p in Path(jobs_dir).glob("*.yaml"))
        raise ConfigError(
            [ConfigProblem(str(path), "", f"no job named {name!r}")],
            hint=f"jobs in {jobs_dir}: {', '.join(available) or 'none'}",
        )
    return load_model(path, Job)


def run_parameters(as_of: date, months: int) -> dict[str, str]:
    """The placeholder values of a run as of ``as_of`` with a window of ``months`` months."""
    scoring = scoring_month(as_of)
    return {
        "as_of": as_of.isoformat(),
        "scoring_month": month_text(scoring),
        "previous_month": month_text(add_months(scoring, -1)),
        "from_month": month_text(add_months(scoring, -(months - 1))),
        "to_month": month_text(scoring),
        "as_of_month": month_text(as_of),
    }


def resolve_parameters(source: _SourceBase, as_of: date) -> dict[str, object]:
    """The source's parameters with placeholders filled in; with none given, every value."""
    values = run_parameters(as_of, source.months)
    if not source.parameters:
        return dict(values)
    return {
        k: v.format_map(values) if isinstance(v, str) else v for k, v in source.parameters.items()
    }
