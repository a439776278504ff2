"""An account scope filter (``scope:`` of a job's Salesforce source): conditions checked when
the job is loaded, so that ``sfsync validate`` catches what the org would reject, and rendered
as SOQL with every value quoted by ``simple_salesforce.format_soql``.

Part of the job model (``sfsync/jobs.py``); ``sfsync/sources/salesforce.py`` puts the clause
into its queries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal

from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from simple_salesforce import format_soql

from sfsync.configfile import StrictModel

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
Operator = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in", "like"]
ScopeValue = str | int | float | bool | datetime | date | None
LIST_OPERATORS = ("in", "not in")
ORDER_OPERATORS = ("<", "<=", ">", ">=")


def _shown(value: object) -> str:
    """A value as the YAML file spells it (null, true, 'text', 2025-06-01)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return value.isoformat() if isinstance(value, date) else repr(value)


def scope_value_problem(op: str, value: object) -> str | None:
    """What is wrong with ``value`` for operator ``op`` (None when it is a valid shape).

    Each operator's allowed values: ``=``/``!=`` one text, number, date, true/false or null;
    ``<``/``<=``/``>``/``>=`` one text, number or date; ``like`` one text pattern (``%`` and
    ``_`` wildcards); ``in``/``not in`` a non-empty list of texts, numbers or dates.
    """
    if isinstance(value, dict):
        return f"expected a value, not a mapping {value!r}"
    if op in LIST_OPERATORS:
        if not isinstance(value, list):
            return (
                f"op '{op}' needs a list of values, such as value: [{value}] (got the single "
                f"value {_shown(value)}; for one value use op '=')"
            )
        if not value:
            return f"op '{op}' needs at least one value in the list"
        for item in value:
            if isinstance(item, list | dict):
                return f"the list holds {item!r}; list items must be single values"
            if item is None or isinstance(item, bool):
                return (
                    f"the list holds {_shown(item)}; compare with true/false/null using "
                    "op '=' or '!='"
                )
            if isinstance(item, float) and not math.isfinite(item):
                return f"the list holds {item!r}; numbers must be finite"
        return None
    if isinstance(value, list):
        return f"a list of values needs op 'in' or 'not in' (op is '{op}')"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number (use a number such as 1000000)"
    if op == "like" and not isinstance(value, str):
        return f"op 'like' compares text: the value must be a text pattern such as 'Acme%' (got {_shown(value)})"
    if op in ORDER_OPERATORS and (value is None or isinstance(value, bool)):
        return f"op '{op}' needs a text, number or date (got {_shown(value)})"
    return None


class ScopeCondition(StrictModel):
    """One condition of an account scope filter: ``field op value`` (values are quoted).

    ``op`` is case-insensitive (``IN`` = ``in``); the value's shape must suit the operator (see
    :func:`scope_value_problem`), so that ``sfsync validate`` catches what the org would reject.
    """

    field: str
    op: Operator = "="
    value: ScopeValue | list[ScopeValue]

    @field_validator("field")
    @classmethod
    def _field_name(cls, value: str) -> str:
        if not FIELD_NAME.match(value):
            raise ValueError(f"{value!r} is not a Salesforce field name (letters, digits, _ and .)")
        return value

    @field_validator("op", mode="before")
    @classmethod
    def _op_case(cls, value: object) -> object:
        return " ".join(value.lower().split()) if isinstance(value, str) else value

    @field_validator("value", mode="before")
    @classmethod
    def _value_shape(cls, value: object, info: ValidationInfo) -> object:
        op = info.data.get("op")
        if op is None:  # the operator itself is wrong; that error is reported
            return value
        problem = scope_value_problem(op, value)
        if problem:
            raise PydanticCustomError("scope_value", problem)
        return value

    def to_soql(self) -> str:
        """The condition as SOQL, the value quoted by ``format_soql``."""
        problem = scope_value_problem(self.op, self.value)
        if problem:
            raise ValueError(f"{self.field}: {problem}")
        return f"{self.field} {self.op.upper()} " + format_soql("{}", self.value)


def scope_clause(scope: Sequence[ScopeCondition]) -> str:
    """``WHERE a AND b`` for the scope conditions, or an empty string."""
    if not scope:
        return ""
    return " WHERE " + " AND ".join(f"({c.to_soql()})" for c in scope)
