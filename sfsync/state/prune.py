"""State-store retention: thin old score snapshots, prune old ledger rows (``sfsync state
prune``, and the automatic step at the end of a successful run).

What goes (``retention:`` in ``sfsync.yaml``, :class:`sfsync.config.RetentionSettings`):

* ``score_snapshots``: the dates :mod:`sfsync.state.thinning` does not keep, per scorecard
  (their changes folded forward to the next kept date, :mod:`sfsync.state.snapshot_upkeep`);
* ``runs`` whose as-of date is older than ``ledger_days`` (never a running one, never a job's
  latest good run: the input guard compares with it), with their ``quarantine`` rows;
* ``run_figures`` (the guards' baseline) and ``history_periods`` older than ``ledger_days``;
* ``signal_ledger`` rows of signals cleared more than ``ledger_days`` ago (active signals stay:
  they decide what is new);
* ``write_failures`` resolved more than ``ledger_days`` ago (pending ones stay: the next run
  retries them).

The protected windows (the trend baseline, the output guard's recent runs) come from the
jobs (:func:`sfsync.state.thinning.protected_days`); the caller passes them. A dry run counts
the same rows and deletes nothing. Each table is pruned in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, delete, func, not_, select

from sfsync.config import RetentionSettings
from sfsync.state.db import Store
from sfsync.state.failures import write_failures
from sfsync.state.history_periods import history_periods
from sfsync.state.quarantine import quarantine
from sfsync.state.run_figures import GOOD_STATUSES, run_figures
from sfsync.state.runs import runs
from sfsync.state.signals import signal_ledger
from sfsync.state.snapshot_upkeep import remove_dates
from sfsync.state.snapshots import score_snapshot_dates, score_snapshots
from sfsync.state.thinning import ThinningRule, dates_to_delete

log = structlog.get_logger(__name__)

# A pruner of another module: (store, cutoff as naive UTC datetime, dry_run) -> (table, rows).
Pruner = Callable[[Store, datetime, bool], tuple[str, int]]


@dataclass
class PruneReport:
    """What a prune deleted (or, in a dry run, would delete)."""

    today: date
    dry_run: bool
    ledger_cutoff: date
    daily_days: int
    deleted: dict[str, int] = field(default_factory=dict)  # table -> rows
    snapshot_dates: dict[str, list[date]] = field(default_factory=dict)  # scorecard -> dates

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

    def to_event(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "dry_run": self.dry_run,
            "ledger_cutoff": self.ledger_cutoff.isoformat(),
            "daily_days": self.daily_days,
            **{f"deleted_{k}": v for k, v in self.deleted.items()},
            "snapshot_dates": sum(len(v) for v in self.snapshot_dates.values()),
        }

    def to_text(self) -> str:
        """A block a person reads (``sfsync state prune``)."""
        verb = "would delete" if self.dry_run else "deleted"
        mode = " (dry run: nothing deleted)" if self.dry_run else ""
        lines = [f"State store retention as of {self.today.isoformat()}{mode}"]
        for scorecard, dates in self.snapshot_dates.items():
            if dates:
                lines.append(
                    f"  snapshots    {scorecard}: {len(dates)} dates from {dates[0]} to "
                    f"{dates[-1]} thinned (every date of the last {self.daily_days} days kept)"
                )
        for table, rows in self.deleted.items():
            lines.append(f"  {table:<16} {verb} {rows:,} rows")
        lines.append(f"  ledgers      older than {self.ledger_cutoff.isoformat()}")
        if not self.total:
            lines.append("  nothing to prune")
        return "\n".join(lines)


def thinning_rule(settings: RetentionSettings, protect_days: int) -> ThinningRule:
    """The snapshot thinning rule of ``settings`` with the jobs' protected window."""
    return ThinningRule(
        daily_days=settings.daily_days,
        weekly_days=settings.weekly_days,
        monthly_days=settings.monthly_days,
        protect_days=protect_days,
    )


