"""Scorecards chosen per segment within one job (pure, no I/O).

ChurnZero and Totango let a team score enterprise and self-serve customers differently; a job
does the same with ``compute.scorecards`` (``{S: seed000, A: seed000, default: default}``):

1. every account is scored with the *default* scorecard; that pass decides its segment (the
   default scorecard's rules, SPEC §10: ARR, enterprise flag, login days);
2. the accounts of each segment mapped to another scorecard are scored again with it, and
   their rows replace the default pass's rows — score, band, points, phase, signals and the
   explanation all come from the scorecard that scored the account, while ``segment`` stays
   the one that chose it (so a scorecard whose rules draw segments differently cannot move an
   account to another segment after the fact);
3. the ``scorecard`` column names the scorecard of each account.

Category points columns are the union of the scorecards' categories; an account has values
only in its own scorecard's columns. With no segment mapped to another scorecard the result is
exactly :func:`~sfsync.scoring.result.score_accounts`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from sfsync.scoring.result import SIGNAL_COLUMNS, ScoreResult, score_accounts
from sfsync.scoring.scorecard import Scorecard
from sfsync.templates import TemplateSet

SCORECARD_COLUMN = "scorecard"


@dataclass
class SegmentedScoreResult(ScoreResult):
    """A :class:`ScoreResult` whose accounts were scored by different scorecards.

    ``scorecard`` is the default scorecard; ``cards`` every scorecard used, by name
    (:meth:`card_of` gives an account's); ``parts`` the per-scorecard results the frames were
    assembled from (for ``explanations``).
    """

    cards: dict[str, Scorecard] = field(default_factory=dict)
    parts: list[tuple[ScoreResult, np.ndarray]] = field(default_factory=list, repr=False)

    @cached_property
    def explanations(self) -> pd.DataFrame:
        frames = []
        for part, ids in self.parts:
            frame = part.explanations
            frames.append(frame[pd.Index(ids).get_indexer(frame["account_id"].astype(object)) >= 0])
        out = pd.concat(frames, ignore_index=True)
        order = _positions(self.scores["account_id"], out["account_id"])
        return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)

    def card_of(self, account_id: str) -> Scorecard:
        """The scorecard that scored ``account_id``."""
        rows = self.scores.loc[self.scores["account_id"] == account_id, SCORECARD_COLUMN]
        return self.cards[str(rows.iloc[0])] if len(rows) else self.scorecard


def _positions(reference: pd.Series, ids: pd.Series) -> np.ndarray:
    """The position of each of ``ids`` in ``reference`` (account order of the result)."""
    index = pd.Index(reference.astype(str))
    return index.get_indexer(ids.astype(str))


def score_by_segment(
    accounts: pd.DataFrame,
    usage: pd.DataFrame,
    activities: pd.DataFrame,
    *,
    as_of: date,
    scorecard: Scorecard,
    by_segment: Mapping[str, Scorecard],
    benchmarks: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    trend_baseline: pd.DataFrame | None | Literal["previous"] = "previous",
    templates: TemplateSet | None = None,
    language: str | None = None,
) -> ScoreResult:
    """Score each account with the scorecard of its segment (``by_segment``: segment code →
    scorecard; segments not listed use ``scorecard``, the default, which also decides the
    segments). Without any segment mapped to another scorecard this is
    :func:`score_accounts` with ``scorecard``; otherwise a :class:`SegmentedScoreResult`
    whose ``scores`` carry a ``scorecard`` column. Pure: no clock, no I/O."""
    common = {
        "as_of": as_of,
        "benchmarks": benchmarks,
        "previous": previous,
        "trend_baseline": trend_baseline,
        "templates": templates,
        "language": language,
    }
    base = score_accounts(accounts, usage, activities, scorecard=scorecard, **common)
    others = {seg: card for seg, card in by_segment.items() if card is not scorecard}
    if not others:
        return base
    key = pd.Index(base.scores["account_id"].astype(object))
    if not key.is_unique:
        raise ValueError("scorecards per segment need unique account ids")
    chosen = np.full(len(key), scorecard.name, dtype=object)
    cards = {scorecard.name: scorecard}
    for seg, card in others.items():
        if cards.setdefault(card.name, card) is not card:
            raise ValueError(f"two different scorecards are named {card.name!r}")
        chosen[base.scores["segment"].eq(seg).fillna(False).to_numpy(dtype=bool)] = card.name

    def scored_by(ids: pd.Series, name: str) -> np.ndarray:
        """Which of ``ids`` (account ids) ``name`` scores (hash lookups, no pairwise compare)."""
        positions = key.get_indexer(ids.astype(object))
        return (positions >= 0) & (chosen[positions] == name)

    parts: list[tuple[ScoreResult, np.ndarray]] = []
    score_frames, signal_frames = [], []
    for name, card in cards.items():
        if name == scorecard.name:
            part = base
        elif not (chosen == name).any():
            continue
        else:
            subset = accounts[scored_by(accounts["account_id"], name)]
            part = score_accounts(subset, usage, activities, scorecard=card, **common)
        frame = part.scores[scored_by(part.scores["account_id"], name)].copy()
        frame[SCORECARD_COLUMN] = name
        score_frames.append(frame)
        signals = part.signals
        signal_frames.append(signals[scored_by(signals["account_id"], name)])
        parts.append((part, key[chosen == name].to_numpy()))

    scores = _assemble_scores(score_frames, base, cards)
    signals = pd.concat(signal_frames, ignore_index=True)[SIGNAL_COLUMNS]
    order = _positions(base.scores["account_id"], signals["account_id"])
    signals = signals.iloc[np.lexsort((signals["code"].astype(str).to_numpy(), order))]
    return SegmentedScoreResult(
        scores=scores,
        signals=signals.reset_index(drop=True),
        scorecard=scorecard,
        as_of=base.as_of,
        scoring_month=base.scoring_month,
        _totals=base._totals,
        _account_ids=base._account_ids,
        wording=base.wording,
        cards=cards,
        parts=parts,
    )


def _assemble_scores(
    frames: list[pd.DataFrame], base: ScoreResult, cards: dict[str, Scorecard]
) -> pd.DataFrame:
    """The rows of each part in the default pass's account order, the default pass's segment,
    the union of the category points columns (after ``health_band``) and ``scorecard``."""
    # categorical text columns (the explanation) stay categorical: concat would spell out
    # every row's text, union_categoricals only joins the distinct values
    categorical = [
        c
        for c in frames[0].columns
        if all(c in f and isinstance(f[c].dtype, pd.CategoricalDtype) for f in frames)
    ]
    scores = pd.concat([f.drop(columns=categorical) for f in frames], ignore_index=True)
    for column in categorical:
        joined = union_categoricals([f[column] for f in frames], ignore_order=True)
        scores[column] = pd.Series(joined, index=scores.index, copy=False)
    order = _positions(base.scores["account_id"], scores["account_id"])
    scores = scores.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    scores["segment"] = base.scores["segment"].array  # the default pass's, dtype kept
    points = list(dict.fromkeys(f"{c}_points" for card in cards.values() for c in card.categories))
    head = ["account_id", "health_score", "health_band", *points, SCORECARD_COLUMN]
    rest = [c for c in base.scores.columns if c not in head]
    rest += [c for c in scores.columns if c not in head and c not in rest]
    return scores[head + rest]


__all__ = ["SCORECARD_COLUMN", "SegmentedScoreResult", "score_by_segment"]
