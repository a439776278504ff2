"""The sandbox org's records: in memory, indexed by external id, persisted as snapshot + journal.

Records are plain dicts keyed by canonical field names holding JSON-native values (see
``values.coerce``). A stored record dict is never mutated: writes replace it, so query cursors
keep a consistent snapshot for free. Every write runs inside a :class:`Transaction`, which is
atomic per record and can be rolled back as a whole (``allOrNone``).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sfsync.sandbox.ids import make_id, to_18
from sfsync.sandbox.salesforce.faults import FaultsAndCounters
from sfsync.sandbox.salesforce.schema import FieldDef, ObjectDef, Schema
from sfsync.sandbox.salesforce.values import RecordError, coerce, format_datetime, now_iso

SNAPSHOT_FILE = "org.json"
JOURNAL_FILE = "org.journal.jsonl"
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
        self.org_id = make_id("Organization", 1).replace("a0Z", "00D", 1)
        self._next_number: dict[str, int] = {}
        self._journal = None
        for obj in schema.objects.values():
            for fdef in obj.external_id_fields():
                self.indexes[(obj.name, fdef.name)] = {}

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
        journal = self.directory / JOURNAL_FILE
        if journal.exists():
            with open(journal, encoding="utf-8") as lines:
                for line in lines:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a write cut short by a crash: everything before it is kept
                    self.tables[entry["o"]][entry["r"]["Id"]] = entry["r"]
        self._rebuild_indexes()

    def save_snapshot(self) -> None:
        """Write every record to the snapshot file and start a new, empty journal."""
        if not self.directory:
            return
        with self.lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            data = {
                "org_id": self.org_id,
                "next_number": self._next_number,
                "tables": {name: list(t.values()) for name, t in self.tables.items()},
            }
            tmp = self.snapshot_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.snapshot_path)
            if self._journal:
                self._journal.close()
                self._journal = None
            (self.directory / JOURNAL_FILE).unlink(missing_ok=True)

    def close(self) -> None:
        self.save_snapshot()

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

    def _rebuild_indexes(self) -> None:
        for (sobject, fname), index in self.indexes.items():
            index.clear()
            for rec in self.tables[sobject].values():
                value = rec.get(fname)
                if value is not None and not rec.get("IsDeleted"):
                    index.setdefault(_norm(value), set()).add(rec["Id"])

    # -- bulk loading of sample data --------------------------------------------------
    def load_records(self, sobject: str, rows: Iterable[Mapping[str, Any]], user_id: str) -> int:
        """Load trusted rows (sample data) without API validation; returns the count.

        Values are converted to stored form (dates, numbers, NaN -> null); system fields
        and derived fields are filled in; ids are kept when given.
        """
        obj = self.schema.objects[sobject]
        now = now_iso()
        table = self.tables[sobject]
        converters = {f.name: _loader(f) for f in obj.fields.values()}
        count = 0
        with self.lock:
            for row in rows:
                rec: dict[str, Any] = {}
                for key, value in row.items():
                    fdef = obj.field(key)
                    if fdef is None:
                        raise ValueError(f"sample data for {sobject}: no field {key!r}")
                    rec[fdef.name] = converters[fdef.name](value)
                rec["Id"] = to_18(rec["Id"]) if rec.get("Id") else self._new_id(sobject)
                for fdef in obj.fields.values():
                    if fdef.name not in rec:
                        rec[fdef.name] = _default(fdef, user_id)
                rec["IsDeleted"] = bool(rec.get("IsDeleted") or False)
                for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
                    rec[name] = rec.get(name) or now
                for name in ("CreatedById", "LastModifiedById"):
                    rec[name] = rec.get(name) or user_id
                self._derive(obj, rec, None)
                table[rec["Id"]] = rec
                count += 1
            self._rebuild_indexes()
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
        if not rec.get("IsDeleted"):
            for (obj_name, fname), index in self.indexes.items():
                if obj_name == sobject and rec.get(fname) is not None:
                    index.setdefault(_norm(rec[fname]), set()).add(rec["Id"])
        return old

    def _restore(self, sobject: str, record_id: str, old: dict | None) -> None:
        current = self.tables[sobject].get(record_id)
        self._unindex(sobject, current)
        if old is None:
            self.tables[sobject].pop(record_id, None)
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
        """Fields the org computes: names, Task.IsClosed, activity AccountId, autonumbers."""
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
        if name in ("Task", "Event"):
            what = rec.get("WhatId")
            rec["AccountId"] = what if what and what.startswith("001") else None
        name_field = obj.fields.get("Name")
        if name_field is not None and name_field.auto_number and not rec.get("Name"):
            number = self._next_number.get(f"{name}#name", 1)
            self._next_number[f"{name}#name"] = number + 1
            fmt = name_field.auto_number
            start, end = fmt.find("{"), fmt.find("}")
            width = end - start - 1 if start >= 0 else 0
            rec["Name"] = (
                fmt[:start] + str(number).zfill(width) + fmt[end + 1 :]
                if start >= 0
                else f"{fmt}{number}"
            )


class Transaction:
    """Writes that commit together; each write is atomic on its own."""

    def __init__(self, org: Org, user_id: str, by_api: bool = True) -> None:
        self.org = org
        self.user_id = user_id
        self.by_api = by_api
        self.failed = False
        self._undo: list[tuple[str, str, dict | None]] = []
        self._written: list[tuple[str, dict[str, Any]]] = []

    def create(self, sobject: str, values: Mapping[str, Any], *, from_csv: bool = False) -> str:
        obj = self.org.schema.objects[sobject]
        try:
            self._maybe_lock(None)
            if any(k.lower() == "id" for k in values if values[k] not in (None, "")):
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "cannot specify Id in an insert call",
                    ["Id"],
                )
            rec = self._build(obj, None, values, from_csv)
        except RecordError:
            self.failed = True
            raise
        self._save(obj, rec, None)
        return rec["Id"]

    def update(
        self, sobject: str, record_id: str, values: Mapping[str, Any], *, from_csv: bool = False
    ) -> str:
        obj = self.org.schema.objects[sobject]
        try:
            old = self.org.get(sobject, record_id) if record_id else None
            if old is None:
                raise RecordError(
                    "ENTITY_IS_DELETED"
                    if record_id and self.org.get(sobject, record_id, True)
                    else "INVALID_ID_FIELD",
                    f"invalid record id: {record_id}"
                    if record_id
                    else "Id not specified in an update call",
                    ["Id"] if not record_id else [],
                )
            self._maybe_lock(old["Id"])
            rec = self._build(obj, old, values, from_csv)
        except RecordError:
            self.failed = True
            raise
        self._save(obj, rec, old)
        return rec["Id"]

    def upsert(
        self,
        sobject: str,
        ext_field: str,
        ext_value: Any,
        values: Mapping[str, Any],
        *,
        from_csv: bool = False,
    ) -> tuple[str, bool]:
        """Update the one record whose ``ext_field`` is ``ext_value``, or create it."""
        obj = self.org.schema.objects[sobject]
        fdef = obj.field(ext_field)
        try:
            if ext_value in (None, ""):
                raise RecordError(
                    "MISSING_ARGUMENT",
                    f"{ext_field} not specified",
                    [fdef.name if fdef else ext_field],
                )
            if fdef.name == "Id":
                old = self.org.get(sobject, str(ext_value))
                matches = [old["Id"]] if old else []
                if not old:
                    raise RecordError(
                        "NOT_FOUND",
                        f"Provided external ID field does not exist or is not accessible: {ext_value}",
                    )
            else:
                matches = self.org.find_external(sobject, fdef.name, ext_value)
            if len(matches) > 1:
                raise RecordError(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{fdef.label}: more than one record found for external id field: {matches}",
                    [fdef.name],
                )
        except RecordError:
            self.failed = True
            raise
        body = {
            k: v for k, v in values.items() if k.lower() != fdef.name.lower() and k.lower() != "id"
        }
        if matches:
            return self.update(sobject, matches[0], body, from_csv=from_csv), False
        body[fdef.name] = ext_value
        return self.create(sobject, body, from_csv=from_csv), True

    def delete(self, sobject: str, record_id: str) -> str:
        old = self.org.get(sobject, record_id)
        if old is None:
            self.failed = True
            raise RecordError("ENTITY_IS_DELETED" if self.org.get(sobject, record_id, True) else "INVALID_CROSS_REFERENCE_KEY",
                              "entity is deleted" if self.org.get(sobject, record_id, True) else "invalid cross reference id")  # fmt: skip
        try:
            self._maybe_lock(old["Id"])
        except RecordError:
            self.failed = True
            raise
        now = now_iso()
        rec = {**old, "IsDeleted": True, "LastModifiedDate": now, "SystemModstamp": now,
               "LastModifiedById": self.user_id}  # fmt: skip
        self._save(self.org.schema.objects[sobject], rec, old)
        return old["Id"]

    # -- internals ------------------------------------------------------------------
    def _maybe_lock(self, record_id: str | None) -> None:
        if self.by_api and self.org.faults.roll_lock_row():
            raise RecordError(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: {record_id or ''}".strip(),
            )

    def _build(
        self, obj: ObjectDef, old: dict | None, values: Mapping[str, Any], from_csv: bool
    ) -> dict:
        creating = old is None
        rec: dict[str, Any] = dict(old) if old else {}
        touched: list[FieldDef] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            fdef = obj.field(key)
            if fdef is None:
                raise RecordError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
                )
            if fdef.name == "Id" and not creating and value and to_18(str(value)) == old["Id"]:
                continue
            if from_csv and value == "":
                continue  # Bulk API: an empty cell leaves the field unchanged
            if from_csv and value == "#N/A":
                value = None
            allowed = fdef.createable if creating else fdef.updateable
            if not allowed:
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to {'create' if creating else 'update'} fields: {fdef.name}. Please check the "
                    "security settings of this field and verify that it is read/write for your profile "
                    "or permission set.",
                    [fdef.name],
                )
            rec[fdef.name] = coerce(fdef, value, from_csv=from_csv)
            touched.append(fdef)
        user = self.user_id
        now = now_iso()
        if creating:
            for fdef in obj.fields.values():
                if fdef.name not in rec:
                    rec[fdef.name] = _default(fdef, user)
            rec.update(
                Id=self.org._new_id(obj.name), IsDeleted=False, CreatedDate=now, CreatedById=user
            )
        rec.update(LastModifiedDate=now, LastModifiedById=user, SystemModstamp=now)
        checks = obj.fields.values() if creating else touched
        missing = [
            f.name
            for f in checks
            if not f.nillable and f.createable and f.type != "boolean" and rec.get(f.name) is None
        ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        for fdef in touched:
            if fdef.type == "reference" and rec.get(fdef.name) is not None:
                self._check_reference(fdef, rec[fdef.name])
        self.org._derive(obj, rec, old)
        for fdef in obj.fields.values():
            if fdef.unique and rec.get(fdef.name) is not None:
                others = set(self.org.find_external(obj.name, fdef.name, rec[fdef.name])) - {
                    rec["Id"]
                }
                if others:
                    raise RecordError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {fdef.name} duplicates value on record with id: {sorted(others)[0]}",
                        [],
                    )
        return rec

    def _check_reference(self, fdef: FieldDef, value: str) -> None:
        target = self.org.schema.for_id(value)
        if target is None or target.name not in fdef.reference_to:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{fdef.label}: id value of incorrect type: {value}",
                [fdef.name],
            )
        if self.org.get(target.name, value) is None:
            raise RecordError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fdef.name]
            )

    def _save(self, obj: ObjectDef, rec: dict, old: dict | None) -> None:
        self.org._put(obj.name, rec)
        self._undo.append((obj.name, rec["Id"], old))
        self._written.append((obj.name, rec))

    def rollback(self) -> None:
        for sobject, record_id, old in reversed(self._undo):
            self.org._restore(sobject, record_id, old)
        self._undo.clear()
        self._written.clear()

    def commit(self) -> None:
        if self.by_api:
            for _, rec in self._written:
                self.org.faults.count_write(rec["Id"])
        self.org._append_journal(self._written)
        self._undo.clear()
        self._written.clear()


def _default(fdef: FieldDef, user_id: str) -> Any:
    if fdef.type == "boolean":
        return bool(fdef.default)
    if fdef.default_to_user:
        return user_id
    return fdef.default


def _loader(fdef: FieldDef):
    """A fast converter for trusted sample values (pandas/numpy scalars included)."""
    ftype = fdef.type

    def is_null(value: Any) -> bool:
        if value is None:
            return True
        try:
            return bool(value != value)  # NaN, NaT, pd.NA
        except (TypeError, ValueError):
            return False

    def convert(value: Any) -> Any:
        if is_null(value):
            return False if ftype == "boolean" else None
        if ftype == "date":
            if isinstance(value, datetime | date):
                return value.strftime("%Y-%m-%d")
            return str(value)[:10]
        if ftype == "datetime":
            if isinstance(value, datetime):
                return format_datetime(
                    value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
                )
            if isinstance(value, date):
                return format_datetime(datetime(value.year, value.month, value.day))
            return coerce(fdef, str(value))
        if ftype == "boolean":
            return bool(value) if not isinstance(value, str) else value.lower() == "true"
        if ftype == "int":
            return int(value)
        if ftype in ("double", "currency", "percent"):
            number = float(value)
            return None if math.isnan(number) else number
        if ftype in ("reference", "id"):
            return to_18(str(value))
        return str(value)

    return convert


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(24)
