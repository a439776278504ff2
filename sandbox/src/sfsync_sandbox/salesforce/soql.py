"""A SOQL parser for the subset sfsync and an admin's scope filters use.

SELECT fields (with parent relationship paths such as ``Owner.Email``), ``toLabel(field)``,
``COUNT()`` or aggregate functions (``COUNT(f)``, ``COUNT_DISTINCT(f)``, ``SUM``, ``AVG``,
``MIN``, ``MAX``, with an optional alias); FROM one object; WHERE with AND / OR / NOT and
parentheses, ``= != <> < <= > >=``, LIKE, IN / NOT IN, INCLUDES / EXCLUDES, null, strings with
escapes, numbers, booleans, date and datetime literals and date literals (TODAY,
LAST_N_DAYS:n, THIS_FISCAL_QUARTER, LAST_N_QUARTERS:n, N_YEARS_AGO:n, …); GROUP BY, ORDER BY,
LIMIT, OFFSET. Anything else is a ``MALFORMED_QUERY`` (:class:`SoqlError`).

AND and OR at one level without parentheses are rejected, as Salesforce does. The SOQL
reference ("Condition Expression Syntax"): "Client applications must specify parentheses
when nesting operators. However, multiple operators of the same type do not need to be
nested." A real org answers ``WHERE AccountId = '…' AND LastName LIKE 'test' OR Email LIKE
'test'`` with ``MALFORMED_QUERY`` "ERROR at Row:1:Column:61 unexpected token: OR" (quoted on
salesforce.stackexchange.com, "Unexpected token OR"); the message here has the same shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sfsync_sandbox.salesforce.values import parse_datetime


class SoqlError(Exception):
    """A query the sandbox cannot parse or run; ``code`` is the Salesforce errorCode."""

    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class DateLiteral:
    """A relative date literal such as TODAY or LAST_N_DAYS:30 (resolved at run time)."""

    name: str
    n: int | None = None


@dataclass(frozen=True)
class DateTimeValue:
    """A datetime literal, normalised to the stored form."""

    text: str


@dataclass(frozen=True)
class DateValue:
    text: str


@dataclass
class SubQuery:
    """A semi-join: ``Id IN (SELECT WhatId FROM Task WHERE …)``."""

    query: Query


@dataclass
class Comparison:
    path: str
    op: str  # = != < <= > >= like in notin includes excludes
    value: Any  # scalar, tuple for IN, SubQuery for a semi-join, None for null


@dataclass
class BoolOp:
    op: str  # and | or | not
    items: list[Any]


@dataclass
class OrderItem:
    path: str
    descending: bool = False
    nulls_last: bool | None = None


@dataclass(frozen=True)
class Aggregate:
    """An aggregate function in SELECT or ORDER BY: ``COUNT(Id)``, ``MAX(CreatedDate) latest``."""

    func: str  # count | count_distinct | sum | avg | min | max
    path: str | None  # None: COUNT()
    alias: str | None = None


@dataclass
class Query:
    fields: list[str]  # the plain (and toLabel) fields selected, in order
    sobject: str
    where: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    count_only: bool = False
    group_by: list[str] = field(default_factory=list)
    # every SELECT item in order: ("field", path) or ("agg", Aggregate)
    items: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def aggregates(self) -> list[Aggregate]:
        return [item for kind, item in self.items if kind == "agg"]

    @property
    def is_aggregate(self) -> bool:
        """True when the query returns AggregateResult rows (aggregates or GROUP BY)."""
        return not self.count_only and (bool(self.aggregates) or bool(self.group_by))


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\dT])
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "%": "\\%", "_": "\\_"}  # fmt: skip
_KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "like", "includes", "excludes",
             "order", "by", "asc", "desc", "nulls", "first", "last", "limit", "offset", "null",
             "true", "false", "count", "group", "having", "with", "for", "using"}  # fmt: skip
DATE_LITERALS = {"YESTERDAY", "TODAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK",
                 "LAST_MONTH", "THIS_MONTH", "NEXT_MONTH", "LAST_90_DAYS", "NEXT_90_DAYS",
                 "THIS_QUARTER", "LAST_QUARTER", "NEXT_QUARTER", "THIS_YEAR", "LAST_YEAR",
                 "NEXT_YEAR", "THIS_FISCAL_QUARTER", "LAST_FISCAL_QUARTER",
                 "NEXT_FISCAL_QUARTER", "THIS_FISCAL_YEAR", "LAST_FISCAL_YEAR",
                 "NEXT_FISCAL_YEAR"}  # fmt: skip
N_DATE_LITERALS = {"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_MONTHS", "NEXT_N_MONTHS",
                   "LAST_N_WEEKS", "NEXT_N_WEEKS", "N_WEEKS_AGO", "N_MONTHS_AGO",
                   "LAST_N_QUARTERS", "NEXT_N_QUARTERS", "N_QUARTERS_AGO", "LAST_N_YEARS",
                   "NEXT_N_YEARS", "N_YEARS_AGO", "LAST_N_FISCAL_QUARTERS",
                   "NEXT_N_FISCAL_QUARTERS", "N_FISCAL_QUARTERS_AGO", "LAST_N_FISCAL_YEARS",
                   "NEXT_N_FISCAL_YEARS", "N_FISCAL_YEARS_AGO"}  # fmt: skip
AGGREGATE_FUNCTIONS = {"count", "count_distinct", "sum", "avg", "min", "max"}


def _unescape(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise SoqlError(f"Invalid string literal escape sequence: {body[i : i + 2]!r}")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def tokenize(text: str) -> list[tuple[str, str]]:
    return _tokenize(text)[0]


def _tokenize(text: str) -> tuple[list[tuple[str, str]], list[int]]:
    """The tokens of ``text`` and the offset where each starts."""
    tokens: list[tuple[str, str]] = []
    starts: list[int] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise SoqlError(f"unexpected token: '{text[pos : pos + 20]}'")
        start, pos = pos, match.end()
        kind = match.lastgroup
        if kind == "ws":
            continue
        tokens.append((kind, match.group(kind)))
        starts.append(start)
    return tokens, starts


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens, self.starts = _tokenize(text)
        self.i = 0

    def position_error(self, index: int) -> SoqlError:
        """Salesforce's MALFORMED_QUERY shape: ``ERROR at Row:r:Column:c unexpected token: X``."""
        start = self.starts[index] if index < len(self.starts) else len(self.text)
        row = self.text.count("\n", 0, start) + 1
        column = start - (self.text.rfind("\n", 0, start) + 1) + 1
        token = self.tokens[index][1] if index < len(self.tokens) else "<EOF>"
        return SoqlError(f"ERROR at Row:{row}:Column:{column}\nunexpected token: {token}")

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "ident" and tok[1].lower() in words:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            tok = self.peek()
            raise SoqlError(
                f"unexpected token: '{tok[1] if tok else 'end of query'}', expected {word.upper()}"
            )

    def expect(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if not tok or tok[0] != kind or (value is not None and tok[1] != value):
            raise SoqlError(f"unexpected token: '{tok[1] if tok else 'end of query'}'")
        self.i += 1
        return tok[1]

    def ident(self) -> str:
        tok = self.peek()
        if not tok or tok[0] != "ident" or tok[1].lower() in _KEYWORDS:
            raise SoqlError(f"unexpected token: '{tok[1] if tok else 'end of query'}'")
        self.i += 1
        return tok[1]

    def parse(self) -> Query:
        self.expect_keyword("select")
        items = [self.select_item()]
        while self.peek() == ("punct", ","):
            self.i += 1
            items.append(self.select_item())
        bare_count = [item for kind, item in items if kind == "agg" and item.path is None]
        if bare_count and len(items) > 1:
            raise SoqlError("COUNT() must be the only element in the SELECT list")
        self.expect_keyword("from")
        sobject = self.ident()
        fields = [path for kind, path in items if kind == "field"]
        query = Query(fields=fields, sobject=sobject, count_only=bool(bare_count), items=items)
        if self.keyword("where"):
            query.where = self.or_expr()
        if self.keyword("group"):
            self.expect_keyword("by")
            query.group_by.append(self.ident())
            while self.peek() == ("punct", ","):
                self.i += 1
                query.group_by.append(self.ident())
        if self.keyword("order"):
            self.expect_keyword("by")
            query.order_by.append(self.order_item())
            while self.peek() == ("punct", ","):
                self.i += 1
                query.order_by.append(self.order_item())
        if self.keyword("limit"):
            query.limit = int(self.expect("number"))
        if self.keyword("offset"):
            query.offset = int(self.expect("number"))
        if self.peek() is not None:
            raise SoqlError(f"unexpected token: '{self.peek()[1]}'")
        return query

    def function_call(self) -> tuple[str, str | None] | None:
        """``name(path)`` or ``COUNT()`` at the cursor: (lower name, path or None)."""
        tok = self.peek()
        if not (tok and tok[0] == "ident" and self.peek(1) == ("punct", "(")):
            return None
        name = tok[1].lower()
        if name not in AGGREGATE_FUNCTIONS and name != "tolabel":
            raise SoqlError(f"unexpected token: '{tok[1]}'")
        self.i += 2
        if name == "count" and self.peek() == ("punct", ")"):
            self.i += 1
            return name, None
        path = self.ident()
        self.expect("punct", ")")
        return name, path

    def select_item(self) -> tuple[str, Any]:
        call = self.function_call()
        if call is None:
            return "field", self.ident()
        name, path = call
        if name == "tolabel":  # the sandbox's picklist labels are their values
            return "field", path
        alias = None
        tok = self.peek()
        if tok and tok[0] == "ident" and tok[1].lower() not in _KEYWORDS:
            alias = self.ident()
        return "agg", Aggregate(name, path, alias)

    def order_item(self) -> OrderItem:
        call = self.function_call()
        if call is None:
            item = OrderItem(self.ident())
        elif call[0] == "tolabel":
            item = OrderItem(call[1] or "")
        else:
            item = OrderItem(f"{call[0]}({call[1] or ''})")
        if self.keyword("desc"):
            item.descending = True
        else:
            self.keyword("asc")
        if self.keyword("nulls"):
            if self.keyword("last"):
                item.nulls_last = True
            else:
                self.expect_keyword("first")
                item.nulls_last = False
        return item

    def or_expr(self) -> Any:
        """Operands joined by one operator, AND or OR: mixing them at one level without
        parentheses is MALFORMED_QUERY "unexpected token: OR" (or AND), as in Salesforce."""
        items = [self.not_expr()]
        operator: str | None = None
        while True:
            tok = self.peek()
            word = tok[1].lower() if tok and tok[0] == "ident" else ""
            if word not in ("and", "or"):
                break
            if operator is not None and word != operator:
                raise self.position_error(self.i)
            operator = word
            self.i += 1
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp(operator or "and", items)

    def not_expr(self) -> Any:
        if self.keyword("not"):
            return BoolOp("not", [self.not_expr()])
        if self.peek() == ("punct", "("):
            self.i += 1
            inner = self.or_expr()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        call = self.function_call()
        if call is None:
            path = self.ident()
        elif call[0] == "tolabel" and call[1]:
            path = call[1]
        else:
            raise SoqlError(
                f"unexpected token: '{call[0]}': aggregate functions are not allowed in WHERE; "
                "use HAVING"
            )
        tok = self.peek()
        if tok and tok[0] == "op":
            self.i += 1
            op = "!=" if tok[1] == "<>" else tok[1]
            return Comparison(path, op, self.value())
        if self.keyword("like"):
            return Comparison(path, "like", self.value())
        if self.keyword("not"):
            self.expect_keyword("in")
            return Comparison(path, "notin", self.value_list(allow_subquery=True))
        if self.keyword("in"):
            return Comparison(path, "in", self.value_list(allow_subquery=True))
        if self.keyword("includes"):
            return Comparison(path, "includes", self.value_list())
        if self.keyword("excludes"):
            return Comparison(path, "excludes", self.value_list())
        raise SoqlError(f"unexpected token: '{tok[1] if tok else 'end of query'}'")

    def value_list(self, allow_subquery: bool = False) -> tuple | SubQuery:
        self.expect("punct", "(")
        tok = self.peek()
        if allow_subquery and tok and tok[0] == "ident" and tok[1].lower() == "select":
            return self.subquery()
        values = [self.value()]
        while self.peek() == ("punct", ","):
            self.i += 1
            values.append(self.value())
        self.expect("punct", ")")
        return tuple(values)

    def subquery(self) -> SubQuery:
        start, depth = self.i, 1
        while depth:
            tok = self.peek()
            if tok is None:
                raise SoqlError("unexpected end of query in a semi-join, expected ')'")
            depth += {("punct", "("): 1, ("punct", ")"): -1}.get(tok, 0)
            self.i += 1
        inner = _Parser.__new__(_Parser)
        inner.text, inner.tokens, inner.i = self.text, self.tokens[start : self.i - 1], 0
        inner.starts = self.starts[start : self.i - 1]
        query = inner.parse()
        if query.count_only or query.aggregates or len(query.fields) != 1:
            raise SoqlError("a semi-join subquery must select exactly one field")
        return SubQuery(query)

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise SoqlError("unexpected end of query, expected a value")
        kind, text = tok
        self.i += 1
        if kind == "string":
            return _unescape(text[1:-1])
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "date":
            try:
                return DateValue(date.fromisoformat(text).isoformat())
            except ValueError:
                raise SoqlError(f"invalid date: {text}") from None
        if kind == "datetime":
            from sfsync_sandbox.salesforce.values import format_datetime

            return DateTimeValue(format_datetime(parse_datetime(text)))
        if kind == "ident":
            lower = text.lower()
            if lower == "null":
                return None
            if lower in ("true", "false"):
                return lower == "true"
            name, _, n = text.upper().partition(":")
            if name in DATE_LITERALS and not n:
                return DateLiteral(name)
            if name in N_DATE_LITERALS and n:
                return DateLiteral(name, int(n))
        raise SoqlError(f"unexpected token: '{text}'")


def parse_soql(text: str) -> Query:
    """Parse ``text``; raises :class:`SoqlError` (MALFORMED_QUERY) on anything unsupported."""
    if not text or not text.strip():
        raise SoqlError("empty query")
    return _Parser(text).parse()
