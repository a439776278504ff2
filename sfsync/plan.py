"""The Plan: exactly what a run would write, as data.

A :class:`Plan` lists, per record, the fields that change (old -> new); per Task key,
``create``, ``update`` (only the changed fields) or ``skip`` with a reason; earlier failures
to write again (``retry``) or that need no write any more; and the values that cannot be
written. :func:`sfsync.salesforce.diff.build_plan` builds it (pure), the writer
(``sfsync.salesforce.writer``) executes it and nothing else, the failure ledger
(``sfsync.state.failures``) stores :class:`PendingWrite`. These types sit below all three.

``Plan.to_json()`` / ``Plan.from_json()`` round-trip; ``Plan.summary()`` is the text that
``sfsync plan`` and ``sfsync run --dry-run`` print.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sfsync.log import redact_text

PLAN_FORMAT = 1
TASK_KEY_FIELD = "Sync_Key__c"
# Task fields sfsync keeps up to date on an open, untouched Task. ActivityDate and Status are
# set on creation only: the 48-hour due date counts from when the signal first appeared.
# Fields kept up to date on an open Task sfsync created and nobody edited. The description is
# written once: it quotes the due date and the score at detection, and rewriting it every run
# would move the text under the CSM's feet (SPEC §10: one Task per signal and month).
TASK_MAINTAINED_FIELDS = ("Subject", "Priority", "OwnerId", "WhatId")
TASK_COLUMNS = {
    "subject": "Subject",
    "description": "Description",
    "priority": "Priority",
    "owner_id": "OwnerId",
    "account_id": "WhatId",
    "activity_date": "ActivityDate",
    "status": "Status",
}
DEFAULT_TASK_STATUS = "Not Started"
# The skip reason of a new Task the per-owner daily limit left for a later night
# (sfsync.automation.task_limit); such a skip carries no fields.
DEFERRED_REASON = "deferred_daily_limit"
# The columns the daily limit ranks and splits the new Tasks by
NEW_TASK_COLUMNS = ["sync_key", "account_id", "owner_id", "subject", "priority"]
# A signal Task sfsync closed because its signal cleared (SPEC §10) ends its description with
# this line: ``sfsync.sources.salesforce.read_activities`` never counts such a Task as a touch.
AUTO_CLOSED_MARKER = "#sfsync-auto-closed"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a plan's many change objects are built.

    A large plan holds a TaskChange (and a field dict) per desired Task key: building
    150,000 of them next to the run's frames triggers collections that walk every object
    the run holds, for objects that form no cycles (reference counting frees them). The
    collector is enabled again on leaving, as it was.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def is_auto_closed(description: Any) -> bool:
    """True when a Task's description carries :data:`AUTO_CLOSED_MARKER`."""
    return isinstance(description, str) and AUTO_CLOSED_MARKER in description


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of one record: the value in Salesforce now and the value to write."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class RecordChange:
    """The changed fields of one record, keyed by the mapping's match field."""

    key: str
    changes: tuple[FieldChange, ...]
    retry: bool = False

    def values(self) -> dict[str, Any]:
        """Field -> new value, the body of the update."""
        return {c.field: c.new for c in self.changes}


@dataclass(frozen=True, slots=True)
class TaskChange:
    """What happens to one Task key: create, update (changed fields only) or skip (reason)."""

    sync_key: str
    action: str  # create | update | skip
    reason: str
    account_id: str | None = None
    task_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    retry: bool = False

    @property
    def key(self) -> str:
        """The record key the writer and the ledger use (the ``Sync_Key__c`` value)."""
        return self.sync_key


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """A value that cannot be written; the record is left out of the plan."""

    key: str
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """A write that failed in an earlier run (from the failure ledger) and must be retried."""

    sobject: str
    key: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectUpsert:
    """Records of another object upserted by an external ID, every field written (the
    nightly job's periodic ``Health_Score_History__c`` snapshot)."""

    sobject: str
    match_field: str
    records: tuple[RecordChange, ...] = ()
    parent_field: str | None = None  # the lookup each record locks (Bulk ordering by parent)

    def parents(self) -> dict[str, str]:
        """Record key -> the Id in ``parent_field`` (for Bulk ordering)."""
        if self.parent_field is None:
            return {}
        out = {}
        for record in self.records:
            parent = record.values().get(self.parent_field)
            if parent:
                out[record.key] = str(parent)
        return out


