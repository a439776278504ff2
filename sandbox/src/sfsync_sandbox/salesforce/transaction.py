"""Writes to the org: one :class:`Transaction` per API call, atomic per record.

Validation follows Salesforce: unknown fields (INVALID_FIELD), read-only fields
(INVALID_FIELD_FOR_INSERT_UPDATE), required fields (REQUIRED_FIELD_MISSING), types, lengths
and restricted picklists (``values.coerce``), references, unique external ids (DUPLICATE_VALUE),
one CampaignMember per Campaign and Contact (DUPLICATE_VALUE "Already a campaign member.")
and injected row locks (UNABLE_TO_LOCK_ROW).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sfsync_sandbox.ids import to_18
from sfsync_sandbox.salesforce.loading import default_value
from sfsync_sandbox.salesforce.schema import FieldDef, ObjectDef
from sfsync_sandbox.salesforce.values import RecordError, coerce, now_iso

if TYPE_CHECKING:
    from sfsync_sandbox.salesforce.store import Org


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
                    rec[fdef.name] = default_value(fdef, user)
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
        if obj.name == "CampaignMember":
            self._check_membership(rec, creating)
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

    def _check_membership(self, rec: dict, creating: bool) -> None:
        """A CampaignMember names a Contact (Leads are not modelled), and a Contact is a
        member of a Campaign once: a second insert fails as on a real org."""
        contact = rec.get("ContactId")
        if contact is None:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId]", ["ContactId"]
            )
        if not creating:
            return  # CampaignId and ContactId cannot change after the insert
        for other in self.org.find_external("CampaignMember", "ContactId", contact):
            member = self.org.get("CampaignMember", other)
            if member and other != rec["Id"] and member["CampaignId"] == rec["CampaignId"]:
                raise RecordError("DUPLICATE_VALUE", "Already a campaign member.", [])

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
