"""Close follow-up Tasks whose reason went away (SPEC §10), the way cleared signal Tasks are
closed (:func:`sfsync.salesforce.diff.signal_task_hygiene`). Pure.

An open follow-up Task (key ``qbr:…``, ``onboarding_…``, ``renewal_reminder:…``) that this run
does not want, of an account in scope, created by sfsync and edited by nobody else, is closed
when its reason went away: the reasons the compute stage names (``closable``: QBR held,
onboarding step no longer needed, see ``sfsync.automation.closures``) and ``renewal_passed``
read from the key (its renewal date lies before the as-of date). The close sets Status
Completed and appends the reason (template ``tasks.followup_closed.<reason>``) and
:data:`sfsync.plan.AUTO_CLOSED_MARKER` to the description, so it never counts as a touch.
A Task the CSM completed, deleted or edited is never touched.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

import pandas as pd

from sfsync.frames import iter_records
from sfsync.plan import AUTO_CLOSED_MARKER, TASK_KEY_FIELD, TaskChange
from sfsync.salesforce.diff import _edited_by_someone_else, _flag, _is_closed
from sfsync.salesforce.normalise import is_null
from sfsync.salesforce.tasks import CLOSED_STATUS, TEMPLATE_SECTION
from sfsync.templates import TemplateSet

FOLLOWUP_PREFIXES = ("qbr:", "onboarding_", "renewal_reminder:")
RENEWAL_PREFIX = "renewal_reminder:"
CLOSED_TEMPLATE_PREFIX = "followup_closed."


def key_reason(key: str, as_of: date) -> str | None:
    """The reason readable from the key alone: ``renewal_passed`` for a renewal reminder whose
    renewal date (the key's period) lies before ``as_of``."""
    if not key.startswith(RENEWAL_PREFIX):
        return None
    try:
        renewal = date.fromisoformat(key.rsplit(":", 1)[-1])
    except ValueError:
        return None
    return "renewal_passed" if renewal < as_of else None


def closed_description(
    previous: Any, reason: str, templates: TemplateSet | None, *, as_of: date
) -> str:
    """The Task's text, the reason's text (template ``tasks.followup_closed.<reason>``) and
    :data:`AUTO_CLOSED_MARKER` on the last line."""
    text = ""
    key = CLOSED_TEMPLATE_PREFIX + reason
    if templates is not None and templates.has(TEMPLATE_SECTION, key):
        text = templates.render(TEMPLATE_SECTION, key, {"as_of": as_of.isoformat()})["description"]
    previous_text = "" if is_null(previous) else str(previous).rstrip()
    parts = [p for p in (previous_text, text.strip()) if p]
    return "\n\n".join(parts) + "\n" + AUTO_CLOSED_MARKER


def account_of(key: str) -> str | None:
    """The account Id of a follow-up key ``<rule>:<account>:<period>``."""
    parts = key.split(":")
    return parts[1] if len(parts) == 3 and parts[1] else None


def followup_closes(
    open_tasks: pd.DataFrame | None,
    *,
    closable: Mapping[str, str],
    desired_keys: Collection[str],
    scope_accounts: Collection[str],
    as_of: date,
    templates: TemplateSet | None,
    integration_user_id: str | None = None,
) -> list[TaskChange]:
    """The ``update`` changes closing the open follow-up Tasks whose reason went away."""
    if open_tasks is None or open_tasks.empty:
        return []
    wanted = {str(k) for k in desired_keys}
    scope = {str(a) for a in scope_accounts}
    out: list[TaskChange] = []
    for task in iter_records(open_tasks):
        key = str(task.get(TASK_KEY_FIELD) or "")
        if not key.startswith(FOLLOWUP_PREFIXES) or key in wanted:
            continue
        if _is_closed(task) or _flag(task.get("IsDeleted")):
            continue
        account = account_of(key)
        if account is None or account not in scope:
            continue
        reason = closable.get(key) or key_reason(key, as_of)
        if reason is None or _edited_by_someone_else(task, integration_user_id):
            continue
        fields = {
            "Status": CLOSED_STATUS,
            "Description": closed_description(
                task.get("Description"), reason, templates, as_of=as_of
            ),
            TASK_KEY_FIELD: key,
        }
        task_id = None if is_null(task.get("Id")) else str(task["Id"])
        out.append(TaskChange(key, "update", reason, account, task_id, fields))
    return out