@dataclass(frozen=True)
class ObjectInsert:
    """New records of an object without an external ID, inserted (the nightly job's
    ``CampaignMember`` rows). Each record's key names it for the results and the failure
    ledger (``<rule>:<campaign id>:<contact id>``: its first part groups the summary); with
    ``duplicate_is_done`` a ``DUPLICATE_VALUE`` row failure means the record is already there
    (a concurrent insert, or a retried request whose first answer was lost) and counts as
    written, not created."""

    sobject: str
    records: tuple[RecordChange, ...] = ()
    duplicate_is_done: bool = False

    def counts_by_group(self) -> dict[str, int]:
        """Records per key group (the key's part before the first ``:``), in key order."""
        return dict(Counter(r.key.split(":", 1)[0] for r in self.records))


@dataclass(frozen=True)
class Plan:
    """Everything one run would write. Built by :func:`build_plan`, executed by the writer."""

    sobject: str
    match_field: str
    records: tuple[RecordChange, ...] = ()
    tasks: tuple[TaskChange, ...] = ()
    problems: tuple[PlanProblem, ...] = ()
    resolved: tuple[PendingWrite, ...] = ()  # earlier failures that need no write any more
    records_in_scope: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    upserts: tuple[ObjectUpsert, ...] = ()  # other objects' records (score history)
    inserts: tuple[ObjectInsert, ...] = ()  # new records without a key (Campaign members)

    # -- views -------------------------------------------------------------------------------
    @property
    def task_writes(self) -> tuple[TaskChange, ...]:
        """The Task upserts (create and update)."""
        return tuple(t for t in self.tasks if t.action != "skip")

    @property
    def is_empty(self) -> bool:
        """True when applying the plan writes nothing."""
        return (
            not self.records
            and not self.task_writes
            and not self.upsert_count
            and not self.insert_count
        )

    @property
    def upsert_count(self) -> int:
        """Records of :attr:`upserts` (all objects)."""
        return sum(len(u.records) for u in self.upserts)

    @property
    def insert_count(self) -> int:
        """Records of :attr:`inserts` (all objects)."""
        return sum(len(i.records) for i in self.inserts)

    def totals(self) -> dict[str, Any]:
        """Counts by kind: records and fields to update, Tasks by action and skip reason."""
        per_field = Counter(c.field for r in self.records for c in r.changes)
        actions = Counter(t.action for t in self.tasks)
        skips = Counter(t.reason for t in self.tasks if t.action == "skip")
        return {
            "records_in_scope": self.records_in_scope,
            "records_to_update": len(self.records),
            "fields_to_update": sum(per_field.values()),
            "fields": dict(sorted(per_field.items())),
            "retries": sum(1 for r in self.records if r.retry)
            + sum(1 for t in self.task_writes if t.retry),
            "tasks_to_create": actions.get("create", 0),
            "tasks_to_update": actions.get("update", 0),
            "tasks_skipped": dict(sorted(skips.items())),
            "problems": len(self.problems),
            "upserts": {u.sobject: len(u.records) for u in self.upserts},
            "inserts": {i.sobject: len(i.records) for i in self.inserts},
        }

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``from_dict`` restores an equal Plan."""
        data = asdict(self)
        data["format"] = PLAN_FORMAT
        data["totals"] = self.totals()
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        """The plan as JSON text (``sfsync plan --out plan.json``)."""
        return redact_text(
            json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, default=str)
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Rebuild a plan from :meth:`to_dict` output."""
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"unsupported plan format {data.get('format')!r}")
        return cls(
            sobject=data["sobject"],
            match_field=data["match_field"],
            records=tuple(
                RecordChange(
                    key=r["key"],
                    changes=tuple(FieldChange(**c) for c in r["changes"]),
                    retry=r.get("retry", False),
                )
                for r in data.get("records", [])
            ),
            tasks=tuple(TaskChange(**t) for t in data.get("tasks", [])),
            problems=tuple(PlanProblem(**p) for p in data.get("problems", [])),
            resolved=tuple(
                PendingWrite(p["sobject"], p["key"], tuple(p.get("fields", ())))
                for p in data.get("resolved", [])
            ),
            records_in_scope=data.get("records_in_scope", 0),
            meta=dict(data.get("meta", {})),
            upserts=tuple(
                ObjectUpsert(
                    u["sobject"],
                    u["match_field"],
                    tuple(
                        RecordChange(
                            key=r["key"],
                            changes=tuple(FieldChange(**c) for c in r["changes"]),
                            retry=r.get("retry", False),
                        )
                        for r in u.get("records", [])
                    ),
                    u.get("parent_field"),
                )
                for u in data.get("upserts", [])
            ),
            inserts=tuple(
                ObjectInsert(
                    i["sobject"],
                    tuple(_record(r) for r in i.get("records", [])),
                    bool(i.get("duplicate_is_done", False)),
                )
                for i in data.get("inserts", [])
            ),
        )

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Rebuild a plan from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))

    # -- text --------------------------------------------------------------------------------
    def summary(self, *, examples: int = 5) -> str:
        """A readable summary: totals, per-field counts, a few example changes, problems."""
        t = self.totals()
        head = f"Plan for {self.sobject} (matched on {self.match_field})"
        if self.meta.get("as_of"):
            head += f" as of {self.meta['as_of']}"
        lines = [
            head,
            f"  records in scope: {t['records_in_scope']}; to update: "
            f"{t['records_to_update']} ({t['fields_to_update']} fields)",
        ]
        for name, count in t["fields"].items():
            lines.append(f"    {name}: {count}")
        skipped = ", ".join(f"{k} {v}" for k, v in t["tasks_skipped"].items()) or "none"
        lines.append(
            f"  Tasks: create {t['tasks_to_create']}, update {t['tasks_to_update']}, "
            f"skip {sum(t['tasks_skipped'].values())} ({skipped})"
        )
        for upsert in self.upserts:
            lines.append(
                f"  {upsert.sobject}: upsert {len(upsert.records)} records "
                f"(matched on {upsert.match_field})"
            )
            for record in upsert.records[:1]:
                lines.append(f"    e.g. {record.key}")
        for insert in self.inserts:
            groups = ", ".join(f"{g} {n}" for g, n in insert.counts_by_group().items())
            lines.append(
                f"  {insert.sobject}: insert {len(insert.records)} records"
                + (f" ({groups})" if groups else "")
            )
            for record in insert.records[:1]:
                lines.append(f"    e.g. {record.key}")
        if t["retries"]:
            lines.append(f"  retrying {t['retries']} write(s) that failed in an earlier run")
        for record in self.records[:examples]:
            changes = "; ".join(
                f"{c.field} {_show(c.old)} → {_show(c.new)}" for c in record.changes
            )
            lines.append(f"  {record.key}: {changes}")
        if len(self.records) > examples:
            lines.append(f"  … and {len(self.records) - examples} more records")
        for task in [t for t in self.tasks if t.action != "skip" or t.reason != "unchanged"][
            :examples
        ]:
            lines.append(f"  Task {task.sync_key}: {task.action} ({task.reason})")
        if self.problems:
            lines.append(f"  problems ({len(self.problems)}), these records are left out:")
            for problem in self.problems[:examples]:
                lines.append(f"    {problem.key} {problem.field}: {problem.message}")
        if self.is_empty:
            lines.append("  nothing to write")
        return "\n".join(lines)


def _record(data: dict[str, Any]) -> RecordChange:
    return RecordChange(
        key=data["key"],
        changes=tuple(FieldChange(**c) for c in data["changes"]),
        retry=data.get("retry", False),
    )


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    text = str(value).replace("\n", " ")
    return text if len(text) <= 40 else text[:39] + "…"
