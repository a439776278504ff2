"""Urgent meeting for S-segment or red-band risks (seed 001 §5.2 緊急対応MTG). Pure.

A churn signal of ``alerts.urgent_meeting.severities`` (high by default) that is new this run
(not among the account's signals in the previous stored snapshot; every signal is new without
one) on an account whose segment is in ``alerts.escalate_segments`` or whose band is in
``alerts.escalate_bands`` gives the owner's manager (``User.ManagerId``; else the configured
``escalation.fallback_manager`` of ``mappings/tasks.yaml``) one Task per account and scoring
month, key ``urgent:<account_id>:<scoring month>``, due ``due_business_days`` business days
after the as-of date (the next business day by default: 24 hours on a weekday, never before
the as-of date), subject and description from the templates ``tasks.urgent_meeting``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sfsync.automation.playbook import Playbook
from sfsync.calendar import month_text, scoring_month
from sfsync.frames import isin
from sfsync.labels import Labels
from sfsync.salesforce.escalation import People, business_days_after
from sfsync.salesforce.task_texts import fit_texts, render_columns, text_values
from sfsync.salesforce.tasks import (
    SUBJECT_LENGTH,
    TASK_FRAME_COLUMNS,
    TEMPLATE_SECTION,
)
from sfsync.templates import TemplateSet

URGENT_KEY_PREFIX = "urgent:"
URGENT_RULE = "urgent_meeting"


def urgent_key(account_id: str, as_of: date) -> str:
    """``urgent:<account_id>:<scoring month YYYY-MM>``."""
    return f"{URGENT_KEY_PREFIX}{account_id}:{month_text(scoring_month(as_of))}"


def _account_keys(values: pd.Series) -> np.ndarray:
    """Account ids as ``str()`` spells them, for matching (a missing one too: ``None``,
    ``nan``, ``<NA>``)."""
    keys = values.astype("string").to_numpy(dtype=object, na_value=None)
    missing = values.isna().to_numpy(dtype=bool)
    if missing.any():
        keys[missing] = [str(v) for v in values[missing]]
    return keys


def _codes_before(previous: pd.DataFrame) -> pd.MultiIndex:
    """(account, code) of every code in ``previous``'s ``signals`` (``;``-joined, each code
    stripped, empty ones left out; an account listed twice: its last row)."""
    before = pd.DataFrame(
        {
            "account": _account_keys(previous["account_id"]),
            "codes": previous["signals"].astype("string").fillna("").to_numpy(dtype=object),
        }
    ).drop_duplicates("account", keep="last")
    lists = pc.split_pattern(pa.array(before["codes"].to_numpy(), pa.large_string()), ";")
    pieces, distinct = pd.factorize(np.asarray(pc.list_flatten(lists), dtype=object))
    stripped = np.array([p.strip() for p in distinct], dtype=object)  # each distinct piece once
    codes = stripped[pieces] if len(pieces) else np.array([], dtype=object)
    owners = before["account"].to_numpy()[np.asarray(pc.list_parent_indices(lists), dtype=np.int64)]
    named = codes != ""
    return pd.MultiIndex.from_arrays([owners[named], codes[named]])


def new_signals(signals: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of ``signals`` whose code was not among the account's ``signals`` (``;``-joined)
    in ``previous`` (all of them without a previous snapshot; an account listed twice: its
    last row)."""
    if previous is None or previous.empty or "signals" not in previous:
        return signals
    asked = pd.MultiIndex.from_arrays(
        [
            _account_keys(signals["account_id"]),
            signals["code"].to_numpy(dtype=object),
        ]
    )
    return signals[~asked.isin(_codes_before(previous))]


