"""Saved questions and Metabase-style native SQL template tags, compiled to SQLite parameters.

Supported: ``{{tag}}`` (bound as a parameter, never spliced into the SQL), optional clauses
``[[ ... ]]`` (dropped when a tag inside has no value), tag types ``text``, ``number``, ``date``,
``required`` and ``default``. Parameters arrive as the Metabase API sends them:
``[{"type": "category", "target": ["variable", ["template-tag", "name"]], "value": "2025-02"}]``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sfsync.configfile import StrictModel, load_model

_TAG = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)


class TemplateTag(StrictModel):
    """One template tag of a native question."""

    display_name: str | None = None
    type: Literal["text", "number", "date"] = "text"
    required: bool = False
    default: Any = None


class Card(StrictModel):
    """One saved question: native SQL with template tags."""

    id: int = Field(gt=0)
    name: str
    description: str | None = None
    template_tags: dict[str, TemplateTag] = {}
    sql: str


class CardsFile(StrictModel):
    """``metabase_cards.yaml``."""

    cards: list[Card]


def load_cards(path: Path) -> dict[int, Card]:
    """Read the cards file; a malformed file raises ConfigError naming the file and key."""
    cards = load_model(path, CardsFile).cards
    by_id: dict[int, Card] = {}
    for card in cards:
        if card.id in by_id:
            raise ValueError(f"{path}: card id {card.id} is defined twice")
        by_id[card.id] = card
    return by_id


class QueryError(Exception):
    """A query that Metabase would answer with ``status: failed``."""

    def __init__(self, message: str, error_type: str = "invalid-query") -> None:
        super().__init__(message)
        self.error_type = error_type


def card_parameters(card: Card, parameters: list[dict]) -> list[dict]:
    """Check request parameters against the card's template tags, as Metabase does.

    A parameter is matched by its ``target`` tag or by the card parameter ``id`` of
    ``GET /api/card/:id``; one naming no tag of the card raises :class:`InvalidParameterError`.
    """
    by_id = {f"tag-{card.id}-{name}": name for name in card.template_tags}
    resolved = []
    for param in parameters:
        if not isinstance(param, dict):
            raise QueryError(f"Invalid parameter: {param!r}", "invalid-parameter")
        name = _target_tag(param.get("target")) or by_id.get(str(param.get("id")))
        name = name or param.get("name") or param.get("slug")
        if name not in card.template_tags:
            raise InvalidParameterError(card, param, name)
        resolved.append({**param, "target": ["variable", ["template-tag", name]]})
    return resolved


class InvalidParameterError(QueryError):
    """A parameter that names no template tag of the card (Metabase answers 400)."""

    def __init__(self, card: Card, param: dict, name: Any) -> None:
        super().__init__(
            f"Invalid parameter: Card {card.id} does not have a template tag named "
            f"{json.dumps(name)}.",
            "invalid-parameter",
        )
        self.param = param
        self.allowed = sorted(card.template_tags)


def tag_values(parameters: list[dict] | None, tags: dict[str, TemplateTag]) -> dict[str, Any]:
    """Map template-tag name -> value from API ``parameters`` (ids or targets), with defaults."""
    values: dict[str, Any] = {}
    for param in parameters or []:
        if not isinstance(param, dict):
            raise QueryError(f"Invalid parameter: {param!r}", "invalid-parameter")
        name = _target_tag(param.get("target")) or param.get("id") or param.get("slug")
        if name is None:
            raise QueryError(f"Parameter without target: {param!r}", "invalid-parameter")
        value = param.get("value")
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is not None and value != []:
            values[str(name)] = value
    for name, tag in tags.items():
        if name not in values and tag.default is not None:
            values[name] = tag.default
    return values


def _target_tag(target: Any) -> str | None:
    # ["variable", ["template-tag", "x"]] or ["dimension", ["template-tag", "x"]]
    if (
        isinstance(target, list)
        and len(target) == 2
        and isinstance(target[1], list)
        and len(target[1]) == 2
        and target[1][0] == "template-tag"
    ):
        return str(target[1][1])
    return None


def compile_sql(
    sql: str, tags: dict[str, TemplateTag], values: dict[str, Any]
) -> tuple[str, list[Any]]:
    """Expand optional clauses and tags into SQLite SQL with ``?`` placeholders and binds."""

    def keep_optional(match: re.Match[str]) -> str:
        inner = match.group(1)
        return inner if all(name in values for name in _TAG.findall(inner)) else ""

    expanded = _OPTIONAL.sub(keep_optional, sql)
    binds: list[Any] = []

    def bind(match: re.Match[str]) -> str:
        name = match.group(1)
        tag = tags.get(name, TemplateTag())
        if name not in values:
            label = tag.display_name or name
            raise QueryError(
                f"You'll need to pick a value for '{label}' before this query can run.",
                "missing-required-parameter",
            )
        raw = values[name]
        items = raw if isinstance(raw, list) else [raw]
        binds.extend(_convert(name, tag, item) for item in items)
        return ", ".join("?" * len(items))

    return _TAG.sub(bind, expanded), binds


def _convert(name: str, tag: TemplateTag, value: Any) -> Any:
    if tag.type == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise QueryError(
                f"Invalid value for number parameter {name!r}: {value!r}", "invalid-parameter"
            ) from None
        return int(number) if number.is_integer() else number
    return str(value)


def tags_from_dataset(raw: dict | None) -> dict[str, TemplateTag]:
    """Template tags of an ad-hoc native query (``native.template-tags`` of /api/dataset)."""
    tags: dict[str, TemplateTag] = {}
    for name, spec in (raw or {}).items():
        spec = spec or {}
        kind = spec.get("type", "text")
        tags[name] = TemplateTag(
            display_name=spec.get("display-name") or spec.get("display_name"),
            type=kind if kind in ("text", "number", "date") else "text",
            required=bool(spec.get("required", False)),
            default=spec.get("default"),
        )
    return tags
