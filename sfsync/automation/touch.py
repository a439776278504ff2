"""Touch model, CS priority and tech-touch triggers (seed 000 steps 3 and 4), pure.

- **Touch model** (``touch_model``): the segment's model from the playbook's matrix
  (default S→high, A→mid, B→low, C→tech); an account whose band is in ``step_up_bands``
  (default red) moves one step toward higher touch (tech→low, low→mid, mid→high; high stays
  high). Not orange by default: a C account is C because it hardly logs in, so it is seldom
  better than orange — stepping orange up would leave no account in tech touch. No segment →
  no touch model.
- **CS priority** (``cs_priority``): the account's rank (1 = first) within its owner's book,
  ordered by, in turn:

  1. band, worst first: red, orange, yellow, green, then no band;
  2. the highest severity of its active churn signals: high, medium, low, then none;
  3. ARR, largest first (missing = 0);
  4. renewal proximity: the nearest renewal date on or after the as-of date first; a renewal
     date in the past or missing comes last;
  5. ``account_id`` ascending, so that ties are broken the same way every night.

  Accounts without an owner are ranked among themselves.
- **Tech-touch triggers** (``tech_touch_triggers``): the active engagement signal codes
  (:data:`sfsync.catalogue.ENGAGEMENT_CODES`), alphabetical and ``;``-joined, of the accounts
  whose touch model gets no Task for them (not in ``task_models``; default low and tech). A
  marketing-automation tool or a record-triggered Flow listens to this field instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from sfsync.catalogue import BANDS, ENGAGEMENT_CODES, SEGMENTS, SEVERITIES, TOUCH_MODELS
from sfsync.configfile import StrictModel
from sfsync.frames import isin

TouchModel = Literal["high", "mid", "low", "tech"]
TOUCH_COLUMNS = ("touch_model", "cs_priority", "tech_touch_triggers")


class TouchModelPolicy(StrictModel):
    """The touch-model matrix, which models get engagement Tasks, and the worklist (its size
    and who gets it in the Slack digest, ``sfsync.notify.worklist``)."""

    segments: dict[str, TouchModel] = Field(
        default_factory=lambda: {"S": "high", "A": "mid", "B": "low", "C": "tech"}
    )
    step_up_bands: list[str] = Field(default_factory=lambda: ["red"])
    task_models: list[TouchModel] = Field(default_factory=lambda: ["high", "mid"])
    worklist_size: int = Field(default=10, gt=0)
    # who gets the worklist in the Slack digest: every owner on the first run of a day
    # ("always"), only owners with new signals ("with_signals"), or nobody ("never")
    worklist_in_digest: Literal["always", "with_signals", "never"] = "always"

    @model_validator(mode="after")
    def _known(self) -> TouchModelPolicy:
        missing = [s for s in SEGMENTS if s not in self.segments]
        unknown = [s for s in self.segments if s not in SEGMENTS]
        if missing or unknown:
            raise ValueError(
                "segments must map each of S, A, B and C to a touch model "
                f"(high, mid, low or tech); missing: {', '.join(missing) or '-'}, "
                f"unknown: {', '.join(unknown) or '-'}"
            )
        bad = [b for b in self.step_up_bands if b not in BANDS]
        if bad:
            raise ValueError(
                f"step_up_bands: unknown band(s) {', '.join(bad)}; bands: {', '.join(BANDS)}"
            )
        return self


def touch_models(segment: pd.Series, band: pd.Series, policy: TouchModelPolicy) -> pd.Series:
    """Touch model per account from its segment and health band (rules: module doc)."""
    position = {s: TOUCH_MODELS.index(m) for s, m in policy.segments.items()}
    step = segment.astype("string").map(position).astype("Float64").fillna(-1)
    step = step.to_numpy(dtype=np.int64)
    up = band.astype("string").isin(policy.step_up_bands).fillna(False).to_numpy(dtype=bool)
    step = np.where(up & (step > 0), step - 1, step)
    names = np.array([*TOUCH_MODELS, None], dtype=object)
    return pd.Series(names[np.where(step < 0, len(TOUCH_MODELS), step)], index=segment.index)


def _worst_severity(account_ids: pd.Series, signals: pd.DataFrame) -> np.ndarray:
    """Per account: index of its highest active churn severity in SEVERITIES; len if none."""
    none = len(SEVERITIES)
    if signals is None or signals.empty:
        return np.full(len(account_ids), none)
    churn = signals[signals["kind"] == "churn"]
    rank = churn["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(none)
    worst = rank.groupby(churn["account_id"].to_numpy()).min()
    return worst.reindex(account_ids.to_numpy()).fillna(none).to_numpy(dtype=np.int64)


def cs_priority(frame: pd.DataFrame, signals: pd.DataFrame | None, as_of: date) -> pd.Series:
    """Rank (1 = first) of each account within its owner's book (order: module doc).

    ``frame``: ``account_id``, ``owner_id``, ``health_band``, ``arr``, ``renewal_date``, one row
    per account. ``signals``: the active signals (``account_id``, ``kind``, ``severity``).
    """
    ids = frame["account_id"].astype("string").reset_index(drop=True)
    band_rank = {b: i for i, b in enumerate(reversed(BANDS))}  # red 0 … green 3
    band = frame["health_band"].astype("string").map(band_rank).fillna(len(BANDS))
    renewal = pd.to_datetime(frame["renewal_date"], errors="coerce").reset_index(drop=True)
    days = (renewal - pd.Timestamp(as_of)).dt.days
    upcoming = days.where(days >= 0)
    key = pd.DataFrame(
        {
            "owner": frame["owner_id"].astype("string").fillna("").reset_index(drop=True),
            "band": band.to_numpy(dtype=np.int64),
            "severity": _worst_severity(ids, signals),
            "arr": -pd.to_numeric(frame["arr"], errors="coerce").fillna(0.0).to_numpy(),
            "renewal_missing": upcoming.isna().to_numpy(),
            "renewal_days": upcoming.fillna(0).to_numpy(dtype=np.int64),
            "account_id": ids.fillna(""),
        }
    )
    ordered = key.sort_values(list(key.columns), kind="stable")
    rank = ordered.groupby("owner", sort=False).cumcount() + 1
    return pd.Series(rank.sort_index().to_numpy(dtype=np.int64), index=frame.index)


def _joined_codes(codes: tuple[str, ...]) -> Callable[[int], str]:
    """For a bit set over ``codes`` (bit i: ``codes[i]``), its codes ``;``-joined."""

    def joined(bits: int) -> str:
        return ";".join(code for i, code in enumerate(codes) if bits >> i & 1)

    return joined


def tech_touch_triggers(
    account_ids: pd.Series,
    models: pd.Series,
    signals: pd.DataFrame | None,
    policy: TouchModelPolicy,
) -> pd.Series:
    """Engagement codes (alphabetical, ``;``-joined; missing when none) of accounts whose touch
    model gets no engagement Task.

    Each account's distinct codes are summed as bits (code i of the alphabetical
    :data:`ENGAGEMENT_CODES` is bit i), and each distinct bit set is spelled once."""
    out = pd.Series([None] * len(account_ids), index=account_ids.index, dtype=object)
    if signals is None or signals.empty:
        return out
    untasked = ~models.isin(policy.task_models).to_numpy(dtype=bool) & models.notna().to_numpy()
    chosen = signals[signals["code"].isin(ENGAGEMENT_CODES)].drop_duplicates(["account_id", "code"])
    order = tuple(sorted(ENGAGEMENT_CODES))
    bit = chosen["code"].map({code: 1 << i for i, code in enumerate(order)}).astype(np.int64)
    bits = bit.groupby(chosen["account_id"]).sum()
    distinct = pd.unique(bits.to_numpy())
    spelled = dict(zip(distinct, map(_joined_codes(order), distinct.tolist()), strict=True))
    joined = pd.Series(bits.map(spelled).to_numpy(dtype=object), index=bits.index)
    values = joined.reindex(account_ids.astype(str).to_numpy()).to_numpy(dtype=object)
    out[:] = np.where(untasked & pd.notna(values), values, None)
    return out


def task_signals(
    signals: pd.DataFrame, account_ids: pd.Series, models: pd.Series, policy: TouchModelPolicy
) -> pd.DataFrame:
    """The signals that may create Tasks: every signal, except engagement signals of accounts
    whose touch model is not in ``task_models`` (those become triggers instead)."""
    if signals.empty:
        return signals
    tasked = account_ids[models.isin(policy.task_models).to_numpy(dtype=bool)].astype(str)
    engagement = signals["code"].isin(ENGAGEMENT_CODES)
    keep = ~engagement | isin(signals["account_id"].astype(str), tasked)
    return signals[keep.to_numpy(dtype=bool)].reset_index(drop=True)


@dataclass(frozen=True)
class TouchResult:
    """The touch columns per account (aligned with the scores) and the Task-eligible signals."""

    columns: pd.DataFrame  # account_id, owner_id + TOUCH_COLUMNS
    task_signals: pd.DataFrame


def touch_columns(
    scores: pd.DataFrame,
    signals: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    as_of: date,
    policy: TouchModelPolicy,
) -> TouchResult:
    """Touch model, CS priority and triggers of every scored account.

    ``scores``: ``account_id``, ``segment``, ``health_band``; ``accounts``: the canonical
    accounts frame (``owner_id``, ``arr``, ``renewal_date``; matched by ``account_id``)."""
    ids = scores["account_id"].astype("string").reset_index(drop=True)
    models = touch_models(
        scores["segment"].reset_index(drop=True),
        scores["health_band"].reset_index(drop=True),
        policy,
    )
    acc = accounts.assign(account_id=accounts["account_id"].astype("string"))
    acc = acc.drop_duplicates("account_id").set_index("account_id")
    book = pd.DataFrame(
        {
            "account_id": ids,
            "owner_id": _column(acc, "owner_id", ids),
            "health_band": scores["health_band"].reset_index(drop=True),
            "arr": _column(acc, "arr", ids),
            "renewal_date": _column(acc, "renewal_date", ids),
        }
    )
    columns = pd.DataFrame(
        {
            "account_id": ids,
            "owner_id": book["owner_id"],
            "touch_model": models,
            "cs_priority": cs_priority(book, signals, as_of),
            "tech_touch_triggers": tech_touch_triggers(ids, models, signals, policy),
        }
    )
    return TouchResult(columns, task_signals(signals, ids, models, policy))


def _column(acc: pd.DataFrame, name: str, ids: pd.Series) -> pd.Series:
    if name not in acc.columns:
        return pd.Series([None] * len(ids), dtype=object)
    return acc[name].reindex(ids.to_numpy()).reset_index(drop=True)


def owner_worklists(desired: pd.DataFrame, top: int = 10) -> dict[str, pd.DataFrame]:
    """Each owner's ranked worklist: their ``top`` accounts by ``cs_priority``.

    ``desired``: a frame with ``account_id``, ``owner_id``, ``cs_priority`` (plus whatever the
    caller wants to show, e.g. ``health_band``, ``touch_model``, ``churn_signals``). Returns
    ``{owner_id: rows sorted by cs_priority}``; owners in id order. For the Slack digest."""
    frame = desired[desired["cs_priority"].notna()].sort_values(
        ["owner_id", "cs_priority", "account_id"], kind="stable"
    )
    return {
        str(owner): rows.head(top).reset_index(drop=True)
        for owner, rows in frame.groupby("owner_id", sort=True)
    }
