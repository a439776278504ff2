"""Offline validation of a project's configuration (``sfsync validate``).

A validator is a function ``(project) -> list[ConfigProblem]`` (it may instead return
``(problems, detail)`` where ``detail`` says briefly what it checked). :data:`VALIDATORS` lists
them in order; adding one is one line, either the function or a lazy ``"module:function"``
string (imported only when validation runs)::

    VALIDATORS.append(("scorecards", "sfsync.scoring.validation:validate_scorecards"))

``ORG_VALIDATOR`` is the optional online hook behind ``sfsync validate --org`` (checks the
mappings against the org's describe); it has the same signature.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from sfsync.automation.campaign_rules import load_campaign_rules, rule_targets
from sfsync.config import ENV_OVERRIDES, Project, Settings, load_project, resolve_state_url
from sfsync.errors import ConfigError, ConfigProblem, SfsyncError
from sfsync.jobs import SalesforceSource, load_job
from sfsync.salesforce import planner
from sfsync.salesforce.campaign_members import CONTACT, SOBJECT, org_problems, resolve_campaigns
from sfsync.salesforce.client import connect
from sfsync.salesforce.retry import SalesforceApiError, error_messages
from sfsync.scoring.scorecard import load_rules, load_scorecard
from sfsync.scoring.wording import wording_from_templates
from sfsync.sources.columns import load_column_mapping
from sfsync.sources.extract import DEFAULT_COLUMNS
from sfsync.sources.salesforce import accounts_soql, available_fields
from sfsync.templates import load_templates

Validator = Callable[[Project], Any]


def _source(project: Project, dotted: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(file, path) to report a problem with a setting: the env variable if it set the value."""
    for var, key in ENV_OVERRIDES.items():
        if key == dotted and env.get(var, "").strip():
            return "environment", var
    return (str(project.config_file) if project.config_file else "sfsync.yaml"), dotted


