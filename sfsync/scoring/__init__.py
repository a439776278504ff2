"""Health scores, bands, segments, lifecycle phases and signals (pure, vectorised).

>>> from sfsync.scoring import load_scorecard, score_accounts
>>> from sfsync.templates import load_templates
>>> card = load_scorecard("mappings/scorecards/default.yaml")
>>> templates = load_templates("mappings/templates", "ja")
>>> result = score_accounts(accounts, usage, activities, as_of=date(2025, 3, 15),
...                         scorecard=card, benchmarks=None, previous=None,
...                         templates=templates)  # doctest: +SKIP

Nothing here reads a file, the clock or the state store: the caller loads the scorecard and
templates (``sfsync.project.load_bundle`` for a job) and passes the previous scores in.
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
