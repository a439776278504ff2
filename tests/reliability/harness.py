"""The reliability harness: a clean run's end state against a run that was killed, faulted or
stopped, then run again — shared by ``tests/reliability`` and ``bench/bench_reliability.py``.

Each trial gets a fresh sandbox built from the same sample book (deterministic by its seed) and
a fresh project folder, runs the real CLI in child processes as a scheduler would, and compares
what a CSM would see afterwards with the clean reference:

- Account fields sfsync writes (all but the scoring timestamp);
- Tasks by ``Sync_Key__c`` (subject, owner, account, due date, status), and duplicates — two
  Tasks with the same key, or the same account, subject and due date;
- Slack alerts (every message but the run digest and run-failure notices, whose counts describe
  one run): duplicates (a text posted more often than in the reference) and losses (less often).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sfsync_sandbox import Sandbox

from tests.cli_process import REPO, make_project
from tests.sync.helpers import VISIBLE_HEALTH_FIELDS

AS_OF = "2025-03-15"
ACCOUNT_FIELDS = (*VISIBLE_HEALTH_FIELDS, "Health_Explanation__c")
TASK_FIELDS = ("Subject", "OwnerId", "WhatId", "ActivityDate", "Status", "Priority")
RUN_NOTICES = ("実行サマリー", "実行失敗", "Run summary", "Run failed")  # digest, failure


@dataclass
class EndState:
    """What a CSM sees after the runs: Account fields, keyed Tasks, Slack alerts, and the
    Campaign members a marketing tool mails."""

    accounts: dict[str, tuple]
    tasks: dict[str, tuple]
    duplicate_tasks: int
    alerts: Counter
    members: Counter  # (CampaignId, ContactId) -> memberships (1; the org refuses a second)


@dataclass
class Comparison:
    """A trial's end state against the clean reference."""

    accounts_differ: int
    tasks_missing: int
    tasks_extra: int
    tasks_differ: int
    duplicate_tasks: int
    duplicate_alerts: int
    lost_alerts: int
    members_missing: int = 0
    members_extra: int = 0
    duplicate_members: int = 0

    @property
    def same(self) -> bool:
        return not any(vars(self).values())


@dataclass
class Trial:
    """One trial: what was done, the exit codes, and the comparison."""

    name: str
    exit_codes: list[int] = field(default_factory=list)
    comparison: Comparison | None = None
    note: str = ""


def end_state(sb: Sandbox) -> EndState:
    """Read the org and the Slack log of a sandbox."""
    accounts = {
        a["Id"]: tuple(a.get(f) for f in ACCOUNT_FIELDS) for a in sb.admin.records("Account")
    }
    keyed = [t for t in sb.admin.records("Task") if t.get("Sync_Key__c")]
    by_key = Counter(t["Sync_Key__c"] for t in keyed)
    same_work = Counter((t.get("WhatId"), t.get("Subject"), t.get("ActivityDate")) for t in keyed)
    duplicates = sum(n - 1 for n in by_key.values()) + sum(n - 1 for n in same_work.values())
    tasks = {t["Sync_Key__c"]: tuple(t.get(f) for f in TASK_FIELDS) for t in keyed}
    alerts = Counter(
        # every sandbox has its own port: links to the org are compared without it
        (m.get("channel"), (m.get("text") or "").replace(sb.salesforce_url, "<org>"))
        for m in sb.admin.slack_messages()
        if not (m.get("text") or "").startswith(RUN_NOTICES) and not m.get("thread_ts")
    )
    members = Counter((m["CampaignId"], m["ContactId"]) for m in sb.admin.records("CampaignMember"))
    return EndState(accounts, tasks, duplicates, alerts, members)


def compare(reference: EndState, trial: EndState) -> Comparison:
    """How a trial's end state differs from the reference (all zeros: the same)."""
    keys = set(reference.tasks) | set(trial.tasks)
    return Comparison(
        accounts_differ=sum(
            1
            for k in set(reference.accounts) | set(trial.accounts)
            if reference.accounts.get(k) != trial.accounts.get(k)
        ),  # fmt: skip
        tasks_missing=sum(1 for k in keys if k not in trial.tasks),
        tasks_extra=sum(1 for k in keys if k not in reference.tasks),
        tasks_differ=sum(
            1
            for k in keys
            if k in trial.tasks and k in reference.tasks and trial.tasks[k] != reference.tasks[k]
        ),  # fmt: skip
        duplicate_tasks=trial.duplicate_tasks,
        duplicate_alerts=sum(
            max(n - reference.alerts.get(k, 0), 0) for k, n in trial.alerts.items()
        ),
        lost_alerts=sum(max(n - trial.alerts.get(k, 0), 0) for k, n in reference.alerts.items()),
        members_missing=len(set(reference.members) - set(trial.members)),
        members_extra=len(set(trial.members) - set(reference.members)),
        duplicate_members=sum(n - 1 for n in trial.members.values()),
    )


