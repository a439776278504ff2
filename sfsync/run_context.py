"""Open one run: its validated bundle first, then the ready-made clients its stages use.

:func:`open_run` loads the job's :class:`~sfsync.project.JobBundle` (every file checked, before
any network call), then builds the clients from the project's settings (which the SPEC §9
environment variables override); tests and ``--sandbox`` build them the same way against the
local practice org. Stages never build clients themselves, and none receives a :class:`Run`:
``sfsync.pipeline`` hands each stage only what it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from sfsync.config import Project
from sfsync.errors import ConfigError, ConfigProblem
from sfsync.jobs import Job, MetabaseSource
from sfsync.notify.slack import SlackNotifier
from sfsync.ports import Notifier, SalesforceApi, Store, UsageReader
from sfsync.project import JobBundle, load_bundle
from sfsync.report import Progress
from sfsync.salesforce import client as salesforce_client
from sfsync.sources.metabase import MetabaseClient
from sfsync.state.db import open_store


@dataclass
class Clients:
    """The ready-made clients a run uses (None: not configured / not needed)."""

    salesforce: SalesforceApi | None = None
    metabase: UsageReader | None = None
    slack: Notifier | None = None
    store: Store | None = None

    def close(self) -> None:
        """Release what was opened (the state store's connections)."""
        if self.store is not None:
            self.store.dispose()


@dataclass(frozen=True)
class RunRequest:
    """What was asked of this run on the command line."""

    as_of: date
    dry_run: bool = False
    accept_input_change: bool = False  # --accept-input-change: the input guard only warns
    accept_mass_change: bool = False  # --accept-mass-change: the output guard only warns
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """One run as the composition (``sfsync.pipeline.run_job``) sees it."""

    bundle: JobBundle
    request: RunRequest
    clients: Clients
    progress: Progress = field(default_factory=lambda: Progress(None))

    @property
    def job_name(self) -> str:
        return self.bundle.name

    @property
    def job(self) -> Job:
        return self.bundle.job

    @property
    def as_of(self) -> date:
        return self.request.as_of

    @property
    def dry_run(self) -> bool:
        return self.request.dry_run

    def close(self) -> None:
        """Release what the run opened (the state store's connections)."""
        self.clients.close()


def open_run(
    project: Project,
    job_name: str,
    as_of: date,
    *,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
    accept_input_change: bool = False,
    accept_mass_change: bool = False,
) -> Run:
    """Load the job's bundle, then open the clients it needs: Salesforce always, Metabase
    when a source reads it, Slack when the job notifies and a token is configured."""
    bundle = load_bundle(project, job_name)
    request = RunRequest(
        as_of,
        dry_run=dry_run,
        accept_input_change=accept_input_change,
        accept_mass_change=accept_mass_change,
        env=dict(env or {}),
    )
    return Run(bundle, request, open_clients(bundle, dry_run=dry_run), Progress(echo))


# the former name of open_run (its result was a RunContext)
build_run_context = open_run


def open_clients(bundle: JobBundle, *, dry_run: bool) -> Clients:
    """The clients of ``bundle``'s job, built from its settings."""
    settings = bundle.settings
    store = open_store(settings.state_url)
    clients = Clients(store=store)
    try:
        # through the module, so that a test can stand in for connect() where it is defined
        clients.salesforce = salesforce_client.connect(
            settings.salesforce, timezone=settings.timezone
        )
        if any(isinstance(s, MetabaseSource) for s in bundle.job.sources.values()):
            clients.metabase = MetabaseClient.from_settings(settings.metabase)
        if bundle.job.notify.slack and not dry_run:
            clients.slack = _slack_notifier(bundle, store, clients.salesforce)
    except BaseException:
        store.dispose()
        raise
    return clients


def _slack_notifier(
    bundle: JobBundle, store: Store, salesforce: SalesforceApi | None
) -> Notifier | None:
    """The Slack notifier, or None when Slack is not configured."""
    slack = bundle.settings.slack
    if not slack.token:
        return None
    if bundle.playbook is None or bundle.templates is None:
        raise ConfigError(
            [ConfigProblem(str(bundle.mappings_dir / "playbook.yaml"), "", "does not exist")],
            hint="Slack alerts need the playbook (owner capacity, escalations)",
        )

    return SlackNotifier.from_settings(
        slack,
        store,
        bundle.templates,
        bundle.playbook,
        instance_url=getattr(salesforce, "instance_url", None),
    )