def build_urgent_tasks(
    signals: pd.DataFrame | None,
    scores: pd.DataFrame,
    accounts: pd.DataFrame,
    users: pd.DataFrame | None,
    *,
    as_of: date,
    playbook: Playbook,
    templates: TemplateSet,
    previous: pd.DataFrame | None = None,
    fallback_manager: str | None = None,
    status: str = "Not Started",
) -> pd.DataFrame:
    """The desired urgent-meeting Tasks (desired-Task frame; ``rule`` = ``urgent_meeting``)."""
    empty = pd.DataFrame({c: pd.Series(dtype="object") for c in TASK_FRAME_COLUMNS})
    policy, alerts = playbook.alerts.urgent_meeting, playbook.alerts
    if not policy.enabled or signals is None or signals.empty:
        return empty
    chosen = signals[(signals["kind"] == "churn") & signals["severity"].isin(policy.severities)]
    chosen = new_signals(chosen, previous)
    if chosen.empty:
        return empty
    info = scores.set_index("account_id")
    acc = accounts.drop_duplicates("account_id").set_index("account_id")
    ids = chosen.groupby("account_id", sort=True).size().index  # accounts with a new signal
    segment = text_values(info["segment"].reindex(ids))
    band = text_values(info["health_band"].reindex(ids))
    by_segment = isin(pd.Series(segment), alerts.escalate_segments).to_numpy(dtype=bool)
    by_band = isin(pd.Series(band), alerts.escalate_bands).to_numpy(dtype=bool)
    asked = (by_segment & (segment != "")) | (by_band & (band != ""))
    if not asked.any():
        return empty
    ids, segment, band = ids[asked], segment[asked], band[asked]
    by_segment, by_band = by_segment[asked] & (segment != ""), by_band[asked] & (band != "")
    owner = text_values(acc["owner_id"].reindex(ids))
    name = text_values(acc["name"].reindex(ids)) if "name" in acc else np.full(len(ids), "")
    score = (
        text_values(info["health_score"].reindex(ids))
        if "health_score" in info
        else np.full(len(ids), "")
    )
    codes: dict[object, list[str]] = {}
    picked = chosen[isin(chosen["account_id"], ids).to_numpy(dtype=bool)]
    for account_id, code in zip(picked["account_id"], picked["code"], strict=True):
        codes.setdefault(account_id, []).append(code)
    people = People(users)
    labels = Labels(templates)
    due = business_days_after(as_of, policy.due_business_days)
    # the accounts whose owner has a manager (or the fallback): one Task each, rendered by column
    managers = np.array([people.manager(o, fallback_manager) for o in owner], dtype=object)
    kept = np.flatnonzero(managers != None)  # noqa: E711
    if not len(kept):
        return empty
    ids, owner, name, score = ids[kept], owner[kept], name[kept], score[kept]
    segment, band, managers = segment[kept], band[kept], managers[kept]
    by_segment, by_band = by_segment[kept], by_band[kept]
    segment_reason = templates.render(TEMPLATE_SECTION, "urgent_reason_segment", {})["text"]
    band_labels = {b: labels.band_label(b) for b in set(band.tolist()) if b}
    band_reasons = {
        b: templates.render(TEMPLATE_SECTION, "urgent_reason_band", {"health_band": label})["text"]
        for b, label in band_labels.items()
    }
    reasons = [
        " / ".join([segment_reason] * bool(s) + [band_reasons[b]] * bool(bb))
        for s, bb, b in zip(by_segment.tolist(), by_band.tolist(), band.tolist(), strict=True)
    ]
    signal_texts: dict[tuple[str, ...], str] = {}
    signal_labels = []
    for account_id in ids:
        combination = tuple(sorted(codes[account_id]))
        if combination not in signal_texts:
            signal_texts[combination] = labels.signals_text(list(combination))
        signal_labels.append(signal_texts[combination])
    values = {
        "account_name": [n or str(a) for n, a in zip(name.tolist(), ids, strict=True)],
        "signal_labels": signal_labels,
        "reasons": reasons,
        "owner_name": [people.name(o) or o for o in owner.tolist()],
        "health_score": score,
        "health_band": [band_labels.get(b, "") for b in band.tolist()],
        "segment": segment,
        "due_date": due.isoformat(),
    }
    text = render_columns(templates, TEMPLATE_SECTION, "urgent_meeting", values, len(ids))
    blank = np.full(len(ids), "", dtype=object)
    keys = [str(a) for a in ids]
    rows = {
        "sync_key": [urgent_key(a, as_of) for a in keys],
        "account_id": keys,
        "owner_id": managers,
        "subject": fit_texts(text["subject"], SUBJECT_LENGTH),
        "description": text.get("description", blank),
        "activity_date": [due] * len(ids),
        "priority": policy.priority,
        "status": status,
        "rule": URGENT_RULE,
        "signal_code": None,
    }
    return pd.DataFrame(rows, columns=TASK_FRAME_COLUMNS)
