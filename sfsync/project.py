"""One job's validated project model, loaded once before any network call.

:func:`load_bundle` reads every file a job uses — the job, its scorecard with rules and
benchmarks, the Account field mapping with the Task settings and templates, the playbook, the
templates of the configured language and the column mapping of each source role — and checks
them against each other (:func:`cross_problems`). Every problem of every file is collected and
raised at once (:class:`~sfsync.errors.ConfigError`, each with file and key path). The stages
then receive what they use from the :class:`JobBundle`; nothing is read from ``mappings/`` in
the middle of a run. ``sfsync validate`` runs the same loader for every job
(:func:`validate_jobs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pandas as pd

from sfsync.automation.campaign_rules import CampaignRules, load_campaign_rules
from sfsync.automation.playbook import Playbook, load_playbook
from sfsync.config import Project, Settings
from sfsync.configfile import load_model
from sfsync.errors import ConfigError, ConfigProblem, InputDataError, SfsyncError
from sfsync.jobs import (
    FileSource,
    Job,
    KpiCompute,
    SalesforceSource,
    ScoreCompute,
    content_log_role,
    job_path,
    load_job,
)
from sfsync.salesforce.escalation import loop_template_problems
from sfsync.salesforce.history import load_history_mapping
from sfsync.salesforce.mapping import PRODUCIBLE_VALUES, SCORING_COLUMNS, load_mapping
from sfsync.salesforce.opportunity import opportunity_template_problems
from sfsync.salesforce.planner import SyncConfig
from sfsync.salesforce.tasks import TaskSettings, load_task_settings, task_problems
from sfsync.salesforce.upsell import upsell_template_problems
from sfsync.scoring.scorecard import Scorecard, load_scorecard
from sfsync.sources import files as file_source
from sfsync.sources.columns import ColumnMapping, load_column_mapping
from sfsync.sources.extract import CONTENT_LOG_COLUMNS, DEFAULT_COLUMNS
from sfsync.state.thinning import protected_days
from sfsync.templates import TemplateSet, load_templates

T = TypeVar("T")

# what a usage_import job produces (sfsync.pipeline.usage_import_frame)
USAGE_IMPORT_COLUMNS = {
    "deliveries": "usage_deliveries",
    "login_days": "usage_login_days",
    "last_login_date": "usage_last_login",
    "plan_usage_ratio": "usage_plan_ratio",
}
USAGE_IMPORT_OUTPUT = ("account_id", "usage_month", *USAGE_IMPORT_COLUMNS.values())


@dataclass(frozen=True)
class JobBundle:
    """Everything one job reads from its project, validated together.

    ``scorecard`` (with its rules) and ``benchmarks`` are set for a scoring job;
    ``sync_config`` (Account field mapping, Task settings and templates) for a job that
    writes to Salesforce; ``playbook`` when follow-ups, the KPI report or Slack need it (and
    for every scoring job whose project has one: the trigger fields read its onboarding and
    renewal offsets); ``campaign_rules`` when the job adds Campaign members;
    ``column_mappings`` holds the mapping of every source role that is mapped.
    """

    name: str
    job: Job
    settings: Settings
    root: Path
    mappings_dir: Path
    templates: TemplateSet | None
    column_mappings: dict[str, ColumnMapping]
    scorecard: Scorecard | None = None
    benchmarks: pd.DataFrame | None = None
    sync_config: SyncConfig | None = None
    playbook: Playbook | None = None
    segment_scorecards: dict[str, Scorecard] = field(default_factory=dict)
    campaign_rules: CampaignRules | None = None  # write.campaigns of a scoring job

    def scorecards(self) -> list[Scorecard]:
        """Every scorecard the job scores with: the default, then those chosen per segment."""
        cards = [] if self.scorecard is None else [self.scorecard]
        for card in self.segment_scorecards.values():
            if all(card is not c for c in cards):
                cards.append(card)
        return cards

    @property
    def language(self) -> str:
        return self.settings.language

    @property
    def timezone(self) -> str:
        return self.settings.timezone

    @property
    def bulk_threshold(self) -> int:
        return self.settings.salesforce.bulk_threshold

    @property
    def lock_ttl_seconds(self) -> int:
        return self.settings.lock_ttl_seconds

    def column_mapping(self, role: str) -> ColumnMapping:
        """The column mapping of source ``role`` (a ConfigError when the role has none)."""
        try:
            return self.column_mappings[role]
        except KeyError:
            raise ConfigError(f"sources.{role} has no column mapping in job {self.name}") from None


@dataclass
class _Collector:
    """Runs loaders, keeping each result and every problem they raise."""

    problems: list[ConfigProblem] = field(default_factory=list)

    def load(self, loader: Callable[[], T]) -> T | None:
        try:
            return loader()
        except ConfigError as exc:
            self.problems.extend(exc.problems)
        except (InputDataError, SfsyncError, OSError) as exc:
            self.problems.append(ConfigProblem("", "", str(exc)))
        return None

    def missing(self, file: Path, owner: str, key: str) -> bool:
        if file.exists():
            return False
        self.problems.append(ConfigProblem(owner, key, f"{file} does not exist"))
        return True


def mapped_roles(job: Job) -> dict[str, str]:
    """Source role -> column mapping name, for every source whose rows are mapped
    (Salesforce activities come back canonical)."""
    roles = {
        role: source.columns or DEFAULT_COLUMNS[role]
        for role, source in job.sources.items()
        if not (isinstance(source, SalesforceSource) and source.object == "activities")
    }
    for role, source in job.sources.items():  # a usage source's per-content engagement log
        if source.content_log is not None:
            roles[content_log_role(role)] = source.content_log.columns or CONTENT_LOG_COLUMNS
    return roles


def output_columns(
    job: Job, scorecard: Scorecard | None, others: list[Scorecard] | None = None
) -> list[str] | None:
    """The result columns the job's compute produces (None: unknown, e.g. no scorecard);
    ``others``: the scorecards chosen per segment (their categories' points too)."""
    if isinstance(job.compute, ScoreCompute):
        if scorecard is None:
            return None
        cards = [scorecard, *(others or [])]
        points = {f"{name}_points" for card in cards for name in card.categories}
        return sorted(SCORING_COLUMNS | points)
    if isinstance(job.compute, KpiCompute):
        return []
    return list(USAGE_IMPORT_OUTPUT)


def needs_playbook(job: Job) -> bool:
    """Follow-up Tasks, the KPI report and the Slack digest (owner capacity) use the playbook;
    a scoring job reads its onboarding and renewal offsets when the project has one (the
    trigger fields, :mod:`sfsync.automation.trigger_fields`)."""
    return (
        job.write.followup_tasks
        or isinstance(job.compute, KpiCompute | ScoreCompute)
        or job.notify.slack
    )


def load_bundle(project: Project, job_name: str) -> JobBundle:
    """Load and check every file of job ``job_name``; raise every problem at once."""
    bundle, problems = bundle_problems(project, job_name)
    if problems or bundle is None:
        raise ConfigError(problems, hint="fix the files named above; nothing was read or written")
    return bundle


def bundle_problems(
    project: Project, job_name: str
) -> tuple[JobBundle | None, list[ConfigProblem]]:
    """The job's bundle (None when a file does not load) and every problem found."""
    path = job_path(project.jobs_dir, job_name)
    if not path.exists():
        available = sorted(p.stem for p in Path(project.jobs_dir).glob("*.yaml"))
        raise ConfigError(
            [ConfigProblem(str(path), "", f"no job named {job_name!r}")],
            hint=f"jobs in {project.jobs_dir}: {', '.join(available) or 'none'}",
        )
    c = _Collector()
    job = c.load(lambda: load_model(path, Job))
    if job is None:
        return None, c.problems
    settings, mappings, root = project.settings, Path(project.mappings_dir), Path(project.root)
    owner = str(path)

    column_mappings: dict[str, ColumnMapping] = {}
    for role, name in mapped_roles(job).items():
        file = mappings / "columns" / f"{name}.yaml"
        if not c.missing(file, owner, f"sources.{role}.columns"):
            loaded = c.load(lambda file=file: load_column_mapping(file))
            if loaded is not None:
                column_mappings[role] = loaded
    every_source = [*job.sources.items()] + [
        (content_log_role(role), source.content_log)
        for role, source in job.sources.items()
        if source.content_log is not None
    ]
    for role, source in every_source:
        query_file = getattr(source, "query_file", None)
        if query_file:
            c.missing(root / query_file, owner, f"sources.{role}.query_file")
        if isinstance(source, FileSource):
            c.missing(root / source.path, owner, f"sources.{role}.path")

    scorecard = benchmarks = None
    segment_scorecards: dict[str, Scorecard] = {}
    if isinstance(job.compute, ScoreCompute):
        file = mappings / "scorecards" / f"{job.compute.scorecard}.yaml"
        if not c.missing(file, owner, "compute.scorecard"):
            scorecard = c.load(lambda: load_scorecard(file))
        segment_scorecards = _segment_scorecards(c, job.compute, mappings, owner, scorecard)
        if job.compute.benchmarks:
            bench = mappings / "benchmarks" / job.compute.benchmarks
            if not c.missing(bench, owner, "compute.benchmarks"):
                benchmarks = c.load(lambda: _read_benchmarks(bench))
        if job.history.every != "off" and job.write.account_fields:
            history = job.history.mapping
            if not c.missing(mappings / f"{history}.yaml", owner, "history.mapping"):
                c.load(lambda: load_history_mapping(mappings, name=history))

    templates = c.load(lambda: load_templates(mappings / "templates", settings.language))
    sync_config = None
    if not isinstance(job.compute, KpiCompute):
        name = job.write.account_fields or "account_fields"
        if not c.missing(mappings / f"{name}.yaml", owner, "write.account_fields"):
            columns = output_columns(job, scorecard, list(segment_scorecards.values()))
            sync_config = c.load(
                lambda: sync_config_of(mappings, name, templates, settings.timezone, columns)
            )

    playbook = None
    if needs_playbook(job):
        file = mappings / "playbook.yaml"
        key = "compute" if isinstance(job.compute, KpiCompute) else "write.followup_tasks"
        required = job.write.followup_tasks or isinstance(job.compute, KpiCompute)
        if file.exists():
            playbook = c.load(lambda: load_playbook(file))
        elif required:
            c.missing(file, owner, key)

    campaign_rules = None
    if job.write.campaigns:
        file = mappings / f"{job.write.campaigns}.yaml"
        if not isinstance(job.compute, ScoreCompute):
            c.problems.append(
                ConfigProblem(owner, "write.campaigns", "only a scoring job adds Campaign members")
            )
        elif not c.missing(file, owner, "write.campaigns"):
            campaign_rules = c.load(lambda: load_campaign_rules(file))

    bundle = JobBundle(
        name=path.stem,
        job=job,
        settings=settings,
        root=root,
        mappings_dir=mappings,
        templates=templates,
        column_mappings=column_mappings,
        scorecard=scorecard,
        benchmarks=benchmarks,
        sync_config=sync_config,
        playbook=playbook,
        segment_scorecards=segment_scorecards,
        campaign_rules=campaign_rules,
    )
    c.problems.extend(cross_problems(bundle, owner))
    return (None if c.problems else bundle), c.problems


def _segment_scorecards(
    c: _Collector, spec: ScoreCompute, mappings: Path, owner: str, default: Scorecard | None
) -> dict[str, Scorecard]:
    """Segment -> loaded scorecard for ``compute.scorecards`` (each file loaded once); an
    unknown name is a problem naming the segment and the scorecards that exist."""
    directory = mappings / "scorecards"
    loaded: dict[str, Scorecard | None] = {spec.scorecard: default}
    out: dict[str, Scorecard] = {}
    for segment, name in spec.segment_scorecards().items():
        if name not in loaded:
            file = directory / f"{name}.yaml"
            if not file.exists():
                available = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
                c.problems.append(
                    ConfigProblem(
                        owner,
                        f"compute.scorecards.{segment}",
                        f"unknown scorecard {name!r}: {file} does not exist "
                        f"(scorecards: {available or 'none'})",
                    )
                )
                loaded[name] = None
            else:
                loaded[name] = c.load(lambda file=file: load_scorecard(file))
        card = loaded[name]
        if card is None:
            continue
        named = [n for n, other in loaded.items() if other is not None and n != name]
        clash = [n for n in named if loaded[n].name == card.name]  # type: ignore[union-attr]
        if clash:
            c.problems.append(
                ConfigProblem(
                    owner,
                    f"compute.scorecards.{segment}",
                    f"the scorecards {clash[0]} and {name} are both named {card.name!r}: "
                    f"give mappings/scorecards/{name}.yaml a name of its own (its `name:`), "
                    "so results say which one scored an account",
                )
            )
            continue
        out[segment] = card
    return out


def sync_config_of(
    mappings: Path,
    mapping_name: str,
    templates: TemplateSet | None,
    timezone: str,
    columns: list[str] | None,
) -> SyncConfig:
    """The Account field mapping (checked against the job's result ``columns``) and the Task
    settings, with the already loaded ``templates`` (as ``load_sync_config`` does, reading
    the templates once)."""
    problems: list[ConfigProblem] = []
    mapping = task_settings = None
    try:
        mapping = load_mapping(mappings / f"{mapping_name}.yaml", columns=columns)
    except ConfigError as exc:
        problems += exc.problems
    path = mappings / "tasks.yaml"
    try:
        task_settings = load_task_settings(path) if path.exists() else TaskSettings()
    except ConfigError as exc:
        problems += exc.problems
    if task_settings is not None and templates is not None:
        problems += task_problems(task_settings, templates)
        problems += upsell_template_problems(templates)
        problems += loop_template_problems(templates)
    if problems or mapping is None or task_settings is None:
        raise ConfigError(problems)
    return SyncConfig(mapping, task_settings, templates, timezone)


def _read_benchmarks(path: Path) -> pd.DataFrame:
    return file_source.read_file(path)


# --- checks across files ---------------------------------------------------------------------


def cross_problems(bundle: JobBundle, job_file: str) -> list[ConfigProblem]:
    """Checks of the files against each other: scorecard inputs are provided by the column
    mappings, mapped picklists cover the codes, Task templates exist in every language."""
    problems = scorecard_input_problems(bundle, job_file)
    problems += picklist_problems(bundle)
    problems += template_language_problems(bundle)
    return problems


def scorecard_input_problems(bundle: JobBundle, job_file: str) -> list[ConfigProblem]:
    """Every extra input the scorecard reads is a column of the source role it reads from."""
    problems = []
    for card in bundle.scorecards():
        problems += _card_input_problems(bundle, card, job_file)
    return problems


def _card_input_problems(bundle: JobBundle, card: Scorecard, job_file: str) -> list[ConfigProblem]:
    card_file = card.source
    problems = []
    for role in ("accounts", "usage"):
        wanted = [name for name, spec in card.inputs.items() if spec.source == role]
        if not wanted:
            continue
        if role not in bundle.job.sources:
            problems.append(
                ConfigProblem(
                    job_file,
                    "sources",
                    f"the scorecard {card.name or card_file} reads {role} columns "
                    f"({', '.join(wanted)}) but the job has no {role} source",
                )
            )
            continue
        mapping = bundle.column_mappings.get(role)
        if mapping is None:
            continue
        missing = [name for name in wanted if name not in mapping.columns]
        if missing:
            mapping_name = mapped_roles(bundle.job).get(role, role)
            problems.append(
                ConfigProblem(
                    job_file,
                    f"sources.{role}.columns",
                    f"the scorecard {card_file} reads {role} column(s) {', '.join(missing)}, "
                    f"which the column mapping mappings/columns/{mapping_name}.yaml does not "
                    "provide: add them there (or use a scorecard whose inputs the sources have)",
                )
            )
    return problems


def producible_values(bundle: JobBundle) -> dict[str, tuple[str, ...]]:
    """Every value each coded result column can take with this job's scorecard and rules."""
    values = dict(PRODUCIBLE_VALUES)
    cards = bundle.scorecards()
    if cards:
        bands = (band.name for card in cards for band in card.bands)
        values["health_band"] = tuple(dict.fromkeys(bands))
    return values


def picklist_problems(bundle: JobBundle) -> list[ConfigProblem]:
    """A mapped picklist whose ``values`` are given must hold every code the job produces."""
    config = bundle.sync_config
    if config is None or bundle.scorecard is None:
        return []
    codes = producible_values(bundle)
    problems = []
    for column, spec in config.mapping.fields.items():
        if spec.values is None or column not in codes:
            continue
        missing = [v for v in codes[column] if v not in spec.values]
        if missing:
            problems.append(
                ConfigProblem(
                    config.mapping.source or "mapping",
                    f"fields.{column}.values",
                    f"misses value(s) the job can produce: {', '.join(missing)}",
                )
            )
    return problems


def template_language_problems(bundle: JobBundle) -> list[ConfigProblem]:
    """The Task templates of every signal exist in every template language, not only in the
    configured one (and the upsell Opportunity names when ``write.opportunity`` is on)."""
    config = bundle.sync_config
    directory = bundle.mappings_dir / "templates"
    if config is None or not bundle.job.write.signal_tasks or not directory.is_dir():
        return []
    problems: list[ConfigProblem] = []
    opportunity = bundle.job.write.opportunity.enabled
    for language in sorted(p.name for p in directory.iterdir() if p.is_dir()):
        if language == bundle.language and not opportunity:
            continue  # checked by load_sync_config
        try:
            templates = load_templates(directory, language)
        except ConfigError:
            continue  # reported by the templates validator
        if opportunity:
            problems += opportunity_template_problems(templates)
        if language == bundle.language:
            continue  # the rest is checked by load_sync_config
        problems += task_problems(config.task_settings, templates)
        problems += upsell_template_problems(templates)
        problems += loop_template_problems(templates)
    return problems


# --- sfsync validate ------------------------------------------------------------------------


def validate_jobs(project: Project) -> tuple[list[ConfigProblem], str]:
    """``sfsync validate``: every job loaded with :func:`load_bundle`'s checks."""
    problems: list[ConfigProblem] = []
    names = []
    for path in sorted(Path(project.jobs_dir).glob("*.yaml")):
        _, found = bundle_problems(project, path.stem)
        problems += found
        names.append(path.stem)
    return problems, ", ".join(names) or "none found"


def retention_protect_days(jobs_dir: Path) -> int:
    """The age (days) below which state-store retention keeps everything: the longest trend
    window and output-guard window of the scoring jobs in ``jobs_dir`` (a job file that does
    not load counts with the defaults; ``sfsync validate`` reports it)."""
    trend, guard = [ScoreCompute.model_fields["trend_days"].default], [35]
    for path in sorted(Path(jobs_dir).glob("*.yaml")):
        try:
            job = load_job(Path(jobs_dir), path.stem)
        except ConfigError:
            continue
        if isinstance(job.compute, ScoreCompute):
            trend.append(job.compute.trend_days)
        guard.append(job.guards.output.recent_days)
    return protected_days(trend, guard)
