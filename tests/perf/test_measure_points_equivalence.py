"""The per-measure points stored with each snapshot come from the scoring totals directly and
equal what pivoting the long explanation frame gave (issue 14: CPU of recording results)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sfsync_sandbox.sample_data import generate

from sfsync.scoring import load_scorecard, score_accounts
from sfsync.state.snapshots import with_measure_points
from tests.automation.test_sandbox_e2e import TEMPLATES, canonical
from tests.perf import reference
from tests.scoring.test_seed000 import score_rows

AS_OF = date(2025, 3, 15)


def _same(result) -> None:
    expected = reference.with_measure_points(result.scores, result.explanations)
    got = with_measure_points(result.scores, result.measure_points)
    assert expected["measure_points"].notna().all()
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("seed", [3, 7])
def test_measure_points_equal_the_pivoted_explanations(seed):
    sample = generate(accounts=300, seed=seed, as_of=AS_OF)
    accounts, activities, _ = canonical(sample)
    result = score_accounts(
        accounts,
        sample.usage,
        activities,
        as_of=AS_OF,
        scorecard=load_scorecard("mappings/scorecards/default.yaml"),
        templates=TEMPLATES,
    )
    _same(result)
    stored = with_measure_points(result.scores, result.measure_points)["measure_points"]
    assert stored.str.contains("null").any()  # a measure that did not apply is null


def test_seed000_measure_points_equal_the_pivoted_explanations():
    _same(score_rows())


def test_no_measures_leave_the_scores_as_they_are():
    scores = pd.DataFrame({"account_id": ["001A"]})
    empty = pd.DataFrame(index=pd.Index(["001A"], name="account_id"))
    assert with_measure_points(scores, empty) is scores
    assert with_measure_points(scores, None) is scores
