"""The context of one run: what it is about and the ready-made clients its stages use.

``build_run_context`` builds the clients from a project's settings (which the SPEC §9
environment variables override); tests and ``--sandbox`` build them the same way against the
sandbox. Stages never build clients themselves (``sfsync.pipeline``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sfsync.jobs import Job, MetabaseSource
from sfsync.report import Progress, RunSummary


@dataclass
class Clients:
    """The ready-made clients a run uses (None: not configured / not needed)."""

    salesforce: Any = None  # sfsync.salesforce.client.SalesforceClient
    metabase: Any = None  # sfsync.sources.metabase.MetabaseClient
    slack: Any = None  # slack_sdk.WebClient
    store: Any = None  # sfsync.state.db.Store


@dataclass
class RunContext:
    """Everything a stage needs to know about the run."""

    job_name: str
    job: Job
    as_of: date
    root: Path
    mappings_dir: Path
    clients: Clients
    settings: Any = None  # sfsync.config.Settings
    dry_run: bool = False
    run_id: int | None = None
    progress: Progress = field(default_factory=lambda: Progress(None))
    summary: RunSummary | None = None
    env: dict[str, str] = field(default_factory=dict)
    accept_input_change: bool = False  # --accept-input-change: the input guard only warns
    accept_mass_change: bool = False  # --accept-mass-change: the output guard only warns

    def __post_init__(self) -> None:
        if self.summary is None:
            self.summary = RunSummary(job=self.job_name, as_of=self.as_of, dry_run=self.dry_run)

    @property
    def timezone(self) -> str:
        return str(getattr(self.settings, "timezone", None) or "Asia/Tokyo")

    @property
    def bulk_threshold(self) -> int:
        sf = getattr(self.settings, "salesforce", None)
        return int(getattr(sf, "bulk_threshold", 2000) or 2000)

    def close(self) -> None:
        """Release what the context opened (the state store's connections)."""
        store = self.clients.store
        if store is not None and hasattr(store, "dispose"):
            store.dispose()


def build_run_context(
    project: Any,
    job_name: str,
    as_of: date,
    *,
    dry_run: bool = False,
    env: dict[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
    accept_input_change: bool = False,
    accept_mass_change: bool = False,
) -> RunContext:
    """A run context for ``project`` (``sfsync.config.Project``) with clients from its settings.

    Only the clients the job needs are built: Salesforce always, Metabase when a source reads
    it, Slack when the job notifies and a token is configured.
    """
    from sfsync.jobs import load_job
    from sfsync.state.db import open_store

    job = load_job(project.jobs_dir, job_name)
    settings = project.settings
    store = open_store(settings.state_url)
    clients = Clients(store=store)
    try:
        clients.salesforce = _salesforce_client(settings)
        if any(isinstance(s, MetabaseSource) for s in job.sources.values()):
            from sfsync.sources.metabase import MetabaseClient

            clients.metabase = MetabaseClient.from_settings(settings.metabase)
        if job.notify.slack and not dry_run:
            clients.slack = _slack_notifier(project, store, clients.salesforce)
    except BaseException:
        store.dispose()
        raise
    return RunContext(
        job_name=Path(job_name).stem,
        job=job,
        as_of=as_of,
        root=project.root,
        mappings_dir=project.mappings_dir,
        clients=clients,
        settings=settings,
        dry_run=dry_run,
        progress=Progress(echo),
        env=dict(env or {}),
        accept_input_change=accept_input_change,
        accept_mass_change=accept_mass_change,
    )


def _salesforce_client(settings: Any) -> Any:
    from sfsync.salesforce.client import connect

    return connect(settings.salesforce, timezone=settings.timezone)


def _slack_notifier(project: Any, store: Any, salesforce: Any) -> Any:
    """The Slack notifier, or None when Slack is not configured."""
    slack = project.settings.slack
    if not getattr(slack, "token", None):
        return None
    from sfsync.notify.slack import SlackNotifier
    from sfsync.templates import load_templates

    templates = load_templates(project.mappings_dir / "templates", project.settings.language)
    from sfsync.automation.playbook import load_playbook

    playbook = load_playbook(project.mappings_dir / "playbook.yaml")
    return SlackNotifier.from_settings(
        slack,
        store,
        templates,
        playbook,
        instance_url=getattr(salesforce, "instance_url", None),
    )
