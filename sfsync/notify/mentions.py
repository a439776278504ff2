"""Mention placeholders: a queued message mentions its owner however late it goes out. Pure.

When a message is built, an owner with an email becomes a placeholder ``<sfsync-mention:N>``
in its text and blocks, and ``{"email", "name", "user_id"}`` is stored with the outbox row
(``mentions``). When the message is delivered the placeholder is replaced by ``<@U…>`` (the
Slack user looked up by email then, or the id already known), or by the escaped name when
Slack has no user with that email. Values put into messages are mrkdwn-escaped (``<`` becomes
``&lt;``), so a placeholder can only come from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_PLACEHOLDER = re.compile(r"<sfsync-mention:(\d+)>")


def placeholder(index: int) -> str:
    """The placeholder of the ``index``-th entry of a message's mentions."""
    return f"<sfsync-mention:{index}>"


def mention_spec(email: Any, name: Any, user_id: Any = None) -> dict[str, str | None]:
    """The stored data of one mention."""

    def clean(value: Any) -> str | None:
        if value is None or (not isinstance(value, str) and value != value):
            return None
        return str(value) or None

    return {"email": clean(email), "name": clean(name), "user_id": clean(user_id)}


def render_mention(spec: Mapping[str, Any], user_id: str | None, escape: Callable) -> str:
    """``<@U…>`` when the Slack user is known, else the escaped name (``-`` without one)."""
    uid = user_id or spec.get("user_id")
    if uid:
        return f"<@{uid}>"
    return escape(spec.get("name") or "-")


def fill_text(text: str, values: Sequence[str]) -> str:
    """Replace every placeholder in ``text`` by its value (an unknown index by ``-``)."""

    def sub(match: re.Match) -> str:
        index = int(match.group(1))
        return values[index] if index < len(values) else "-"

    return _PLACEHOLDER.sub(sub, text)


def fill(value: Any, values: Sequence[str]) -> Any:
    """``fill_text`` over every string inside ``value`` (text, or Block Kit blocks)."""
    if isinstance(value, str):
        return fill_text(value, values)
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    return value


def has_placeholders(text: str) -> bool:
    """Whether ``text`` still holds a placeholder."""
    return bool(_PLACEHOLDER.search(text))
