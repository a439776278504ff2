"""The run summary (what was read, scored, written, quarantined and alerted; API calls used)
and the progress lines a person sees at a terminal during a long run.

The summary is data: :meth:`RunSummary.to_text` renders it for people, :meth:`RunSummary.to_event`
for the JSON log (``run_finished``) and :meth:`RunSummary.counts` for the runs ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sfsync.catalogue import BANDS

Echo = Callable[[str], None]


@dataclass
class RunSummary:
    """Counts of one run; filled in stage by stage by the pipeline."""

    job: str
    as_of: date
    dry_run: bool = False
    run_id: int | None = None
    status: str = "running"
    read: dict[str, int] = field(default_factory=dict)  # role -> rows read from the source
    quarantined: dict[str, int] = field(default_factory=dict)  # role -> rows quarantined
    unknown_tenants: int = 0  # usage tenants no account has (reported and left out)
    unknown_tenant_rows: int = 0
    likely_mislinked: int = 0  # linked accounts whose tenant has no usage row at all
    guards_accepted: list[str] = field(default_factory=list)  # guard findings applied anyway
    scored: int = 0
    bands: dict[str, int] = field(default_factory=dict)
    signals_active: int = 0
    signals_new: int = 0
    churn_signals_new: int = 0  # of signals_new: churn risks (the rest are upsell signals)
    fields_planned: int = 0  # Account records whose fields differ from Salesforce
    tasks_planned: int = 0
    fields_written: int = 0
    tasks_created: int = 0
    signal_tasks_created: int = 0  # of tasks_created: Tasks for new churn signals
    upsell_tasks_created: int = 0  # of tasks_created: proposals for new upsell signals
    followup_tasks_created: int = 0  # of tasks_created: the playbook's scheduled follow-ups
    tasks_updated: int = 0
    tasks_deferred: int = 0  # new Tasks left for a later night by the per-owner daily limit
    unchanged: int = 0
    write_failures: int = 0
    campaign_members_planned: int = 0  # CampaignMember inserts of the plan (write.campaigns)
    campaign_members_by_rule: dict[str, int] = field(default_factory=dict)  # planned per rule
    campaign_members_added: int = 0  # inserted
    campaign_members_already: int = 0  # wanted, but members already when planned (not written)
    campaign_members_duplicates: int = 0  # DUPLICATE_VALUE when written: members already
    history_period: str | None = None  # the score-history snapshot of this run (2025-W11)
    history_planned: int = 0  # Health_Score_History__c records of that snapshot
    history_written: int = 0
    pruned: dict[str, int] = field(default_factory=dict)  # state-store rows pruned, by table
    signal_alerts: int = 0  # new-signal alerts and escalations decided this run
    alerts_sent: int = 0  # Slack messages delivered (alerts, escalations, the digest)
    alerts_pending: int = 0  # Slack messages still queued in the outbox (the next run sends them)
    worklists: int = 0  # owners whose Slack digest listed today's top accounts (their worklist)
    api_calls: dict[str, int] = field(default_factory=dict)  # service -> calls
    duration_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def total_api_calls(self) -> int:
        return sum(self.api_calls.values())

    @property
    def total_quarantined(self) -> int:
        return sum(self.quarantined.values())

    @property
    def written(self) -> int:
        return self.fields_written + self.tasks_created + self.tasks_updated

    def counts(self) -> dict[str, Any]:
        """The JSON-able counts stored in the runs ledger."""
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        for key in ("job", "run_id", "status", "dry_run", "notes", "as_of"):
            data.pop(key)
        return data

    def to_event(self) -> dict[str, Any]:
        """Key-values of the ``run_finished`` log event."""
        return {
            "job": self.job,
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "status": self.status,
            "dry_run": self.dry_run,
            **self.counts(),
            "api_calls_total": self.total_api_calls,
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """A block a person reads at the end of a run."""
        title = f"Run {self.run_id} of {self.job}" if self.run_id else f"Run of {self.job}"
        mode = " (dry run: nothing written)" if self.dry_run else ""
        lines = [f"{title} as of {self.as_of.isoformat()}: {self.status}{mode}"]
        read = ", ".join(f"{n:,} {role}" for role, n in self.read.items()) or "nothing"
        lines.append(f"  read         {read}")
        if self.total_quarantined:
            parts = ", ".join(f"{n:,} {role}" for role, n in self.quarantined.items() if n)
            lines.append(f"  quarantined  {parts} (see `sfsync` state store, table quarantine)")
        else:
            lines.append("  quarantined  0 rows")
        if self.unknown_tenants:
            lines.append(
                f"  unknown      {self.unknown_tenant_rows:,} usage rows of "
                f"{self.unknown_tenants:,} tenants no account has (left out)"
            )
        if self.scored:
            order = {band: i for i, band in enumerate(BANDS)}
            ranked = sorted(self.bands.items(), key=lambda item: order.get(item[0], 9))
            bands = ", ".join(f"{n:,} {band}" for band, n in ranked)
            lines.append(f"  scored       {self.scored:,} accounts ({bands})")
            upsell_new = self.signals_new - self.churn_signals_new
            lines.append(
                f"  signals      {self.signals_active:,} active, {self.signals_new:,} new "
                f"({self.churn_signals_new:,} churn risks, {upsell_new:,} upsell)"
            )
        if self.dry_run:
            lines.append(
                f"  planned      {self.fields_planned:,} account updates, "
                f"{self.tasks_planned:,} task upserts"
            )
        else:
            lines.append(
                f"  written      {self.fields_written:,} account updates, "
                f"{self.tasks_created:,} tasks created, {self.tasks_updated:,} tasks updated, "
                f"{self.unchanged:,} unchanged"
            )
            if self.tasks_created:
                lines.append(
                    f"  new tasks    {self.signal_tasks_created:,} for signals, "
                    f"{self.upsell_tasks_created:,} upsell proposals, "
                    f"{self.followup_tasks_created:,} scheduled follow-ups"
                )
            if self.write_failures:
                lines.append(f"  failed       {self.write_failures:,} records (retried next run)")
        if self.tasks_deferred:
            lines.append(
                f"  deferred     {self.tasks_deferred:,} new tasks over the daily limit per "
                "owner (created on a later night)"
            )
        if self.campaign_members_planned or self.campaign_members_already:
            lines.append(self._campaign_line())
        if self.history_period:
            done = "planned" if self.dry_run else f"{self.history_written:,} of"
            lines.append(
                f"  history      {done} {self.history_planned:,} score history records "
                f"({self.history_period})"
            )
        if self.pruned:
            pruned = ", ".join(f"{n:,} {table}" for table, n in self.pruned.items() if n)
            lines.append(f"  pruned       {pruned or 'nothing'} (state store retention)")
        if not self.dry_run and (self.scored or self.alerts_sent or self.alerts_pending):
            pending = (
                f", {self.alerts_pending:,} not delivered: queued for the next run"
                if self.alerts_pending
                else ""
            )
            lines.append(
                f"  alerted      {self.signal_alerts:,} new signals "
                f"({self.alerts_sent:,} Slack message{'' if self.alerts_sent == 1 else 's'} sent{pending})"
            )
        if not self.dry_run and self.worklists:
            lines.append(
                f"  worklists    {self.worklists:,} owner{'' if self.worklists == 1 else 's'} "
                "got today's top accounts in their Slack digest"
            )
        calls = ", ".join(f"{service} {n:,}" for service, n in self.api_calls.items())
        lines.append(f"  API calls    {self.total_api_calls:,} ({calls or 'none'})")
        lines.append(f"  took         {self.duration_seconds:.1f} s")
        lines.extend(f"  guard        {finding}" for finding in self.guards_accepted)
        lines.extend(f"  note         {note}" for note in self.notes)
        return "\n".join(lines)

    def _campaign_line(self) -> str:
        rules = ", ".join(f"{rule} {n:,}" for rule, n in self.campaign_members_by_rule.items())
        rules = f" ({rules})" if rules else ""
        if self.dry_run:
            head = f"{self.campaign_members_planned:,} Campaign members planned{rules}"
        else:
            head = f"{self.campaign_members_added:,} contacts added to Campaigns{rules}"
        tail = f"; {self.campaign_members_already:,} already members"
        if self.campaign_members_duplicates:
            tail += (
                f"; {self.campaign_members_duplicates:,} became members before the write "
                "(DUPLICATE_VALUE, counted as members)"
            )
        return f"  campaigns    {head}{tail}"


class Progress:
    """Progress lines for a person at a terminal: one per stage, and periodic row counts.

    ``echo`` is None in JSON-log mode (machines read the log events instead), which makes
    every method a no-op. Row updates print at most every ``interval`` seconds.
    """

    def __init__(
        self,
        echo: Echo | None,
        *,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.echo = echo
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}

    def stage(self, text: str) -> None:
        """A stage starts (``Extracting usage from Metabase card 1…``)."""
        if self.echo:
            self.echo(text)

    def rows(self, what: str, count: int, *, done: bool = False) -> None:
        """``count`` rows of ``what`` read so far; printed periodically, and once when done."""
        if not self.echo:
            return
        now = self.clock()
        last = self._last.get(what)
        if done or last is None or now - last >= self.interval:
            self._last[what] = now
            suffix = "" if done else " …"
            self.echo(f"  {what}: {count:,} rows{suffix}")

    def callback(self, what: str) -> Callable[[int], None]:
        """A ``progress(rows)`` function for a source that reads in chunks."""
        return lambda count: self.rows(what, count)