class Bench:
    """Fresh sandboxes and projects under ``workdir``, all from one sample book."""

    def __init__(self, workdir: Path, *, accounts: int = 60, seed: int = 7) -> None:
        self.workdir = Path(workdir)
        self.accounts = accounts
        self.seed = seed
        self.credentials = self.workdir / "credentials"
        self._count = 0

    def sandbox(self) -> Sandbox:
        self._count += 1
        return Sandbox(
            data_dir=self.workdir / f"org-{self._count}",
            accounts=self.accounts,
            seed=self.seed,
            as_of=date.fromisoformat(AS_OF),
            credentials_dir=self.credentials,
        ).start()

    def project(self) -> Path:
        return make_project(self.workdir / f"project-{self._count}")

    @staticmethod
    def command(config: Path, *args: str) -> list[str]:
        return [sys.executable, "-m", "sfsync", "--log-format", "json", "--config", str(config),
                *args]  # fmt: skip

    @staticmethod
    def environment(sb: Sandbox, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
        env.update(sb.env())
        env.update(extra or {})
        return env

    def run(self, sb: Sandbox, config: Path, *args: str, timeout: float = 300) -> int:
        """One CLI run to its end; returns the exit code."""
        proc = subprocess.run(
            self.command(config, "run", "nightly", "--as-of", AS_OF, *args),
            cwd=REPO,
            env=self.environment(sb),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return proc.returncode

    def run_until_done(self, sb: Sandbox, config: Path, attempts: int = 4) -> list[int]:
        """Run again (as the next scheduled slot would) until a run exits 0."""
        codes = []
        for _ in range(attempts):
            codes.append(self.run(sb, config))
            if codes[-1] == 0:
                break
        return codes

    def reference(self) -> tuple[EndState, float]:
        """The clean run's end state and its duration in seconds."""
        sb = self.sandbox()
        try:
            config = self.project()
            started = time.monotonic()
            code = self.run(sb, config)
            duration = time.monotonic() - started
            if code != 0:
                raise RuntimeError(f"the clean reference run exited {code}")
            return end_state(sb), duration
        finally:
            sb.stop()

    def killed_trial(
        self, reference: EndState, delay: float, *, after_event: str | None = None
    ) -> Trial:
        """Start a run, SIGKILL it ``delay`` seconds after it started (or after it logged
        ``after_event``, e.g. ``slack_enqueued``: the delivery window), run again until done,
        compare."""
        where = f" after {after_event}" if after_event else ""
        trial = Trial(f"kill -9 {delay:.2f} s{where}")
        sb = self.sandbox()
        try:
            config = self.project()
            proc = subprocess.Popen(
                self.command(config, "run", "nightly", "--as-of", AS_OF),
                cwd=REPO,
                env=self.environment(sb),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            seen = threading.Event()
            reader = threading.Thread(
                target=_watch, args=(proc.stderr, after_event, seen), daemon=True
            )
            reader.start()
            if after_event is None:
                seen.set()
            seen.wait(timeout=120)
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                trial.note = "killed"
            else:
                trial.note = "finished before the kill"
            trial.exit_codes.append(proc.wait())
            reader.join(timeout=5)
            trial.exit_codes += self.run_until_done(sb, config)
            trial.comparison = compare(reference, end_state(sb))
            return trial
        finally:
            sb.stop()

    def fault_trial(
        self,
        reference: EndState,
        name: str,
        inject: Callable[[Sandbox], None],
        clear: Callable[[Sandbox], None] | None = None,
    ) -> Trial:
        """Run under a fault (``inject``), clear it, run the next scheduled run (again until one
        exits 0), compare."""
        trial = Trial(name)
        sb = self.sandbox()
        try:
            config = self.project()
            inject(sb)
            trial.exit_codes.append(self.run(sb, config))
            if clear is not None:
                clear(sb)
            # the next scheduled run: finishes what failed and delivers what was queued
            trial.exit_codes += self.run_until_done(sb, config)
            trial.comparison = compare(reference, end_state(sb))
            return trial
        finally:
            sb.stop()


def _watch(stream, event: str | None, seen: threading.Event) -> None:
    """Read a child's JSON log lines; set ``seen`` at the first line of ``event``."""
    marker = f'"event": "{event}"' if event else None
    for line in stream:
        if marker and marker in line:
            seen.set()
    seen.set()  # the child ended without that event


def _clear_faults(sb: Sandbox) -> None:
    """The fault is over (the outage ended, the next 24-hour API window began)."""
    sb.admin.set_faults(daily_api_remaining=100_000)
    sb.admin.clear_slack_faults()


FAULTS: list[tuple[str, Callable[[Sandbox], None], Callable[[Sandbox], None] | None]] = [
    ("503 on 15 % of requests", lambda sb: sb.admin.set_faults(seed=3, http_503=0.15), None),
    ("UNABLE_TO_LOCK_ROW on 20 % of records",
     lambda sb: sb.admin.set_faults(seed=3, lock_row=0.2), None),
    ("dropped connections on 10 % of requests",
     lambda sb: sb.admin.set_faults(seed=3, drop_connection=0.1), None),
    ("session expires after 5 calls",
     lambda sb: sb.admin.set_faults(session_expiry_after=5), None),
    ("Slack 429 on the next 30 calls",
     lambda sb: sb.admin.set_slack_faults(rate_limited=30, retry_after=1), _clear_faults),
    ("Slack outage for a whole run",
     lambda sb: sb.admin.set_slack_faults(outage="503"), _clear_faults),
    ("API budget exhausted", lambda sb: sb.admin.set_faults(daily_api_remaining=1010),
     _clear_faults),
]  # fmt: skip


def kill_delays(duration: float, trials: int, seed: int) -> list[float]:
    """Kill points spread over a clean run's duration (seeded, so a failure can be replayed)."""
    rng = random.Random(seed)
    return sorted(rng.uniform(0.2, max(duration, 0.5)) for _ in range(trials))


def totals(trials: list[Trial]) -> dict[str, Any]:
    """Sums over the trials of the figures the issue asks for."""
    comparisons = [t.comparison for t in trials if t.comparison is not None]
    return {
        "trials": len(trials),
        "same_end_state": sum(1 for c in comparisons if c.same),
        "duplicate_tasks": sum(c.duplicate_tasks for c in comparisons),
        "duplicate_alerts": sum(c.duplicate_alerts for c in comparisons),
        "lost_alerts": sum(c.lost_alerts for c in comparisons),
        "tasks_missing": sum(c.tasks_missing for c in comparisons),
        "accounts_differ": sum(c.accounts_differ for c in comparisons),
    }
