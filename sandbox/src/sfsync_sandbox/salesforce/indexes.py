"""The practice org's query indexes: the fields a real org indexes, so that a selective query
reads only its candidate records instead of the whole object.

A Salesforce org indexes, among others, ``Id``, ``Name``, lookup and master-detail fields and
fields marked External ID or unique (the query optimizer's "standard" and "custom" indexes). A
filter on such a field with ``=``, ``IN (...)`` or a ``LIKE`` whose pattern does not start
with a wildcard can drive the query from the index; a leading-wildcard ``LIKE``, a ``NOT``, a
range or an unindexed field cannot, and the org reads every record of the object (a full
scan, whose cost grows with the table). The practice org does the same, so that it is fast
where a real org is fast and slow where a real org is slow.

Only the speed differs from a scan: the index gives a superset of the matching records, the
query's own predicate is applied to each of them, and they come back in the order a scan
finds them (the table's insertion order, kept as positions). An index is built the first time
a query needs it and kept up to date by every write afterwards; a bulk load drops the
object's indexes (rebuilt on the next use). Deleted records stay in the indexes: ``queryAll``
reads them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sfsync_sandbox.salesforce.schema import TEXT_TYPES, FieldDef


def field_key(fdef: FieldDef, value: Any) -> Any:
    """The value as filters compare it: text case-insensitively, anything else as stored."""
    if value is None:
        return None
    if fdef.type in TEXT_TYPES:
        return str(value).lower()
    return value


def indexed(fdef: FieldDef) -> bool:
    """Whether a real org indexes ``fdef``: Id, Name, lookups, External ID or unique fields."""
    return (
        fdef.type in ("id", "reference")
        or fdef.external_id
        or fdef.unique
        or fdef.name_field
        or fdef.name == "Name"
    )


class QueryIndexes:
    """Indexes of field values to record ids, and each record's position in its table."""

    def __init__(self, tables: Mapping[str, dict[str, dict[str, Any]]]) -> None:
        self._tables = tables
        self._indexes: dict[tuple[str, str], tuple[FieldDef, dict[Any, set[str]]]] = {}
        self._positions: dict[str, dict[str, int]] = {}
        self._next_position: dict[str, int] = {}

    # -- reads ----------------------------------------------------------------------------
    def lookup(self, sobject: str, fdef: FieldDef, keys: Iterable[Any]) -> set[str]:
        """Ids of the records whose ``fdef`` key (:func:`field_key`) is one of ``keys``."""
        index = self._index(sobject, fdef)
        found: set[str] = set()
        for key in keys:
            ids = index.get(key)
            if ids:
                found |= ids
        return found

    def starting_with(self, sobject: str, fdef: FieldDef, prefix: str) -> set[str]:
        """Ids of the records whose text field ``fdef`` may start with ``prefix`` (ASCII, any
        case): the keys that start with it, and every key with a non-ASCII character (a
        regular expression ignoring case lets a few of those match ASCII letters)."""
        index = self._index(sobject, fdef)
        lowered = prefix.lower()
        found: set[str] = set()
        for key, ids in index.items():
            if key.startswith(lowered) or not key.isascii():
                found |= ids
        return found

    def in_table_order(self, sobject: str, ids: Iterable[str]) -> list[str]:
        """``ids`` (of records in the table) in the order a scan of the table meets them."""
        positions = self._table_positions(sobject)
        return sorted(ids, key=positions.__getitem__)

    # -- upkeep ---------------------------------------------------------------------------
    def replaced(self, sobject: str, old: dict | None, new: dict) -> None:
        """A write put ``new`` in place of ``old`` (None: a new record, at the table's end)."""
        if old is None:
            positions = self._positions.get(sobject)
            if positions is not None and new["Id"] not in positions:
                positions[new["Id"]] = self._next_position[sobject]
                self._next_position[sobject] += 1
        for (name, fname), (fdef, index) in self._indexes.items():
            if name != sobject:
                continue
            before = field_key(fdef, old.get(fname)) if old is not None else None
            after = field_key(fdef, new.get(fname))
            if before == after and old is not None:
                continue
            if before is not None:
                _discard(index, before, old["Id"])
            if after is not None:
                index.setdefault(after, set()).add(new["Id"])

    def removed(self, sobject: str, rec: dict) -> None:
        """A record left the table (a create rolled back)."""
        positions = self._positions.get(sobject)
        if positions is not None:
            positions.pop(rec["Id"], None)
        for (name, fname), (fdef, index) in self._indexes.items():
            if name == sobject:
                key = field_key(fdef, rec.get(fname))
                if key is not None:
                    _discard(index, key, rec["Id"])

    def reset(self, sobject: str | None = None) -> None:
        """Drop the indexes and positions of ``sobject`` (every object when None) after a
        bulk load; they are built again when a query needs them."""
        for key in [k for k in self._indexes if sobject is None or k[0] == sobject]:
            del self._indexes[key]
        for name in [n for n in self._positions if sobject is None or n == sobject]:
            del self._positions[name]
            del self._next_position[name]

    # -- building -------------------------------------------------------------------------
    def _index(self, sobject: str, fdef: FieldDef) -> dict[Any, set[str]]:
        entry = self._indexes.get((sobject, fdef.name))
        if entry is None:
            index: dict[Any, set[str]] = {}
            name = fdef.name
            for record_id, rec in self._tables[sobject].items():
                key = field_key(fdef, rec.get(name))
                if key is not None:
                    index.setdefault(key, set()).add(record_id)
            entry = self._indexes[(sobject, fdef.name)] = (fdef, index)
        return entry[1]

    def _table_positions(self, sobject: str) -> dict[str, int]:
        positions = self._positions.get(sobject)
        if positions is None:
            table = self._tables[sobject]
            positions = self._positions[sobject] = dict(zip(table, range(len(table)), strict=True))
            self._next_position[sobject] = len(table)
        return positions


def _discard(index: dict[Any, set[str]], key: Any, record_id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.discard(record_id)
        if not ids:
            del index[key]