def display_path(path: Path) -> Path:
    """``path`` relative to the current folder when it is inside it (shorter messages)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def validate_settings(project: Project) -> tuple[list[ConfigProblem], str]:
    """Checks the settings model cannot make alone: files exist, flows are complete."""
    env = os.environ
    sf = project.settings.salesforce
    problems = []
    key_file = sf.private_key_file
    if key_file is not None:
        file, path = _source(project, "salesforce.private_key_file", env)
        if not key_file.is_file():
            shown = display_path(key_file)
            problems.append(ConfigProblem(file, path, f"private key file {shown} not found"))
        elif "PRIVATE KEY" not in key_file.read_text(encoding="utf-8", errors="replace"):
            problems.append(
                ConfigProblem(file, path, f"{key_file} is not a PEM private key (BEGIN … KEY)")
            )
    if sf.consumer_key is not None and sf.username is None:
        file, path = _source(project, "salesforce.username", env)
        problems.append(
            ConfigProblem(file, path, "the JWT bearer flow (consumer_key) needs the username")
        )
    problem = state_url_problem(project.settings.state_url)
    if problem:
        file, path = _source(project, "state_url", env)
        problems.append(ConfigProblem(file, path, problem))
    source = str(project.config_file) if project.config_file else "defaults (no sfsync.yaml)"
    return problems, source


def state_url_problem(url: str) -> str | None:
    """Why the state store URL cannot be opened by this installation (unknown or missing
    database driver), or None. Connecting is left to ``sfsync doctor`` and the run."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "not a database URL (e.g. sqlite:///state.db or postgresql://host/db)"
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # what the state store uses
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        return (
            f"unknown database driver {parsed.drivername!r}; use sqlite:///… or "
            "postgresql://… (psycopg 3)"
        )
    except ImportError as exc:
        return (
            f"the database driver of {parsed.drivername!r} is not installed ({exc.name}); "
            "use postgresql://… (psycopg 3, installed with sfsync)"
        )
    return None


def validate_templates(project: Project) -> tuple[list[ConfigProblem], str]:
    """Every template language folder loads, the configured language exists, and all
    languages define the same template keys."""
    directory = display_path(project.templates_dir)
    if not directory.is_dir():
        return [], "none found"
    languages = sorted(p.name for p in directory.iterdir() if p.is_dir())
    problems: list[ConfigProblem] = []
    keys: dict[str, set[tuple[str, str]]] = {}
    for language in languages:
        try:
            templates = load_templates(directory, language)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        keys[language] = {(s, k) for s, entries in templates.sections.items() for k in entries}
        if language == project.settings.language and "explanation" in templates.sections:
            try:  # the score explanation's fields and placeholders, checked before scoring
                wording_from_templates(templates)
            except ConfigError as exc:
                problems.extend(exc.problems)
    wanted = project.settings.language
    if wanted not in languages:
        file, path = _source(project, "language", os.environ)
        problems.append(
            ConfigProblem(file, path, f"no templates for language {wanted!r} in {directory}")
        )
    for language, have in keys.items():
        for other, theirs in keys.items():
            for section, key in sorted(theirs - have):
                problems.append(
                    ConfigProblem(
                        str(directory / language),
                        f"{section}.{key}",
                        f"template missing (defined for {other})",
                    )
                )
    counts = ", ".join(f"{lang}: {len(k)}" for lang, k in sorted(keys.items()))
    return problems, counts or "none loaded"


def validate_scorecards(project: Project) -> tuple[list[ConfigProblem], str]:
    """Every scorecard in ``mappings/scorecards/`` and ``mappings/rules.yaml`` load cleanly."""
    problems: list[ConfigProblem] = []
    names = []
    for path in sorted((project.mappings_dir / "scorecards").glob("*.yaml")):
        try:
            load_scorecard(display_path(path))
            names.append(path.stem)
        except ConfigError as exc:
            problems.extend(exc.problems)
    rules = project.mappings_dir / "rules.yaml"
    if rules.exists():
        try:
            load_rules(display_path(rules))
        except ConfigError as exc:
            problems.extend(exc.problems)
    return problems, ", ".join(names) or "none found"


def validate_org(project: Project) -> list[ConfigProblem]:
    """``--org``: connect with the project's credentials, check the mappings against the
    org's describe (the sync area's ``validate_org``), then let the org judge every job's
    Salesforce accounts query and scope filter (:func:`validate_org_scopes`) and check the
    Campaign rules (:func:`validate_org_campaigns`)."""
    settings = project.settings
    client = connect(settings.salesforce, timezone=settings.timezone)
    return (
        planner.validate_org(project, client)
        + validate_org_scopes(project, client)
        + validate_org_campaigns(project, client)
    )


def validate_org_campaigns(project: Project, client: Any) -> list[ConfigProblem]:
    """Each Campaign rules file a job uses (``write.campaigns``) against the org: a fixed
    Campaign exists once, the member status and the contact roles are the org's (what a run
    would otherwise note and skip). A Campaign per period (``{month}``, ``{year}``) depends on
    the as-of date: each run checks it and notes a missing one. Files that do not load are
    left to the offline check."""
    names = set()
    for job_file in sorted(Path(project.jobs_dir).glob("*.yaml")):
        try:
            names.add(load_job(project.jobs_dir, job_file.stem).write.campaigns)
        except ConfigError:
            continue
    problems: list[ConfigProblem] = []
    for name in sorted(n for n in names if n):
        path = Path(project.mappings_dir) / f"{name}.yaml"
        try:
            rules = load_campaign_rules(path)
        except ConfigError:
            continue
        targets = rule_targets(rules, date.today())  # the date only fills in placeholders
        fixed = [t for t in targets if not rules.rules[t.rule].periodic]
        shown = str(display_path(path))
        found = org_problems(targets, client.describe(SOBJECT), client.describe(CONTACT), shown)
        found += resolve_campaigns(client, fixed, shown)[1]
        problems += [ConfigProblem(shown, f"{p.key}.{p.field}", p.message) for p in found]
    return problems


def validate_org_scopes(project: Project, client: Any) -> list[ConfigProblem]:
    """Run each job's Salesforce accounts query, scope filter included, with ``LIMIT 1``.

    The org itself judges the SOQL, so a filter it refuses (AND and OR mixed without
    parentheses, a long text field, a malformed Id, …) is reported now, as a problem of the
    job file's ``scope``, with Salesforce's error code and message, instead of failing the
    first night. Jobs that do not load are left to the offline check.
    """
    problems: list[ConfigProblem] = []
    fields_cache: dict[str, list[str] | None] = {}
    for job_file in sorted(Path(project.jobs_dir).glob("*.yaml")):
        try:
            job = load_job(project.jobs_dir, job_file.stem)
        except ConfigError:
            continue
        for role, source in job.sources.items():
            if not isinstance(source, SalesforceSource) or source.object != "accounts":
                continue
            where = f"sources.{role}.scope" if source.scope else f"sources.{role}"
            shown = str(display_path(job_file))
            try:
                mapping = load_column_mapping(
                    Path(project.mappings_dir)
                    / "columns"
                    / f"{source.columns or DEFAULT_COLUMNS[role]}.yaml"
                )
                if "Account" not in fields_cache:
                    fields_cache["Account"] = available_fields(client, "Account")
                soql = accounts_soql(mapping, source.scope, fields_cache["Account"]) + " LIMIT 1"
                client.query(soql)
            except SalesforceApiError as exc:
                if exc.status not in (400, 404):
                    raise
                problems.append(ConfigProblem(shown, where, _refusal(exc, source.scope)))
            except (ConfigError, SfsyncError, ValueError) as exc:
                problems.append(ConfigProblem(shown, where, f"cannot check against the org: {exc}"))
    return problems


def _refusal(exc: Any, scope: Any) -> str:
    """What the org said about a job's accounts query, in one line."""
    said = " ".join(error_messages(exc.content).split())  # Salesforce's message spans lines
    what = "the scope filter" if scope else "the accounts query"
    return f"Salesforce refused {what}: {said}"


# (name, validator) in the order they run. Other areas add theirs here, one line each.
VALIDATORS: list[tuple[str, Validator | str]] = [
    ("settings", validate_settings),
    ("templates", validate_templates),
    ("scorecards", validate_scorecards),
    ("jobs", "sfsync.project:validate_jobs"),
    ("field mappings and task rules", "sfsync.salesforce.planner:validate"),
]

# The online check behind `sfsync validate --org`.
ORG_VALIDATOR: Validator | str | None = validate_org


def resolve(validator: Validator | str) -> Validator:
    """A validator function from a function or a ``"module:function"`` string."""
    if callable(validator):
        return validator
    module, _, name = validator.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class ValidationReport:
    """What was checked and every problem found."""

    checked: list[str] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_validator(report: ValidationReport, name: str, validator: Validator | str, project) -> None:
    """Run one validator into ``report`` (a ConfigError it raises counts as its problems)."""
    try:
        result = resolve(validator)(project)
    except ConfigError as exc:
        result = exc.problems
    problems, detail = result if isinstance(result, tuple) else (result, "")
    # several jobs share a file: its problem is listed once
    report.problems.extend(p for p in dict.fromkeys(problems) if p not in report.problems)
    report.checked.append(f"{name} ({detail})" if detail else name)


def _fallback_project(config_path: str | Path | None) -> Project:
    """Defaults around ``config_path``, so that other files are checked when settings fail."""
    path = Path(config_path) if config_path else Path("sfsync.yaml")
    root = (path.parent if config_path else Path.cwd()).resolve()
    settings = Settings()
    settings = settings.model_copy(
        update={"state_url": resolve_state_url(settings.state_url, root)}
    )
    return Project(root, settings, root / "jobs", root / "mappings", path)


def validate_project(
    config_path: str | Path | None,
    *,
    env: Mapping[str, str] | None = None,
    validators: list[tuple[str, Validator | str]] | None = None,
) -> tuple[Project, ValidationReport]:
    """Load the project and run every validator; problems are collected, never raised."""
    report = ValidationReport()
    try:
        project = load_project(config_path, env)
    except ConfigError as exc:
        report.problems.extend(exc.problems)
        project = _fallback_project(config_path)
    for name, validator in VALIDATORS if validators is None else validators:
        run_validator(report, name, validator, project)
    return project, report
