"""The sandbox org's records: in memory, indexed by external id, persisted as snapshot + journal.

Records are plain dicts keyed by canonical field names holding JSON-native values (see
``values.coerce``). A stored record dict is never mutated: writes replace it, so query cursors
keep a consistent snapshot for free. Every write runs inside a :class:`Transaction`, which is
atomic per record and can be rolled back as a whole (``allOrNone``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sfsync_sandbox.ids import make_id, to_18
from sfsync_sandbox.salesforce.faults import FaultsAndCounters
from sfsync_sandbox.salesforce.indexes import QueryIndexes
from sfsync_sandbox.salesforce.loading import column_values, default_value, loader
from sfsync_sandbox.salesforce.schema import ObjectDef, Schema
from sfsync_sandbox.salesforce.transaction import Transaction
from sfsync_sandbox.salesforce.values import now_iso

SNAPSHOT_FILE = "org.json"
JOURNAL_FILE = "org.journal.jsonl"
PREVIOUS_JOURNAL_FILE = "org.journal.prev.jsonl"
COMPACT_JOURNAL_BYTES = 64 * 1024 * 1024
API_POD = "6A"  # ids of records created through the API; sample data uses the default pod
ORG_TIMEZONE = ZoneInfo("Asia/Tokyo")


def _norm(value: Any) -> str:
    return str(value).lower()


class Org:
    """Every record of the sandbox org, with the indexes writes and upserts need."""

    def __init__(self, schema: Schema, faults: FaultsAndCounters, directory: Path | None = None):
        self.schema = schema
        self.faults = faults
        self.directory = directory
        self.lock = threading.RLock()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in schema.objects}
        self.indexes: dict[tuple[str, str], dict[str, set[str]]] = {}
        # what queries use (deleted records included; see indexes.py)
        self.query_indexes = QueryIndexes(self.tables)
        self.org_id = make_id("Organization", 1).replace("a0Z", "00D", 1)
        self._next_number: dict[str, int] = {}
        self._journal = None
        self._snapshot_lock = threading.Lock()
        for obj in schema.objects.values():
            for fdef in obj.external_id_fields():
                self.indexes[(obj.name, fdef.name)] = {}
        if "CampaignMember" in schema.objects:  # a lookup index for the one-membership rule
            self.indexes[("CampaignMember", "ContactId")] = {}

    # -- persistence ----------------------------------------------------------------
    @property
    def snapshot_path(self) -> Path | None:
        return self.directory / SNAPSHOT_FILE if self.directory else None

    def has_saved_state(self) -> bool:
        return bool(self.snapshot_path and self.snapshot_path.exists())

    def load_saved_state(self) -> None:
        """Load the snapshot and replay the journal of writes made after it."""
        assert self.directory is not None
        data = json.loads(self.snapshot_path.read_text(encoding="utf-8"))
        self.org_id = data["org_id"]
        self._next_number = data.get("next_number", {})
        for sobject, records in data["tables"].items():
            if sobject in self.tables:
                self.tables[sobject] = {r["Id"]: r for r in records}
        self.replay_journal()

    def has_journal(self) -> bool:
        return bool(self.directory) and any(
            (self.directory / name).exists() for name in (PREVIOUS_JOURNAL_FILE, JOURNAL_FILE)
        )

    def replay_journal(self) -> None:
        """Apply the journalled writes (after a snapshot, or after reloading the sample base)."""
        assert self.directory is not None
        for name in (PREVIOUS_JOURNAL_FILE, JOURNAL_FILE):
            journal = self.directory / name
            if not journal.exists():
                continue
            with open(journal, encoding="utf-8") as lines:
                for line in lines:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a write cut short by a crash: everything before it is kept
                    self.tables[entry["o"]][entry["r"]["Id"]] = entry["r"]
        self._rebuild_indexes()

    def save_snapshot(self) -> None:
        """Write every record to the snapshot file; the journal starts again empty.

        Records are never mutated in place, so the tables are captured under the lock and
        serialised outside it: writes go on meanwhile into a fresh journal. The journal the
        snapshot covers is kept as ``org.journal.prev.jsonl`` until the snapshot is on disk.
        """
        if not self.directory:
            return
        with self._snapshot_lock:
            with self.lock:
                self.directory.mkdir(parents=True, exist_ok=True)
                tables = {name: list(t.values()) for name, t in self.tables.items()}
                data = {"org_id": self.org_id, "next_number": dict(self._next_number)}
                self._rotate_journal()
            tmp = self.snapshot_path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(json.dumps(data, ensure_ascii=False)[:-1] + ', "tables": {')
                for i, (name, records) in enumerate(tables.items()):
                    out.write(("," if i else "") + json.dumps(name) + ": ")
                    out.write(json.dumps(records, ensure_ascii=False, separators=(",", ":")))
                out.write("}}")
            os.replace(tmp, self.snapshot_path)
            (self.directory / PREVIOUS_JOURNAL_FILE).unlink(missing_ok=True)

    def _rotate_journal(self) -> None:
        if self._journal:
            self._journal.close()
            self._journal = None
        current = self.directory / JOURNAL_FILE
        if not current.exists():
            return
        previous = self.directory / PREVIOUS_JOURNAL_FILE
        if previous.exists():  # an earlier snapshot never finished: keep both journals
            with open(previous, "a", encoding="utf-8") as out:
                out.write(current.read_text(encoding="utf-8"))
            current.unlink()
        else:
            os.replace(current, previous)

    def close(self) -> None:
        """Flush the journal; compact it into a snapshot once it has grown large.

        Small journals are simply kept: the next start replays them, which is cheaper than
        rewriting every record of a 100,000-account org at each stop."""
        if self.directory:
            size = sum(
                (self.directory / n).stat().st_size
                for n in (PREVIOUS_JOURNAL_FILE, JOURNAL_FILE)
                if (self.directory / n).exists()
            )
            if size > COMPACT_JOURNAL_BYTES:
                self.save_snapshot()
        if self._journal:
            self._journal.close()
            self._journal = None

    def _append_journal(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        if not self.directory or not entries:
            return
        if self._journal is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._journal = open(self.directory / JOURNAL_FILE, "a", encoding="utf-8")  # noqa: SIM115
        self._journal.write(
            "".join(json.dumps({"o": o, "r": r}, ensure_ascii=False) + "\n" for o, r in entries)
        )
        self._journal.flush()

    def _rebuild_indexes(self, only: str | None = None) -> None:
        self.query_indexes.reset(only)
        for (sobject, fname), index in self.indexes.items():
            if only is not None and sobject != only:
                continue
            index.clear()
            for rec in self.tables[sobject].values():
                value = rec.get(fname)
                if value is not None and not rec.get("IsDeleted"):
                    index.setdefault(_norm(value), set()).add(rec["Id"])

    # -- bulk loading of sample data --------------------------------------------------
    def load_records(
        self,
        sobject: str,
        rows: Iterable[Mapping[str, Any]],
        user_id: str,
    ) -> int:
        """Load trusted rows (sample data) without API validation; returns the count.

        Values are converted to stored form (dates, numbers, NaN -> null); system fields
        and derived fields are filled in; ids are kept when given.
        """
        obj = self.schema.objects[sobject]
        now = now_iso()
        table = self.tables[sobject]
        converters = {f.name: loader(f) for f in obj.fields.values()}
        count = 0
        with self.lock:
            defaults = {f.name: default_value(f, user_id) for f in obj.fields.values()}
            for row in rows:
                rec = dict(defaults)
                for key, value in row.items():
                    fdef = obj.field(key)
                    if fdef is None:
                        raise ValueError(f"sample data for {sobject}: no field {key!r}")
                    rec[fdef.name] = converters[fdef.name](value)
                rec["Id"] = to_18(rec["Id"]) if rec.get("Id") else self._new_id(sobject)
                rec["IsDeleted"] = bool(rec.get("IsDeleted") or False)
                for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
                    rec[name] = rec.get(name) or now
                for name in ("CreatedById", "LastModifiedById"):
                    rec[name] = rec.get(name) or user_id
                self._derive(obj, rec, None)
                table[rec["Id"]] = rec
                count += 1
            self._rebuild_indexes(only=sobject)
        return count

    def load_frame(self, sobject: str, frame: Any, user_id: str) -> int:
        """Load a pandas DataFrame of trusted rows (sample data), converting whole columns."""
        obj = self.schema.objects[sobject]
        count = len(frame)
        columns: dict[str, Any] = {}
        for key in frame.columns:
            fdef = obj.field(str(key))
            if fdef is None:
                raise ValueError(f"sample data for {sobject}: no field {key!r}")
            columns[fdef.name] = column_values(fdef, frame[key])
        now = now_iso()
        system = {"IsDeleted": False, "CreatedDate": now, "LastModifiedDate": now,
                  "SystemModstamp": now, "CreatedById": user_id, "LastModifiedById": user_id}  # fmt: skip
        for name, value in system.items():
            given = columns.get(name)
            columns[name] = (
                repeat(value, count)
                if given is None
                else [value if v is None else v for v in given]
            )
        if "Id" not in columns:
            columns["Id"] = [self._new_id(sobject) for _ in range(count)]
        for fdef in obj.fields.values():
            if fdef.name not in columns:
                columns[fdef.name] = repeat(default_value(fdef, user_id), count)
        names = list(columns)
        derive = sobject in ("User", "Contact", "Task", "Event", "CampaignMember") or any(
            f.auto_number for f in obj.fields.values()
        )
        with self.lock:
            table = self.tables[sobject]
            # strict=False: the filled-in columns are itertools.repeat iterators
            for values in zip(*columns.values(), strict=False):
                rec = dict(zip(names, values, strict=True))
                if derive:
                    self._derive(obj, rec, None)
                table[rec["Id"]] = rec
            self._rebuild_indexes(only=sobject)
        return count

    # -- reads ----------------------------------------------------------------------
    def get(self, sobject: str, record_id: str, include_deleted: bool = False) -> dict | None:
        rec = self.tables[sobject].get(to_18(record_id)) if len(record_id) in (15, 18) else None
        if rec is None or (rec.get("IsDeleted") and not include_deleted):
            return None
        return rec

    def lookup(self, record_id: str) -> tuple[ObjectDef, dict] | None:
        """Any live record by id, whatever its type."""
        obj = self.schema.for_id(record_id)
        if obj is None:
            return None
        rec = self.get(obj.name, record_id)
        return (obj, rec) if rec else None

    def find_external(self, sobject: str, fname: str, value: Any) -> list[str]:
        index = self.indexes.get((sobject, fname))
        if index is None:
            return [
                r["Id"]
                for r in self.tables[sobject].values()
                if not r.get("IsDeleted")
                and r.get(fname) is not None
                and _norm(r[fname]) == _norm(value)
            ]
        return sorted(index.get(_norm(value), ()))

    def records(self, sobject: str, include_deleted: bool = False) -> Iterator[dict]:
        for rec in self.tables[sobject].values():
            if include_deleted or not rec.get("IsDeleted"):
                yield rec

    # -- writes ---------------------------------------------------------------------
    @contextmanager
    def transaction(
        self, user_id: str, all_or_none: bool = False, *, by_api: bool = True
    ) -> Iterator[Transaction]:
        """A unit of writes: committed on exit; rolled back on an exception, or on exit when
        ``all_or_none`` and any record failed. ``by_api=False`` (a person in the UI): no
        faults, and the writes are not counted as API writes."""
        with self.lock:
            tx = Transaction(self, user_id, by_api=by_api)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            if all_or_none and tx.failed:
                tx.rollback()
            else:
                tx.commit()

    def _new_id(self, sobject: str) -> str:
        while True:
            number = self._next_number.get(sobject, 1)
            self._next_number[sobject] = number + 1
            record_id = make_id(sobject, number, pod=API_POD)
            if record_id not in self.tables[sobject]:
                return record_id

    def _put(self, sobject: str, rec: dict[str, Any]) -> dict | None:
        old = self.tables[sobject].get(rec["Id"])
        self._unindex(sobject, old)
        self.tables[sobject][rec["Id"]] = rec
        self.query_indexes.replaced(sobject, old, rec)
        if not rec.get("IsDeleted"):
            for (obj_name, fname), index in self.indexes.items():
                if obj_name == sobject and rec.get(fname) is not None:
                    index.setdefault(_norm(rec[fname]), set()).add(rec["Id"])
        return old

    def _restore(self, sobject: str, record_id: str, old: dict | None) -> None:
        current = self.tables[sobject].get(record_id)
        self._unindex(sobject, current)
        if old is None:
            removed = self.tables[sobject].pop(record_id, None)
            if removed is not None:
                self.query_indexes.removed(sobject, removed)
        else:
            self._put(sobject, old)

    def _unindex(self, sobject: str, rec: dict | None) -> None:
        if rec is None:
            return
        for (obj_name, fname), index in self.indexes.items():
            if obj_name == sobject and rec.get(fname) is not None:
                ids = index.get(_norm(rec[fname]))
                if ids:
                    ids.discard(rec["Id"])
                    if not ids:
                        del index[_norm(rec[fname])]

    def _derive(self, obj: ObjectDef, rec: dict[str, Any], old: dict | None) -> None:
        """Fields the org computes: names, Task.IsClosed, activity AccountId, autonumbers,
        CampaignMember.HasResponded and FirstRespondedDate."""
        name = obj.name
        if name in ("User", "Contact") and obj.field("FirstName"):
            full = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
            if full:
                rec["Name"] = full
        if name == "Task":
            closed = rec.get("Status") == "Completed"
            rec["IsClosed"] = closed
            if closed and not (old and old.get("IsClosed")):
                rec["CompletedDateTime"] = rec.get("LastModifiedDate") or now_iso()
            elif not closed:
                rec["CompletedDateTime"] = None
        if name == "Event" and rec.get("ActivityDateTime"):
            start = datetime.fromisoformat(rec["ActivityDateTime"].replace("+0000", "+00:00"))
            rec["ActivityDate"] = start.astimezone(ORG_TIMEZONE).date().isoformat()
        if name == "CampaignMember":
            responded = rec.get("Status") == "Responded"
            rec["HasResponded"] = responded
            if responded and not rec.get("FirstRespondedDate"):
                stamp = rec.get("LastModifiedDate") or now_iso()
                rec["FirstRespondedDate"] = stamp[:10]
        if name in ("Task", "Event"):
            what = rec.get("WhatId")
            rec["AccountId"] = what if what and what.startswith("001") else None
        name_field = obj.fields.get("Name")
        if name_field is not None and name_field.auto_number and not rec.get("Name"):
            number = self._next_number.get(f"{name}#name") or self._next_autonumber(name)
            self._next_number[f"{name}#name"] = number + 1
            fmt = name_field.auto_number
            start, end = fmt.find("{"), fmt.find("}")
            width = end - start - 1 if start >= 0 else 0
            rec["Name"] = (
                fmt[:start] + str(number).zfill(width) + fmt[end + 1 :]
                if start >= 0
                else f"{fmt}{number}"
            )

    def _next_autonumber(self, sobject: str) -> int:
        """One more than the largest autonumber in use (after a restart without a snapshot)."""
        numbers = [
            int(digits)
            for rec in self.tables[sobject].values()
            if (digits := "".join(c for c in str(rec.get("Name") or "") if c.isdigit()))
        ]
        return max(numbers, default=0) + 1
