"""Field mappings: which scoring-result column is written to which Salesforce field, and how.

A mapping file (``mappings/account_fields.yaml``) names the target object, the match key
(the result column holding the record Id or an external-ID value, and the Salesforce field it
matches) and, per result column, the target field, its Salesforce type and the null policy:

- ``clear``: a missing desired value writes null (the field is emptied);
- ``leave``: a missing desired value leaves whatever is in Salesforce untouched.

and when the field is written (``write``):

- ``always`` (default): whenever its value differs from Salesforce's;
- ``with_changes``: only together with a change of an ``always`` field of the same record. For
  values that restate "when" (the scoring time) or that move a little every day (the
  explanation quotes days since the last touch): they never force a write of their own, so the
  next night with unchanged inputs writes nothing.

Validation happens twice, both times naming the mapping file and the offending key:
offline (:func:`mapping_problems`: unknown result column, unknown type, duplicate target field)
and against the org's describe (:func:`validate_mapping_against_org`: the field exists, is
updateable, its type is compatible, every picklist value the scorecard can produce is allowed,
lengths fit). :func:`resolve_against_org` copies the org's picklist values and lengths into the
mapping so that the plan writes the org's canonical picklist spelling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from sfsync.catalogue import (
    BANDS,
    CHURN_CODES,
    DIRECTIONS,
    ENGAGEMENT_CODES,
    PHASES,
    SEGMENTS,
    TOUCH_MODELS,
    UPSELL_CODES,
)
from sfsync.configfile import StrictModel, load_model
from sfsync.errors import ConfigError, ConfigProblem

FieldType = Literal[
    "double",
    "currency",
    "percent",
    "int",
    "date",
    "datetime",
    "picklist",
    "multipicklist",
    "string",
    "textarea",
    "boolean",
]
FIELD_TYPES: tuple[str, ...] = FieldType.__args__  # type: ignore[attr-defined]
NUMERIC_TYPES = frozenset({"double", "currency", "percent", "int"})
TEXT_TYPES = frozenset({"string", "textarea"})

# Salesforce describe types a mapped type may be written to. A number may go to any numeric
# field; a picklist value may go to a text field; a date may go to a datetime field (midnight
# in the org's time zone) and vice versa (the date in the org's time zone).
COMPATIBLE_ORG_TYPES: dict[str, frozenset[str]] = {
    "double": frozenset({"double", "currency", "percent", "int"}),
    "currency": frozenset({"double", "currency", "percent", "int"}),
    "percent": frozenset({"double", "currency", "percent", "int"}),
    "int": frozenset({"double", "currency", "percent", "int"}),
    "date": frozenset({"date", "datetime"}),
    "datetime": frozenset({"datetime", "date"}),
    "picklist": frozenset({"picklist", "string", "textarea"}),
    "multipicklist": frozenset({"multipicklist", "string", "textarea"}),
    "string": frozenset({"string", "textarea", "picklist"}),
    "textarea": frozenset({"textarea", "string"}),
    "boolean": frozenset({"boolean"}),
}

# Result columns of the scoring stage (docs/ARCHITECTURE.md "Scoring") plus ``scored_at``
# (the as-of date of the run, added by the sync stage). ``<category>_points`` columns depend
# on the scorecard; any column ending in ``_points`` is accepted unless a column list is given.
SCORING_COLUMNS = frozenset(
    {
        "account_id",
        "health_score",
        "health_band",
        "health_trend",
        "health_direction",
        "segment",
        "lifecycle_phase",
        "churn_signals",
        "upsell_signals",
        "signals",
        "missing_measures",
        "data_quality",
        "touch_model",  # the touch columns of the nightly job (automation/touch.py)
        "cs_priority",
        "tech_touch_triggers",
        "onboarding_step",  # the trigger fields of the nightly job (automation/trigger_fields.py)
        "tutorial_completed_at",
        "renewal_reminder_date",
        "explanation",
        "scored_at",
        "last_qbr_date",  # latest completed QBR, added by the compute stage (scoring/qbr.py)
    }
)

# Every value the default scorecard and rules can produce (SPEC §10), per result column, from
# the catalogue. The org validation checks that each is an allowed picklist value of the mapped
# field.
PRODUCIBLE_VALUES: dict[str, tuple[str, ...]] = {
    "health_band": BANDS,
    "health_direction": DIRECTIONS,
    "previous_band": BANDS,
    "lifecycle_phase": PHASES,
    "segment": SEGMENTS,
    "churn_signals": CHURN_CODES,
    "upsell_signals": UPSELL_CODES,
    "signals": tuple(sorted(CHURN_CODES + UPSELL_CODES)),
    "touch_model": TOUCH_MODELS,
    "tech_touch_triggers": ENGAGEMENT_CODES,
}


class FieldMapping(StrictModel):
    """How one result column is written to one Salesforce field."""

    field: str = Field(min_length=1)
    type: FieldType
    null_policy: Literal["clear", "leave"] = "clear"
    # ``always``: written whenever it differs; ``with_changes``: only together with a change of
    # an ``always`` field of the same record (a value that never forces a write on its own).
    write: Literal["always", "with_changes"] = "always"
    # Multiply numbers by this before writing (e.g. 100 to write a 0–1 ratio into a percent
    # field: Salesforce stores 72 % as 72).
    scale: float | None = None
    # Maximum length of string/textarea values; filled from the org's describe when omitted.
    length: int | None = Field(default=None, gt=0)
    # Too-long text is cut to ``length`` (with "…") instead of rejecting the record.
    truncate: bool = False
    # Values the scorecard can produce (picklists); defaults to PRODUCIBLE_VALUES[column].
    values: tuple[str, ...] | None = None
    # Filled by resolve_against_org: the org's active picklist values in canonical spelling.
    org_values: tuple[str, ...] | None = None
    # Filled by resolve_against_org: the describe type of the target field.
    org_type: str | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _lower_type(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class MatchKey(StrictModel):
    """The result column that identifies the record and the Salesforce field it matches."""

    column: str = "account_id"
    field: str = "Id"


class ObjectMapping(StrictModel):
    """A mapping file: target object, match key and fields keyed by result column."""

    sobject: str = "Account"
    match: MatchKey = MatchKey()
    fields: dict[str, FieldMapping]
    # Set by load_mapping: the file the mapping came from, used in every problem message.
    source: str = ""

    @property
    def field_names(self) -> list[str]:
        """The Salesforce field names written by this mapping, in file order."""
        return [spec.field for spec in self.fields.values()]

    def by_field(self) -> dict[str, tuple[str, FieldMapping]]:
        """Salesforce field name -> (result column, field mapping)."""
        return {spec.field: (column, spec) for column, spec in self.fields.items()}


def load_mapping(path: str | Path, *, columns: Iterable[str] | None = None) -> ObjectMapping:
    """Load and validate a mapping file offline; raise ConfigError listing every problem."""
    mapping = load_model(path, ObjectMapping)
    mapping = mapping.model_copy(update={"source": str(path)})
    problems = mapping_problems(mapping, columns=columns)
    if problems:
        raise ConfigError(problems)
    return mapping


def _known_column(column: str, columns: frozenset[str] | None) -> bool:
    if columns is not None:
        return column in columns
    return column in SCORING_COLUMNS or column.endswith("_points")


def mapping_problems(
    mapping: ObjectMapping, *, columns: Iterable[str] | None = None
) -> list[ConfigProblem]:
    """Offline checks: known result columns, no field mapped twice, options fit the type."""
    file = mapping.source or "mapping"
    known = frozenset(columns) if columns is not None else None
    problems: list[ConfigProblem] = []
    if not _known_column(mapping.match.column, known):
        problems.append(
            ConfigProblem(file, "match.column", f"unknown result column {mapping.match.column!r}")
        )
    seen: dict[str, str] = {mapping.match.field.lower(): "match.field"}
    for column, spec in mapping.fields.items():
        where = f"fields.{column}"
        if not _known_column(column, known):
            names = (
                sorted(known)
                if known is not None
                else [*sorted(SCORING_COLUMNS), "<category>_points"]
            )
            hint = ", ".join(names)
            problems.append(
                ConfigProblem(file, where, f"unknown result column {column!r}; known: {hint}")
            )
        key = spec.field.lower()
        if key in seen:
            problems.append(
                ConfigProblem(
                    file, f"{where}.field", f"field {spec.field} is already mapped by {seen[key]}"
                )
            )
        else:
            seen[key] = where
        if spec.scale is not None and spec.type not in NUMERIC_TYPES:
            problems.append(
                ConfigProblem(file, f"{where}.scale", f"scale applies to numbers, not {spec.type}")
            )
        if spec.length is not None and spec.type not in TEXT_TYPES | {"multipicklist"}:
            problems.append(
                ConfigProblem(file, f"{where}.length", f"length applies to text, not {spec.type}")
            )
    if mapping.fields and all(spec.write == "with_changes" for spec in mapping.fields.values()):
        problems.append(
            ConfigProblem(
                file,
                "fields",
                "every field is write: with_changes, so nothing would ever be written; "
                "set write: always on the fields whose change should be written",
            )
        )
    return problems


def producible_values(column: str, spec: FieldMapping) -> tuple[str, ...]:
    """The values the scorecard can put into ``column`` (for picklist validation)."""
    if spec.values is not None:
        return spec.values
    return PRODUCIBLE_VALUES.get(column, ())


def _max_text_length(column: str, spec: FieldMapping) -> int | None:
    """The longest text the scorecard can produce for a column, when it is bounded."""
    values = producible_values(column, spec)
    if not values:
        return None
    if spec.type == "multipicklist" or column.endswith("signals"):
        return len(";".join(values))
    return max(len(v) for v in values)


def validate_mapping_against_org(
    mapping: ObjectMapping, describe: Mapping[str, Any]
) -> list[ConfigProblem]:
    """Check the mapping against an sObject describe (``client.describe(sobject)``).

    Returns every problem found (empty list: the mapping fits the org).
    """
    file = mapping.source or "mapping"
    fields = {f["name"].lower(): f for f in describe.get("fields", [])}
    problems: list[ConfigProblem] = []
    match = fields.get(mapping.match.field.lower())
    if match is None:
        problems.append(
            ConfigProblem(
                file,
                "match.field",
                f"{mapping.sobject}.{mapping.match.field} does not exist in the org",
            )
        )
    elif mapping.match.field.lower() != "id" and not match.get("externalId"):
        problems.append(
            ConfigProblem(
                file,
                "match.field",
                f"{mapping.sobject}.{match['name']} is not an external-ID field; "
                "match on Id or mark the field as External ID",
            )
        )
    for column, spec in mapping.fields.items():
        where = f"fields.{column}"
        name = f"{mapping.sobject}.{spec.field}"
        info = fields.get(spec.field.lower())
        if info is None:
            problems.append(
                ConfigProblem(file, f"{where}.field", f"{name} does not exist in the org")
            )
            continue
        if not info.get("updateable", False):
            problems.append(
                ConfigProblem(
                    file, f"{where}.field", f"{name} is not updateable (check field-level security)"
                )
            )
        org_type = info.get("type", "")
        if org_type not in COMPATIBLE_ORG_TYPES[spec.type]:
            problems.append(
                ConfigProblem(
                    file,
                    f"{where}.type",
                    f"{name} is a {org_type} field; a {spec.type} value cannot be written to it",
                )
            )
            continue
        if org_type in ("picklist", "multipicklist"):
            allowed = {
                v["value"].casefold()
                for v in info.get("picklistValues", [])
                if v.get("active", True)
            }
            missing = [v for v in producible_values(column, spec) if v.casefold() not in allowed]
            if missing:
                problems.append(
                    ConfigProblem(
                        file,
                        f"{where}.field",
                        f"{name} does not allow the value(s) {', '.join(missing)}; "
                        "add them to the picklist",
                    )
                )
        length = info.get("length") or 0
        longest = _max_text_length(column, spec)
        if org_type in TEXT_TYPES and length:
            if spec.length is not None and spec.length > length:
                problems.append(
                    ConfigProblem(
                        file,
                        f"{where}.length",
                        f"length {spec.length} exceeds the field length {length} of {name}",
                    )
                )
            elif longest is not None and longest > length:
                problems.append(
                    ConfigProblem(
                        file,
                        f"{where}.field",
                        f"{name} holds {length} characters; values up to {longest} can occur",
                    )
                )
    return problems


def resolve_against_org(mapping: ObjectMapping, describe: Mapping[str, Any]) -> ObjectMapping:
    """A copy of ``mapping`` with the org's picklist values, types and text lengths filled in."""
    fields = {f["name"].lower(): f for f in describe.get("fields", [])}
    resolved: dict[str, FieldMapping] = {}
    for column, spec in mapping.fields.items():
        info = fields.get(spec.field.lower())
        if info is None:
            resolved[column] = spec
            continue
        update: dict[str, Any] = {"org_type": info.get("type")}
        values = [v["value"] for v in info.get("picklistValues", []) if v.get("active", True)]
        if values:
            update["org_values"] = tuple(values)
        if info.get("type") in TEXT_TYPES and info.get("length") and spec.length is None:
            update["length"] = int(info["length"])
        resolved[column] = spec.model_copy(update=update)
    return mapping.model_copy(update={"fields": resolved})


def require_valid(problems: list[ConfigProblem]) -> None:
    """Raise ConfigError when there is any problem (a mapping error stops the run)."""
    if problems:
        raise ConfigError(problems, hint="fix the mapping file; nothing was written")
