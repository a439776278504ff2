"""Health scores, bands, segments, lifecycle phases and signals (pure, vectorised).

>>> from sfsync.scoring import load_scorecard, score_accounts
>>> card = load_scorecard("mappings/scorecards/default.yaml")
>>> result = score_accounts(accounts, usage, activities, as_of=date(2025, 3, 15),
...                         scorecard=card, benchmarks=None, previous=None)  # doctest: +SKIP
"""

from sfsync.scoring.result import ScoreResult, benchmark_table, score_accounts
from sfsync.scoring.rules import Rules
from sfsync.scoring.scorecard import Scorecard, load_rules, load_scorecard, scorecard_from_dict

__all__ = [
    "Rules",
    "ScoreResult",
    "Scorecard",
    "benchmark_table",
    "load_rules",
    "load_scorecard",
    "score_accounts",
    "scorecard_from_dict",
]