def prune_state(
    store: Store,
    today: date,
    settings: RetentionSettings,
    *,
    protect_days: int = 0,
    dry_run: bool = False,
    extra: tuple[Pruner, ...] = (),
) -> PruneReport:
    """Thin snapshots and prune ledgers as of ``today``; ``protect_days``: nothing younger is
    thinned and no ledger row younger is deleted. ``extra``: other modules' pruners (the
    Slack outbox), called with the ledger cutoff."""
    rule = thinning_rule(settings, protect_days)
    cutoff = today - timedelta(days=max(settings.ledger_days, protect_days))
    report = PruneReport(today, dry_run, cutoff, rule.effective_daily_days)
    report.deleted["score_snapshots"] = _thin_snapshots(store, today, rule, dry_run, report)
    report.deleted.update(_prune_ledgers(store, cutoff, dry_run))
    # Slack outbox: delivered messages are pruned by the notify layer's own function (another
    # branch adds it); pass it in ``extra`` (see sfsync.commands.state / pipeline.prune_stage).
    cutoff_at = datetime.combine(cutoff, time())
    for pruner in extra:
        table, rows = pruner(store, cutoff_at, dry_run)
        report.deleted[table] = report.deleted.get(table, 0) + rows
    log.info("state_pruned", **report.to_event())
    return report


def _count(conn: Any, table: Any, where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())


def _thin_snapshots(
    store: Store, today: date, rule: ThinningRule, dry_run: bool, report: PruneReport
) -> int:
    """Remove the snapshot dates ``rule`` does not keep, per scorecard, their changes folded
    forward (:func:`sfsync.state.snapshot_upkeep.remove_dates`); a dry run rehearses it in a
    transaction that is rolled back, so it counts exactly the rows that would go."""
    d = score_snapshot_dates
    with store.connect() as conn:
        pairs = conn.execute(select(d.c.scorecard, d.c.as_of)).all()
    by_card: dict[str, list[date]] = {}
    for scorecard, as_of in pairs:
        by_card.setdefault(scorecard, []).append(as_of)
    total = 0
    for scorecard in sorted(by_card):
        doomed = dates_to_delete(by_card[scorecard], today, rule)
        report.snapshot_dates[scorecard] = doomed
        if doomed:
            with store.begin(rehearse=dry_run) as conn:
                total += remove_dates(conn, scorecard, doomed)
    return total


def _kept_runs() -> Any:
    """The latest good run of each job (the input guard's baseline): never pruned."""
    latest = (
        select(runs.c.job, func.max(runs.c.id).label("id"))
        .where(runs.c.status.in_(GOOD_STATUSES))
        .group_by(runs.c.job)
        .subquery()
    )
    return select(latest.c.id)


def _prune_ledgers(store: Store, cutoff: date, dry_run: bool) -> dict[str, int]:
    old_runs = and_(
        runs.c.as_of < cutoff,
        runs.c.status != "running",
        not_(runs.c.id.in_(_kept_runs())),
    )
    cutoff_at = datetime.combine(cutoff, time())
    steps = [
        ("quarantine", quarantine, quarantine.c.run_id.in_(select(runs.c.id).where(old_runs))),
        ("run_figures", run_figures,
         and_(run_figures.c.as_of < cutoff, not_(run_figures.c.run_id.in_(_kept_runs())))),
        ("write_failures", write_failures,
         and_(write_failures.c.resolved_at.is_not(None), write_failures.c.resolved_at < cutoff_at)),
        ("history_periods", history_periods, history_periods.c.as_of < cutoff),
        ("signal_ledger", signal_ledger,
         and_(signal_ledger.c.active.is_(False), signal_ledger.c.cleared_at < cutoff)),
        ("runs", runs, old_runs),
    ]  # fmt: skip
    deleted: dict[str, int] = {}
    for name, table, where in steps:
        with store.begin() as conn:
            if dry_run:
                deleted[name] = _count(conn, table, where)
            else:
                if name == "runs":  # snapshots keep their rows; their run is forgotten
                    conn.execute(
                        score_snapshots.update()
                        .where(score_snapshots.c.run_id.in_(select(runs.c.id).where(old_runs)))
                        .values(run_id=None)
                    )
                deleted[name] = conn.execute(delete(table).where(where)).rowcount
    return deleted
