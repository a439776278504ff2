"""Run parsed SOQL against the org: resolve field paths, filter, sort, group, page and project.

The describe's ``filterable`` / ``sortable`` / ``groupable`` flags of a field decide whether it
may appear in WHERE / ORDER BY / GROUP BY, so the sandbox refuses exactly what a real org
refuses: a long text area in WHERE is ``INVALID_FIELD`` "field 'Description' can not be
filtered in query call" (the wording of a real org's error, quoted in public issue threads
and in other Salesforce test doubles; "…can not be sorted in a query call" for ORDER BY).
A malformed Id literal (``WHERE OwnerId = '005xyz'``) is ``INVALID_QUERY_FILTER_OPERATOR``
"invalid ID field: 005xyz" (restforce issue #557: "this error can be triggered by trying to
query records with a malformed Id"; the message as quoted in SFDO-Community/
declarative-lookup-rollup-summaries issue #626), and LIKE on an Id is "invalid operator on id
field" (UnofficialSF/LightningFlowComponents issue #255).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sfsync_sandbox.ids import to_18
from sfsync_sandbox.salesforce.indexes import field_key as _key
from sfsync_sandbox.salesforce.indexes import indexed
from sfsync_sandbox.salesforce.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef
from sfsync_sandbox.salesforce.soql import (
    Aggregate,
    BoolOp,
    Comparison,
    DateLiteral,
    DateTimeValue,
    DateValue,
    Query,
    SoqlError,
    SubQuery,
    parse_soql,
)
from sfsync_sandbox.salesforce.values import format_datetime, is_id

MAX_OFFSET = 2000
_TYPE_FIELD = FieldDef("Type", "Type", "string", length=40)


@dataclass
class ResolvedPath:
    """A field path such as ``Owner.Email`` resolved against the schema."""

    text: str  # as the client wrote it, canonicalised (Owner.Email)
    steps: list[FieldDef]  # reference fields walked
    targets: list[ObjectDef | None]  # object reached by each step (None = polymorphic)
    field: FieldDef  # the final field
    getter: Callable[[dict], Any]


@dataclass
class CompiledQuery:
    query: Query
    obj: ObjectDef
    select: list[ResolvedPath]
    predicate: Callable[[dict], bool]
    order: list[tuple[ResolvedPath, bool, bool]]  # path, descending, nulls_last
    group: list[ResolvedPath] = field(default_factory=list)
    # aggregate queries: (output key, Aggregate, resolved path or None) per SELECT aggregate
    aggregates: list[tuple[str, Aggregate, ResolvedPath | None]] = field(default_factory=list)
    # aggregate queries: ORDER BY as (output key, descending, nulls_last)
    aggregate_order: list[tuple[str, bool, bool]] = field(default_factory=list)

    @property
    def is_aggregate(self) -> bool:
        return self.query.is_aggregate


def _require(path: ResolvedPath, flag: str, wording: str) -> None:
    """INVALID_FIELD when the describe says the field may not be used this way."""
    if not getattr(path.field, flag):
        raise SoqlError(f"field '{path.field.name}' {wording}", code="INVALID_FIELD")


def invalid_field(name: str, obj: ObjectDef) -> SoqlError:
    return SoqlError(
        f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your "
        "WSDL or the describe call for the appropriate names.",
        code="INVALID_FIELD",
    )


class QueryEngine:
    """Compiles and runs SOQL over an :class:`~sfsync_sandbox.salesforce.store.Org`."""

    def __init__(self, org: Any, today: Callable[[], date] | None = None) -> None:
        self.org = org
        self.schema = org.schema
        self.today = today or (lambda: datetime.now(UTC).date())

    # -- compilation ----------------------------------------------------------------
    def compile(self, text: str | Query) -> CompiledQuery:
        query = parse_soql(text) if isinstance(text, str) else text
        obj = self.schema.get(query.sobject)
        if obj is None:
            raise SoqlError(
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name.",
                code="INVALID_TYPE",
            )
        select = [self.resolve(obj, f) for f in query.fields]
        seen: set[str] = set()
        for path in select:
            if path.text.lower() in seen:
                raise SoqlError(f"duplicate field selected: {path.text}", code="MALFORMED_QUERY")
            seen.add(path.text.lower())
        predicate = (
            self._predicate(obj, query.where) if query.where is not None else (lambda rec: True)
        )
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise SoqlError(
                f"Maximum SOQL offset allowed is {MAX_OFFSET}", code="NUMBER_OUTSIDE_VALID_RANGE"
            )
        if query.is_aggregate or query.group_by:
            return self._compile_aggregate(query, obj, select, predicate)
        order = []
        for item in query.order_by:
            path = self.resolve(obj, item.path)
            _require(path, "sortable", "can not be sorted in a query call")
            nulls_last = item.nulls_last if item.nulls_last is not None else item.descending
            order.append((path, item.descending, nulls_last))
        return CompiledQuery(query, obj, select, predicate, order)

    def _compile_aggregate(
        self,
        query: Query,
        obj: ObjectDef,
        select: list[ResolvedPath],
        predicate: Callable[[dict], bool],
    ) -> CompiledQuery:
        """GROUP BY and aggregate functions: rows become AggregateResult records whose
        aggregates are named by their alias or ``expr0``, ``expr1``… in SELECT order."""
        group = [self.resolve(obj, name) for name in query.group_by]
        for path in group:
            _require(path, "groupable", "can not be grouped in a query call")
        grouped = {path.text.lower() for path in group}
        for path in select:
            if path.text.lower() not in grouped:
                raise SoqlError(f"Field must be grouped or aggregated: {path.field.name}")
        aggregates: list[tuple[str, Aggregate, ResolvedPath | None]] = []
        unnamed = 0
        for agg in query.aggregates:
            key = agg.alias
            if key is None:
                key, unnamed = f"expr{unnamed}", unnamed + 1
            aggregates.append((key, agg, self._aggregate_path(obj, agg)))
        order: list[tuple[str, bool, bool]] = []
        for item in query.order_by:
            nulls_last = item.nulls_last if item.nulls_last is not None else item.descending
            if "(" in item.path:
                func, _, rest = item.path.partition("(")
                agg = Aggregate(func, rest.rstrip(")") or None)
                key = next(
                    (k for k, a, _ in aggregates if (a.func, a.path) == (agg.func, agg.path)),
                    None,
                )
                if key is None:
                    key = f"__order{len(order)}"
                    aggregates.append((key, agg, self._aggregate_path(obj, agg)))
                order.append((key, item.descending, nulls_last))
                continue
            path = self.resolve(obj, item.path)
            if path.text.lower() not in grouped:
                raise SoqlError(f"Ordered field must be grouped or aggregated: {path.field.name}")
            order.append((path.field.name, item.descending, nulls_last))
        return CompiledQuery(query, obj, select, predicate, [], group, aggregates, order)

    def _aggregate_path(self, obj: ObjectDef, agg: Aggregate) -> ResolvedPath | None:
        if agg.path is None:
            return None
        path = self.resolve(obj, agg.path)
        if agg.func in ("sum", "avg") and path.field.type not in NUMBER_TYPES:
            raise SoqlError(
                f"field {path.field.name} does not support aggregate operator {agg.func.upper()}"
            )
        return path

    def resolve(self, obj: ObjectDef, text: str) -> ResolvedPath:
        parts = text.split(".")
        if (
            len(parts) > 1
            and parts[0].lower() == obj.name.lower()
            and obj.relationship(parts[0]) is None
        ):
            parts = parts[1:]
        current: ObjectDef | None = obj
        steps: list[FieldDef] = []
        targets: list[ObjectDef | None] = []
        canonical: list[str] = []
        for part in parts[:-1]:
            if current is None:  # beyond a polymorphic relationship only Id, Name, Type exist
                raise invalid_field(part, obj)
            ref = current.relationship(part)
            if ref is None:
                raise SoqlError(
                    f"Didn't understand relationship '{part}' in field path. If you are attempting "
                    "to use a custom relationship, be sure to append the '__r' after the custom "
                    "relationship name.",
                    code="INVALID_FIELD",
                )
            steps.append(ref)
            canonical.append(ref.relationship_name)
            current = None if ref.polymorphic else self.schema.objects[ref.reference_to[0]]
            targets.append(current)
        last = parts[-1]
        if current is None:
            if last.lower() == "type":
                final = _TYPE_FIELD
            elif last.lower() in ("id", "name"):
                final = FieldDef(
                    last.capitalize() if last.lower() == "name" else "Id",
                    last,
                    "string" if last.lower() == "name" else "id",
                    length=255,
                )
            else:
                raise invalid_field(last, obj)
        else:
            final = current.field(last)
            if final is None:
                raise invalid_field(last, current)
        canonical.append(final.name)
        return ResolvedPath(".".join(canonical), steps, targets, final, self._getter(steps, final))

    def _getter(self, steps: list[FieldDef], final: FieldDef) -> Callable[[dict], Any]:
        name = final.name
        if not steps:
            return lambda rec: rec.get(name)
        org = self.org

        def get(rec: dict) -> Any:
            current = rec
            for step in steps:
                ref = current.get(step.name)
                if ref is None:
                    return None
                found = org.lookup(ref)
                if found is None:
                    return None
                target_obj, current = found
            if final is _TYPE_FIELD:
                return target_obj.name
            return current.get(name)

        return get

    def parent_record(self, rec: dict, steps: list[FieldDef]) -> tuple[ObjectDef, dict] | None:
        current = rec
        found = None
        for step in steps:
            ref = current.get(step.name)
            if ref is None:
                return None
            found = self.org.lookup(ref)
            if found is None:
                return None
            current = found[1]
        return found

    # -- WHERE ----------------------------------------------------------------------
    def _predicate(self, obj: ObjectDef, node: Any) -> Callable[[dict], bool]:
        if isinstance(node, BoolOp):
            parts = [self._predicate(obj, item) for item in node.items]
            if node.op == "and":
                return lambda rec: all(p(rec) for p in parts)
            if node.op == "or":
                likes = self._likes_on_one_field(obj, node.items)
                if likes is not None:
                    return likes
                return lambda rec: any(p(rec) for p in parts)
            inner = parts[0]
            return lambda rec: not inner(rec)
        assert isinstance(node, Comparison)
        return self._comparison(obj, node)

    def _comparison(self, obj: ObjectDef, cmp: Comparison) -> Callable[[dict], bool]:
        path = self.resolve(obj, cmp.path)
        _require(path, "filterable", "can not be filtered in query call")
        fdef, get, op = path.field, path.getter, cmp.op
        if op == "like" and fdef.type == "id":
            raise SoqlError("invalid operator on id field", "INVALID_QUERY_FILTER_OPERATOR")
        if isinstance(cmp.value, SubQuery):
            inner = self.compile(cmp.value.query)
            inner_rows = [r for r in self.org.records(inner.obj.name) if inner.predicate(r)]
            keyed = {_key(fdef, inner.select[0].getter(r)) for r in inner_rows} - {None}
            if op == "in":
                return lambda rec: _key(fdef, get(rec)) in keyed
            return lambda rec: _key(fdef, get(rec)) not in keyed
        if op in ("in", "notin", "includes", "excludes"):
            values = [self._literal(fdef, v, cmp.path) for v in cmp.value]
            if op in ("includes", "excludes"):
                if fdef.type != "multipicklist":
                    raise SoqlError(
                        f"invalid operator on field {cmp.path}: {op.upper()} needs a multi-select picklist",
                        "INVALID_QUERY_FILTER_OPERATOR",
                    )
                terms = [
                    {t.strip().lower() for t in str(v).split(";")} for v in values if v is not None
                ]

                def includes(rec: dict) -> bool:
                    value = get(rec)
                    chosen = {v.lower() for v in value.split(";")} if value else set()
                    return any(term <= chosen for term in terms)

                return includes if op == "includes" else (lambda rec: not includes(rec))
            keyed = {_key(fdef, v) for v in values}
            if op == "in":
                return lambda rec: _key(fdef, get(rec)) in keyed and get(rec) is not None
            return lambda rec: _key(fdef, get(rec)) not in keyed
        literal = self._literal(fdef, cmp.value, cmp.path, like=op == "like")
        if op == "like":
            if fdef.type not in TEXT_TYPES and fdef.type not in ("id", "reference"):
                raise SoqlError(
                    f"invalid operator on field {cmp.path}: LIKE needs a text field",
                    "INVALID_QUERY_FILTER_OPERATOR",
                )
            return _like_predicate(get, [str(literal)])
        if isinstance(literal, DateLiteral):
            start, end = self._date_range(literal, fdef)
            checks = {
                "=": lambda v: start <= v < end,
                "!=": lambda v: not (start <= v < end),
                "<": lambda v: v < start,
                "<=": lambda v: v < end,
                ">": lambda v: v >= end,
                ">=": lambda v: v >= start,
            }
            check = checks[op]
            return lambda rec: (
                (v := get(rec)) is not None and check(v)
                if op != "!="
                else ((v := get(rec)) is None or check(v))
            )
        if literal is None:
            if op == "=":
                return lambda rec: get(rec) is None
            if op == "!=":
                return lambda rec: get(rec) is not None
            return lambda rec: False
        key = _key(fdef, literal)
        ops = {
            "=": lambda a: a == key,
            "!=": lambda a: a != key,
            "<": lambda a: a < key,
            "<=": lambda a: a <= key,
            ">": lambda a: a > key,
            ">=": lambda a: a >= key,
        }
        compare = ops[op]
        if op == "!=":
            return lambda rec: (v := get(rec)) is None or compare(_key(fdef, v))
        return lambda rec: (v := get(rec)) is not None and compare(_key(fdef, v))

    def _likes_on_one_field(self, obj: ObjectDef, items: list[Any]) -> Callable | None:
        """``f LIKE 'a' OR f LIKE 'b' …`` on one plain text field as one predicate (each
        pattern still checked as a LIKE; one pass over the value instead of one per
        pattern), or None for any other OR."""
        if not all(isinstance(i, Comparison) and i.op == "like" for i in items):
            return None
        paths = {i.path.lower() for i in items}
        if len(paths) != 1:
            return None
        path = self.resolve(obj, items[0].path)
        if path.steps or path.field.type not in TEXT_TYPES:
            return None
        patterns = [str(self._literal(path.field, i.value, i.path, like=True)) for i in items]
        return _like_predicate(path.getter, patterns)

    def _literal(self, fdef: FieldDef, value: Any, path: str, like: bool = False) -> Any:
        """Check a literal's type against the field, as Salesforce does; returns stored form."""
        if value is None:
            return None
        ftype = fdef.type

        def wrong(expected: str) -> SoqlError:
            return SoqlError(
                f"value of filter criterion for field '{path}' must be of type {expected} and "
                "should not be enclosed in quotes" if expected != "string" else
                f"value of filter criterion for field '{path}' must be of type string and should be enclosed in quotes",
                code="INVALID_QUERY_FILTER_OPERATOR",
            )  # fmt: skip

        if ftype in ("double", "currency", "percent", "int"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise wrong("double")
            return value
        if ftype == "boolean":
            if not isinstance(value, bool):
                raise wrong("boolean")
            return value
        if ftype == "date":
            if isinstance(value, DateValue):
                return value.text
            if isinstance(value, DateLiteral):
                return value
            raise wrong("date")
        if ftype == "datetime":
            if isinstance(value, DateTimeValue):
                return value.text
            if isinstance(value, DateLiteral):
                return value
            raise wrong("dateTime")
        if not isinstance(value, str):
            raise wrong("string")
        if ftype in ("id", "reference"):
            if is_id(value):
                return to_18(value)
            if not like:
                raise SoqlError(f"invalid ID field: {value}", "INVALID_QUERY_FILTER_OPERATOR")
        return value

    def _date_range(self, literal: DateLiteral, fdef: FieldDef) -> tuple[str, str]:
        start, end = date_literal_range(literal, self.today())
        if fdef.type == "datetime":
            return (
                format_datetime(datetime(start.year, start.month, start.day, tzinfo=UTC)),
                format_datetime(datetime(end.year, end.month, end.day, tzinfo=UTC)),
            )
        if fdef.type != "date":
            raise SoqlError(
                f"date literal {literal.name} used on non-date field {fdef.name}",
                "INVALID_QUERY_FILTER_OPERATOR",
            )
        return start.isoformat(), end.isoformat()

    # -- execution ------------------------------------------------------------------
    def run(self, text: str, include_deleted: bool = False) -> tuple[CompiledQuery, list[dict]]:
        """Compile and run ``text``; returns the query and the matching stored records."""
        compiled = self.compile(text)
        name = compiled.obj.name
        with self.org.lock:  # stored records are never changed in place: filter outside
            table = self.org.tables[name]
            candidates = self._candidates(compiled.obj, compiled.query.where)
            if candidates is None:  # a full scan, as a real org's non-selective query
                records = list(table.values())
            else:
                ordered = self.org.query_indexes.in_table_order(name, candidates & table.keys())
                records = [table[i] for i in ordered]
        rows = [
            r
            for r in records
            if (include_deleted or not r.get("IsDeleted")) and compiled.predicate(r)
        ]
        if compiled.is_aggregate or (compiled.query.count_only and compiled.group):
            return compiled, self._aggregate_rows(compiled, rows)
        for path, descending, nulls_last in reversed(compiled.order):
            values = [(path.getter(r), r) for r in rows]
            present = [(v, r) for v, r in values if v is not None]
            missing = [r for v, r in values if v is None]
            present.sort(key=lambda item: _sort_key(path.field, item[0]), reverse=descending)
            ordered = [r for _, r in present]
            rows = ordered + missing if nulls_last else missing + ordered
        q = compiled.query
        if q.offset:
            rows = rows[q.offset :]
        if q.limit is not None:
            rows = rows[: q.limit]
        return compiled, rows

    def _candidates(self, obj: ObjectDef, node: Any) -> set[str] | None:
        """Ids of a superset of the records ``node`` matches, found through an indexed field
        (:mod:`~sfsync_sandbox.salesforce.indexes`), or None when the filter needs a scan."""
        if node is None:
            return None
        if isinstance(node, BoolOp):
            found = [self._candidates(obj, item) for item in node.items]
            if node.op == "and":
                known = [f for f in found if f is not None]
                return min(known, key=len) if known else None
            if node.op == "or" and all(f is not None for f in found):
                return set().union(*found)
            return None
        if isinstance(node.value, SubQuery):
            return None
        path = self.resolve(obj, node.path)
        fdef = path.field
        if path.steps or not indexed(fdef):
            return None
        if node.op == "like":
            prefix = _like_prefix(str(node.value))
            if fdef.type not in TEXT_TYPES or not prefix or not prefix.isascii():
                return None  # a leading wildcard: no index helps
            return self.org.query_indexes.starting_with(obj.name, fdef, prefix)
        if node.op == "=" and node.value is not None:
            values = [node.value]
        elif node.op == "in":
            values = [v for v in node.value if v is not None]
        else:
            return None
        keys = [_key(fdef, self._literal(fdef, v, node.path)) for v in values]
        if any(isinstance(k, DateLiteral) for k in keys):
            return None
        if fdef.type == "id":  # the table's own key
            return set(keys)
        return self.org.query_indexes.lookup(obj.name, fdef, keys)

    def _aggregate_rows(self, compiled: CompiledQuery, rows: list[dict]) -> list[dict]:
        """One AggregateResult row per group (one row for the whole set without GROUP BY)."""
        groups: dict[tuple, list[dict]] = {}
        for rec in rows:
            key = tuple(_key(p.field, p.getter(rec)) for p in compiled.group)
            groups.setdefault(key, []).append(rec)
        if not compiled.group:
            groups = {(): rows}
        out: list[dict] = []
        for members in groups.values():
            row: dict[str, Any] = {}
            for kind, item in compiled.query.items:
                if kind == "field":
                    path = next(
                        p for p in compiled.group if p.text.lower() == _canon(self, compiled, item)
                    )
                    row[path.field.name] = path.getter(members[0])
            for key, agg, path in compiled.aggregates:
                row[key] = _aggregate(agg, path, members)
            out.append(row)
        for key, descending, nulls_last in reversed(compiled.aggregate_order):
            present = [r for r in out if r.get(key) is not None]
            missing = [r for r in out if r.get(key) is None]
            present.sort(
                key=lambda r: r[key].lower() if isinstance(r[key], str) else r[key],
                reverse=descending,
            )
            out = present + missing if nulls_last else missing + present
        for row in out:
            for hidden in [k for k in row if k.startswith("__order")]:
                del row[hidden]
        q = compiled.query
        if q.offset:
            out = out[q.offset :]
        if q.limit is not None:
            out = out[: q.limit]
        return out

    def project(self, compiled: CompiledQuery, rec: dict, api_version: str) -> dict:
        """A record as the REST API returns it: attributes, then the selected fields."""
        if compiled.is_aggregate:
            return {"attributes": {"type": "AggregateResult"}, **rec}
        out: dict[str, Any] = {"attributes": _attributes(compiled.obj.name, rec["Id"], api_version)}
        for path in compiled.select:
            if not path.steps:
                out[path.field.name] = rec.get(path.field.name)
                continue
            node = out
            current_rec: dict | None = rec
            for step in path.steps:
                rel = step.relationship_name
                if current_rec is None:
                    break
                ref = current_rec.get(step.name)
                found = self.org.lookup(ref) if ref else None
                if found is None:
                    node.setdefault(rel, None)
                    current_rec = None
                    break
                target_obj, current_rec = found
                child = node.get(rel)
                if not isinstance(child, dict):
                    child = {
                        "attributes": _attributes(target_obj.name, current_rec["Id"], api_version)
                    }
                    node[rel] = child
                node = child
            if current_rec is not None:
                if path.field is _TYPE_FIELD:
                    node["Type"] = node["attributes"]["type"]
                else:
                    node[path.field.name] = current_rec.get(path.field.name)
        return out

    def flat_row(self, compiled: CompiledQuery, rec: dict) -> list[Any]:
        """The selected values in order, for Bulk API CSV results."""
        return [path.getter(rec) for path in compiled.select]


def _canon(engine: QueryEngine, compiled: CompiledQuery, path: str) -> str:
    return engine.resolve(compiled.obj, path).text.lower()


def _aggregate(agg: Aggregate, path: ResolvedPath | None, members: list[dict]) -> Any:
    """COUNT / COUNT_DISTINCT / SUM / AVG / MIN / MAX of a group, as Salesforce returns it."""
    if path is None:
        return len(members)
    values = [v for v in (path.getter(r) for r in members) if v is not None]
    if agg.func == "count":
        return len(values)
    if agg.func == "count_distinct":
        return len({_key(path.field, v) for v in values})
    if not values:
        return None
    if agg.func == "sum":
        return float(sum(values))
    if agg.func == "avg":
        return float(sum(values)) / len(values)
    pick = min if agg.func == "min" else max
    return pick(values, key=lambda v: _sort_key(path.field, v))


def _attributes(sobject: str, record_id: str, api_version: str) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/v{api_version}/sobjects/{sobject}/{record_id}"}


def _sort_key(fdef: FieldDef, value: Any) -> Any:
    return str(value).lower() if isinstance(value, str) and fdef.type in TEXT_TYPES else value


def _like_regex(pattern: str) -> re.Pattern:
    out = [
        ".*" if t == "%" else "." if t == "_" else re.escape(t[-1]) for t in _like_tokens(pattern)
    ]
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _like_tokens(pattern: str) -> list[str]:
    """A LIKE pattern as tokens: ``%`` (any run), ``_`` (any one) and literal characters
    (an escaped ``\\%`` or ``\\_`` is the literal character, as ``\\%`` / ``\\_``)."""
    tokens, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            tokens.append("\\" + pattern[i + 1])
            i += 2
            continue
        tokens.append(ch)
        i += 1
    return tokens


def _like_prefix(pattern: str) -> str:
    """The literal text a LIKE pattern starts with (empty for a leading wildcard)."""
    prefix = []
    for token in _like_tokens(pattern):
        if token in ("%", "_"):
            break
        prefix.append(token[-1])
    return "".join(prefix)


def _like_predicate(get: Callable[[dict], Any], patterns: list[str]) -> Callable[[dict], bool]:
    """Whether a record's value matches any of the LIKE ``patterns`` (case-insensitive).

    ``'%text'`` and ``'text%'`` patterns of ASCII text are checked on an ASCII value with
    ``endswith`` / ``startswith`` of the lowered value (what the regular expression ignoring
    case decides there); every other pattern, and any pattern for a non-ASCII value, with
    the regular expression.
    """
    suffixes, prefixes, others = [], [], []
    regexes = [_like_regex(p) for p in patterns]
    for pattern, regex in zip(patterns, regexes, strict=True):
        tokens = _like_tokens(pattern)
        body = [t[-1] for t in tokens[1:-1]]
        plain = all(t not in ("%", "_") for t in tokens[1:-1]) and "".join(body).isascii()
        if len(tokens) >= 2 and plain and tokens[0] == "%" and tokens[-1] not in ("%", "_"):
            suffixes.append(("".join(body) + tokens[-1][-1]).lower())
        elif len(tokens) >= 2 and plain and tokens[-1] == "%" and tokens[0] not in ("%", "_"):
            prefixes.append((tokens[0][-1] + "".join(body)).lower())
        else:
            others.append(regex)
    if (suffixes and not "".join(suffixes).isascii()) or (
        prefixes and not "".join(prefixes).isascii()
    ):
        suffixes, prefixes, others = [], [], regexes
    ends, starts = tuple(suffixes), tuple(prefixes)

    def matches(rec: dict) -> bool:
        value = get(rec)
        if value is None:
            return False
        text = str(value)
        if not text.isascii():
            return any(r.fullmatch(text) is not None for r in regexes)
        lowered = text.lower()
        if (ends and lowered.endswith(ends)) or (starts and lowered.startswith(starts)):
            return True
        return any(r.fullmatch(text) is not None for r in others)

    return matches


def _month_start(day: date, months: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def date_literal_range(literal: DateLiteral, today: date) -> tuple[date, date]:
    """[start, end) of a relative date literal (weeks start on Sunday, as in Salesforce).

    As the SOQL reference defines them: LAST_N_QUARTERS:n "starts 12:00:00 of the previous
    quarter and continues through the end of the nth previous quarter" (the current quarter is
    not included), NEXT_N_QUARTERS:n starts with the next quarter, N_QUARTERS_AGO:n is the
    whole quarter n quarters back; the _YEARS literals work the same with calendar years.
    """
    name, n = literal.name, literal.n or 0
    day = timedelta(days=1)
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)
    quarter_start = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    ranges = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "THIS_WEEK": (week_start, week_start + 7 * day),
        "LAST_WEEK": (week_start - 7 * day, week_start),
        "NEXT_WEEK": (week_start + 7 * day, week_start + 14 * day),
        "THIS_MONTH": (_month_start(today), _month_start(today, 1)),
        "LAST_MONTH": (_month_start(today, -1), _month_start(today)),
        "NEXT_MONTH": (_month_start(today, 1), _month_start(today, 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "THIS_QUARTER": (quarter_start, _month_start(quarter_start, 3)),
        "LAST_QUARTER": (_month_start(quarter_start, -3), quarter_start),
        "NEXT_QUARTER": (_month_start(quarter_start, 3), _month_start(quarter_start, 6)),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
        "LAST_N_WEEKS": (week_start - 7 * n * day, week_start),
        "NEXT_N_WEEKS": (week_start + 7 * day, week_start + 7 * (n + 1) * day),
        "LAST_N_MONTHS": (_month_start(today, -n), _month_start(today)),
        "NEXT_N_MONTHS": (_month_start(today, 1), _month_start(today, n + 1)),
        "N_MONTHS_AGO": (_month_start(today, -n), _month_start(today, -n + 1)),
        "N_WEEKS_AGO": (week_start - 7 * n * day, week_start - 7 * (n - 1) * day),
        "LAST_N_QUARTERS": (_month_start(quarter_start, -3 * n), quarter_start),
        "NEXT_N_QUARTERS": (_month_start(quarter_start, 3), _month_start(quarter_start, 3 * (n + 1))),
        "N_QUARTERS_AGO": (_month_start(quarter_start, -3 * n), _month_start(quarter_start, -3 * (n - 1))),
        "LAST_N_YEARS": (date(today.year - n, 1, 1), date(today.year, 1, 1)),
        "NEXT_N_YEARS": (date(today.year + 1, 1, 1), date(today.year + n + 1, 1, 1)),
        "N_YEARS_AGO": (date(today.year - n, 1, 1), date(today.year - n + 1, 1, 1)),
    }  # fmt: skip
    # The sandbox org's fiscal year is the calendar year (starting in January), the default
    # of a Salesforce org: every FISCAL literal equals its calendar counterpart.
    calendar = name.replace("_FISCAL", "")
    return ranges[calendar]
