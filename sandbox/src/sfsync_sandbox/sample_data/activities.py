"""Tasks and Events: touches spread over time, meetings this quarter, open tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sfsync_sandbox.sample_data.common import make_ids, pick

_TASK_SUBJECTS = {
    "Call": ("活用状況ヒアリング（電話）", "配信前フォロー電話", "更新意向確認の電話"),
    "Email": ("活用Tipsメール送付", "新機能のご案内", "配信レポート送付"),
    "Meeting": ("定例MTG", "改善提案MTG", "配信後振り返りMTG"),
}
_EVENT_SUBJECTS = {
    "Meeting": ("キックオフMTG", "定例ミーティング", "配信前チェックMTG"),
    "QBR": ("QBR（四半期ビジネスレビュー）",),
}


def activities(
    rng: np.random.Generator,
    account_ids: np.ndarray,
    owner_of: np.ndarray,
    tier: np.ndarray,
    archetype: np.ndarray,
    contract_start: np.ndarray,
    as_of: np.datetime64,
    churn_date: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tasks (completed touches and open to-dos) and past Events (meetings, QBRs).

    A churned account (``churn_date`` set) was last touched 0–20 days before it churned and
    has no open Task."""
    n = len(account_ids)
    if churn_date is None:
        churn_date = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    gone = ~np.isnat(churn_date)
    # latest completed touch: <30 days, 30-59, >=60, or never
    bucket_p = np.tile([0.62, 0.2, 0.12, 0.06], (n, 1))
    far = np.isin(archetype, ("idle", "low_usage", "declining"))
    bucket_p[far] = [0.25, 0.3, 0.3, 0.15]
    bucket = (rng.random(n)[:, None] > bucket_p.cumsum(axis=1)).sum(axis=1).clip(0, 3)
    latest = np.select(
        [bucket == 0, bucket == 1, bucket == 2],
        [rng.integers(1, 30, n), rng.integers(30, 60, n), rng.integers(60, 200, n)],
        -1,
    )
    age = (as_of - np.where(np.isnat(contract_start), as_of - 2000, contract_start)).astype(
        np.int64
    )
    churn_ago = np.where(gone, (as_of - churn_date).astype(np.int64), 0)
    latest = np.where(gone & (latest >= 0), churn_ago + rng.integers(0, 21, n), latest)
    latest = np.where((latest > age) & (latest >= 0), np.maximum(age, 0), latest)
    touched = latest >= 0

    per_tier = {"S": 8, "A": 5, "B": 2}
    lam = pd.Series(tier).map(per_tier).to_numpy(dtype=float)
    extra = np.where(touched, rng.poisson(lam), 0)
    count = touched.astype(np.int64) + extra
    acc = np.repeat(np.arange(n), count)
    first = np.zeros(len(acc), dtype=bool)
    first[np.cumsum(count)[touched] - count[touched]] = True
    span = np.maximum(np.minimum(age[acc], 365) - latest[acc], 1)
    days_ago = np.where(first, latest[acc], latest[acc] + rng.integers(0, 1 << 30, len(acc)) % span)
    is_event = rng.random(len(acc)) < np.where(np.isin(tier[acc], ("S", "A")), 0.45, 0.2)
    # meetings in the last quarter: S/A most, B rarely
    meet_p = pd.Series(tier).map({"S": 0.85, "A": 0.6, "B": 0.2}).to_numpy(dtype=float)
    meeting_acc = touched & (rng.random(n) < meet_p) & (latest < 80)

    dates = as_of - days_ago
    ev_type = np.where(rng.random(len(acc)) < 0.3, "QBR", "Meeting")
    task_type = pick(rng, ("Call", "Email", "Call", "Email", "Meeting"), len(acc))
    # ensure the chosen accounts have an Event meeting in the quarter
    q_idx = np.cumsum(count)[meeting_acc] - count[meeting_acc]
    is_event[q_idx] = True
    ev_type[q_idx] = np.where(tier[acc[q_idx]] == "S", "QBR", "Meeting")
    # other events must not add an unintended recent meeting
    recent = (days_ago < 90) & is_event & ~np.isin(np.arange(len(acc)), q_idx)
    is_event[recent] = False

    ev = np.nonzero(is_event)[0]
    tk = np.nonzero(~is_event)[0]
    events = pd.DataFrame(
        {
            "WhatId": account_ids[acc[ev]],
            "OwnerId": owner_of[acc[ev]],
            "Subject": _subjects(rng, ev_type[ev], _EVENT_SUBJECTS),
            "ActivityDate": dates[ev],
            "Type": ev_type[ev],
        }
    )
    # open tasks due in the future (not touches yet)
    open_acc = np.nonzero((rng.random(n) < 0.3) & ~gone)[0]
    open_type = pick(rng, ("Call", "Email", "Meeting"), len(open_acc))
    tasks = pd.DataFrame(
        {
            "WhatId": np.concatenate([account_ids[acc[tk]], account_ids[open_acc]]),
            "OwnerId": np.concatenate([owner_of[acc[tk]], owner_of[open_acc]]),
            "Subject": np.concatenate(
                [
                    _subjects(rng, task_type[tk], _TASK_SUBJECTS),
                    _subjects(rng, open_type, _TASK_SUBJECTS),
                ]
            ),
            "Status": ["Completed"] * len(tk) + ["Not Started"] * len(open_acc),
            "ActivityDate": np.concatenate([dates[tk], as_of + rng.integers(1, 30, len(open_acc))]),
            "Type": np.concatenate([task_type[tk], open_type]),
            "Priority": np.where(rng.random(len(tk) + len(open_acc)) < 0.15, "High", "Normal"),
        }
    )
    tasks.insert(0, "Id", make_ids("Task", len(tasks)))
    events.insert(0, "Id", make_ids("Event", len(events)))
    for frame in (tasks, events):
        frame["ActivityDate"] = pd.to_datetime(frame["ActivityDate"])
    return tasks, events


def _subjects(
    rng: np.random.Generator, types: np.ndarray, options: dict[str, tuple[str, ...]]
) -> np.ndarray:
    out = np.empty(len(types), dtype=object)
    for key, subjects in options.items():
        m = types == key
        out[m] = pick(rng, subjects, m.sum())
    return out
