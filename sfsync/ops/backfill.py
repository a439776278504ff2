"""Backfill: recompute scores as of past dates and keep them as history.

For each as-of date of a range (weekly or monthly), the job's sources are read with their
parameters bound to that date (Metabase template tags, SQL bound parameters, files; see
``sfsync.jobs.resolve_parameters``), the accounts are scored, the snapshots are stored in the
state store (with per-measure points, for ``sfsync calibrate``) and upserted into Salesforce as
``Health_Score_History__c`` records keyed ``<account_id>:<date>``.

Past dates create no Tasks, send no Slack alert and leave Account fields alone unless asked
(``with_tasks``, ``with_alerts``, ``update_accounts`` — the last applies to the latest date of
the range only, so Accounts end up with the newest score, never an old one).

Resumable: each date's progress is kept in ``backfill_progress`` (``sfsync.state.backfill``);
a re-run of the same range skips the dates that are done. A dry run reads and scores but
writes nothing (no state store rows, no Salesforce records).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import structlog
from structlog.contextvars import bound_contextvars

from sfsync.calendar import add_months
from sfsync.errors import ConfigError, ExitCode, RunInterrupted
from sfsync.jobs import ScoreCompute
from sfsync.ops.history import (
    history_frame,
    history_org_problems,
    load_history_mapping,
    resolve_history_mapping,
    write_history,
)
from sfsync.pipeline import (
    WriteCounts,
    apply,
    compute_scores,
    extract_inputs,
    notify,
    pending_writes,
    plan,
    preflight,
    previous_scores,
)
from sfsync.state import backfill as progress
from sfsync.state import runs
from sfsync.state.backfill import completed_dates, range_key
from sfsync.state.lock import run_lock
from sfsync.state.signals import sync_signals
from sfsync.state.snapshots import save_snapshots, with_arr, with_measure_points

log = structlog.get_logger(__name__)

Every = Literal["week", "month"]


def backfill_dates(date_from: date, date_to: date, every: str = "month") -> list[date]:
    """The as-of dates from ``date_from`` to ``date_to`` inclusive, a week or a month apart.

    Monthly steps keep the day of ``date_from`` (clamped to the month's last day).
    """
    if date_to < date_from:
        raise ConfigError(f"--to {date_to} is before --from {date_from}")
    if every not in ("week", "month"):
        raise ConfigError(f"--every must be week or month, not {every!r}")
    dates: list[date] = []
    n = 0
    while True:
        if every == "week":
            current = date_from + timedelta(weeks=n)
        else:
            first = add_months(date(date_from.year, date_from.month, 1), n)
            day = min(date_from.day, _month_length(first))
            current = first.replace(day=day)
        if current > date_to:
            return dates
        dates.append(current)
        n += 1


def _month_length(first: date) -> int:
    return (add_months(first, 1) - timedelta(days=1)).day


@dataclass(frozen=True)
class BackfillOptions:
    """What to backfill and which side effects past dates may have."""

    date_from: date
    date_to: date
    every: str = "month"
    dry_run: bool = False
    with_tasks: bool = False
    with_alerts: bool = False
    update_accounts: bool = False
    write_history: bool = True


@dataclass
class DateOutcome:
    """What happened to one as-of date."""

    as_of: date
    status: str  # done | skipped (done earlier) | failed | planned (dry run)
    accounts: int = 0
    history_written: int = 0
    history_failed: int = 0
    run_id: int | None = None
    error: str | None = None
    failures: list[str] = field(default_factory=list)


@dataclass
class BackfillResult:
    """Every date's outcome and totals, readable at a glance (``to_text``) and as a log event."""

    job: str
    range_key: str
    dry_run: bool
    dates: list[DateOutcome] = field(default_factory=list)
    run_id: int | None = None
    api_calls: int = 0
    duration_seconds: float = 0.0
    sobject: str = "Health_Score_History__c"

    def count(self, status: str) -> int:
        return sum(1 for d in self.dates if d.status == status)

    @property
    def exit_code(self) -> int:
        """0, or 3 (``ROW_FAILURES``) when some date did not write all its records."""
        return ExitCode.ROW_FAILURES if self.count("failed") else ExitCode.OK

    def to_event(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "run_id": self.run_id,
            "range": self.range_key,
            "dry_run": self.dry_run,
            "dates": len(self.dates),
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "planned": self.count("planned"),
            "snapshots": sum(d.accounts for d in self.dates if d.status != "skipped"),
            "history_written": sum(d.history_written for d in self.dates),
            "history_failed": sum(d.history_failed for d in self.dates),
            "api_calls": self.api_calls,
            "duration_seconds": round(self.duration_seconds, 1),
        }

    def to_text(self) -> str:
        e = self.to_event()
        mode = " (dry run: nothing written)" if self.dry_run else ""
        status = "failed dates" if e["failed"] else "succeeded"
        run = f" (run {self.run_id})" if self.run_id else ""
        lines = [f"Backfill of {self.job} {self.range_key}{run}: {status}{mode}"]
        if self.dry_run:
            lines.append(f"  dates        {e['dates']} ({e['planned']} would run)")
            lines.append(f"  would write  {e['snapshots']:,} {self.sobject} records")
        else:
            lines.append(
                f"  dates        {e['dates']}: {e['done']} done now, {e['skipped']} done "
                f"earlier (skipped), {e['failed']} failed"
            )
            lines.append(f"  snapshots    {e['snapshots']:,} stored")
            lines.append(
                f"  history      {e['history_written']:,} {self.sobject} records upserted, "
                f"{e['history_failed']:,} failed"
            )
        for d in self.dates:
            if d.status == "failed":
                reason = d.error or "; ".join(d.failures[:3])
                lines.append(f"  failed       {d.as_of}: {reason} (runs again on resume)")
        lines.append(f"  API calls    {e['api_calls']:,}")
        lines.append(f"  took         {self.duration_seconds:.1f} s")
        return "\n".join(lines)


def run_backfill(
    base: Any,
    options: BackfillOptions,
    *,
    on_start: Callable[[int, int], None] | None = None,
    on_date: Callable[[DateOutcome], None] | None = None,
) -> BackfillResult:
    """Backfill ``base``'s job (a ``sfsync.run_context.Run``; its as-of date is ignored).

    ``on_start(pending, total)`` is called once the dates to run are known, ``on_date`` after
    each date (progress bars; tests use it to interrupt a backfill). Takes the job's run lock
    unless it is a dry run.
    """
    if not isinstance(base.job.compute, ScoreCompute):
        raise ConfigError(f"job {base.job_name!r} does not score accounts; nothing to backfill")
    dates = backfill_dates(options.date_from, options.date_to, options.every)
    key = range_key(options.date_from, options.date_to, options.every)
    store = base.clients.store
    result = BackfillResult(base.job_name, key, options.dry_run)
    started = time.monotonic()
    calls_before = _api_calls(base)
    mapping = load_history_mapping(base.bundle.mappings_dir) if options.write_history else None
    lock = nullcontext() if store is None or options.dry_run else run_lock(store, base.job_name)
    with lock:
        done = completed_dates(store, base.job_name, key) if store is not None else set()
        pending = [d for d in dates if d not in done]
        log.info("backfill_started", job=base.job_name, range=key, dates=len(dates),
                 pending=len(pending), dry_run=options.dry_run)  # fmt: skip
        if on_start:
            on_start(len(pending), len(dates))
        resolved = _check_history_object(base, mapping) if mapping is not None else None

        preflight(base.clients.salesforce)
        run_id = None
        if store is not None and not options.dry_run and pending:
            # one run in the ledger for the whole backfill: its id is on every log line
            run_id = runs.start_run(store, f"backfill:{base.job_name}", options.date_to)
            result.run_id = run_id
        last = dates[-1] if dates else None
        try:
            for as_of in dates:
                if as_of in done:
                    result.dates.append(DateOutcome(as_of, "skipped"))
                    continue
                with bound_contextvars(as_of=as_of.isoformat()):
                    outcome = _backfill_date(base, options, key, as_of, resolved, run_id,
                                             last=as_of == last)  # fmt: skip
                result.dates.append(outcome)
                if on_date:
                    on_date(outcome)
        except BaseException as exc:
            if run_id is not None:
                error = (
                    str(exc) if isinstance(exc, Exception | RunInterrupted) else type(exc).__name__
                )
                runs.finish_run(store, run_id, "failed", counts=result.to_event(), error=error)
            raise
        finally:
            result.api_calls = _api_calls(base) - calls_before
            result.duration_seconds = time.monotonic() - started
        if run_id is not None:
            status = "partial" if result.count("failed") else "succeeded"
            runs.finish_run(store, run_id, status, counts=result.to_event(),
                            api_calls=result.api_calls)  # fmt: skip
        log.info("backfill_finished", **result.to_event())
    return result


def _api_calls(ctx: Any) -> int:
    total = 0
    for client in (ctx.clients.salesforce, ctx.clients.metabase):
        total += int(getattr(client, "api_calls", 0) or 0) if client is not None else 0
    return total


def _check_history_object(ctx: Any, mapping: Any) -> Any:
    """Validate the history mapping against the org (stops before any write); resolve it."""
    describe = ctx.clients.salesforce.describe(mapping.sobject)
    problems = history_org_problems(mapping, describe)
    if problems:
        raise ConfigError(
            problems,
            hint="deploy deploy/salesforce (Health_Score_History__c) or fix the mapping; "
            "nothing was written",
        )
    return resolve_history_mapping(mapping, describe)


def _backfill_date(
    base: Any,
    options: BackfillOptions,
    key: str,
    as_of: date,
    mapping: Any,
    run_id: int | None,
    *,
    last: bool,
) -> DateOutcome:
    store = base.clients.store
    request = dataclasses.replace(base.request, as_of=as_of, dry_run=options.dry_run)
    ctx = dataclasses.replace(base, request=request)
    record = store is not None and not options.dry_run
    if record:
        progress.mark_started(store, ctx.job_name, key, as_of, run_id)
    log.info("backfill_date_started")
    try:
        inputs = extract_inputs(ctx, run_id)
        previous = previous_scores(store, ctx.job.compute.scorecard, as_of)
        computed = compute_scores(inputs, ctx.bundle, as_of, previous)
        outcome = _write_date(ctx, options, as_of, inputs, computed, mapping, run_id, last=last)
    except BaseException as exc:
        if record:
            error = str(exc) if isinstance(exc, Exception | RunInterrupted) else type(exc).__name__
            progress.mark_finished(store, ctx.job_name, key, as_of, status="failed", error=error)
        raise
    outcome.run_id = run_id
    if record:
        progress.mark_finished(
            store,
            ctx.job_name,
            key,
            as_of,
            status=outcome.status,
            accounts=outcome.accounts,
            written=outcome.history_written,
            failed=outcome.history_failed,
            error="; ".join(outcome.failures[:5]) or None,
        )
    log.info("backfill_date_finished", status=outcome.status, accounts=outcome.accounts,
             history_written=outcome.history_written,
             history_failed=outcome.history_failed)  # fmt: skip
    return outcome


def _write_date(
    ctx: Any, options: BackfillOptions, as_of: date, inputs: Any, computed: Any, mapping: Any,
    run_id: int | None, *, last: bool,
) -> DateOutcome:  # fmt: skip
    result = computed.scores
    scores = result.scores
    outcome = DateOutcome(as_of, "planned" if options.dry_run else "done", accounts=len(scores))
    if options.dry_run:
        return outcome
    store = ctx.clients.store
    if store is not None:
        stored = with_measure_points(scores, result.measure_points)
        stored = with_arr(stored, inputs.frames.get("accounts"))
        save_snapshots(store, run_id, ctx.job.compute.scorecard, as_of, stored)
    if mapping is not None:
        written, failures = write_history(
            ctx.clients.salesforce,
            mapping,
            history_frame(scores, as_of),
            timezone=ctx.bundle.timezone,
            bulk_threshold=ctx.bundle.bulk_threshold,
        )
        outcome.history_written = written
        outcome.history_failed = len(failures)
        outcome.failures.extend(failures)
    accounts_too = options.update_accounts and last
    if options.with_tasks or accounts_too:
        fields = computed.desired_fields if accounts_too else computed.desired_fields.iloc[0:0]
        tasks = computed.desired_tasks if options.with_tasks else None
        wanted = dataclasses.replace(computed, desired_fields=fields, desired_tasks=tasks)
        meta = {"job": ctx.job_name, "as_of": as_of.isoformat(), "run_id": run_id}
        salesforce = ctx.clients.salesforce
        the_plan = plan(wanted, salesforce, pending=pending_writes(store), meta=meta)
        applied = apply(the_plan, salesforce, store=store, run_id=run_id,
                        bulk_threshold=ctx.bundle.bulk_threshold)  # fmt: skip
        failed = list(getattr(applied, "failed", ()))
        outcome.failures.extend(f"{r.sobject} {r.key}: {r.error_code}" for r in failed)
    else:
        applied = None
    if options.with_alerts and store is not None:
        sync_signals(store, as_of, result.signals, scope=scores["account_id"])
        if ctx.job.notify.slack and ctx.clients.slack is not None:
            failed = getattr(applied, "failed", ())
            notify(
                ctx.clients.slack,
                run_id=run_id,
                job=ctx.job_name,
                as_of=as_of,
                inputs=inputs,
                computed=computed,
                playbook=ctx.bundle.playbook,
                failures=[f"{r.sobject} {r.key}: {r.error_code}" for r in failed],
                tasks_created=WriteCounts.of(applied).tasks_created if applied else 0,
            )
    if outcome.failures:
        outcome.status = "failed"
    return outcome
