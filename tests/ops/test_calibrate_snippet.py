"""The scorecard snippet: what it holds, that pasting it (merge mappings, replace lists) into
the shipped default scorecard loads with the scorecard loader, and that a snippet that would
not load is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sfsync.errors import ConfigError
from sfsync.ops.calibrate_bins import MeasureBins, ProposedBin
from sfsync.ops.calibrate_candidates import Candidate, CandidateResult
from sfsync.ops.calibrate_snippet import (
    CANDIDATE_CATEGORY,
    apply_snippet,
    build_snippet,
    measure_key,
    snippet_text,
    verify_snippet,
)
from sfsync.scoring import load_scorecard

REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def live(tmp_path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(REPO_MAPPINGS, target)
    return target / "scorecards" / "default.yaml"


def _proposed(name: str, kind: str, points: float, bins=None, auc=0.9, declared=False):
    return CandidateResult(Candidate(name, kind, declared), auc, 100, 10, 1.0, "proposed",
                           points=points, bins=bins)  # fmt: skip


RATE_BINS = [ProposedBin(None, 0.3, 40, 8, 0.0), ProposedBin(0.3, None, 60, 1, 7.0)]
MINUTE_BINS = [ProposedBin(None, 60, 50, 9, 0.0), ProposedBin(60, None, 50, 0, 3.0)]
DELIVERY_BINS = [ProposedBin(None, 2, 30, 6, 0.0), ProposedBin(2, 5, 30, 2, 12.0),
                 ProposedBin(5, None, 40, 0, 25.0)]  # fmt: skip


def _snippet(live: Path, candidates, measure_bins=()):
    return build_snippet(load_scorecard(live), list(candidates), list(measure_bins),
                         label=lambda n: f"L:{n}", category_label="engagement logs",
                         language="en")  # fmt: skip


def test_the_snippet_pasted_into_the_live_scorecard_loads(live, tmp_path):
    snippet = _snippet(
        live,
        [_proposed("email_open_rate_this_month", "number", 7, RATE_BINS),
         _proposed("tutorial_completed", "boolean", 4, auc=0.2),
         _proposed("webinar_minutes", "number", 3, MINUTE_BINS, declared=True)],
        [MeasureBins("usage", "deliveries", "deliveries_this_month", 0.8, DELIVERY_BINS)],
    )  # fmt: skip
    verify_snippet(live, snippet)  # no error
    # the printed text, pasted by hand the same way, loads as a scorecard
    raw = yaml.safe_load(live.read_text(encoding="utf-8"))
    pasted = apply_snippet(raw, yaml.safe_load(snippet_text(snippet)))
    path = live.with_name("pasted.yaml")
    path.write_text(yaml.safe_dump(pasted, allow_unicode=True, sort_keys=False), "utf-8")
    card = load_scorecard(path)
    logs = card.categories[CANDIDATE_CATEGORY]
    assert logs.max_points == 7 + 4 + 3 and logs.labels == {"en": "engagement logs"}
    rate = logs.measures["email_open_rate"]
    assert (
        rate.input == "email_open_rate_this_month" and rate.label == "L:email_open_rate_this_month"
    )
    assert [(b.lower, b.upper, b.points) for b in rate.bins] == [(None, 0.3, 0), (0.3, None, 7)]
    tutorial = logs.measures["tutorial_completed"]  # AUC 0.2: not completing went with renewal
    assert (tutorial.points_true, tutorial.points_false) == (0, 4)
    assert card.inputs["webinar_minutes"].source == "usage"
    deliveries = card.categories["usage"].measures["deliveries"]
    assert [(b.lower, b.upper, b.points) for b in deliveries.bins] == [
        (None, 2, 0), (2, 5, 12), (5, None, 25)]  # fmt: skip
    assert "login_days" in card.categories["usage"].measures  # the rest is kept
    assert deliveries.label == "deliveries"


def test_nothing_to_propose_is_an_empty_snippet(live):
    assert _snippet(live, []) == {}


def test_an_existing_category_of_that_name_grows_by_the_new_points(live, tmp_path):
    raw = yaml.safe_load(live.read_text(encoding="utf-8"))
    raw["categories"][CANDIDATE_CATEGORY] = {"max_points": 5, "measures": {
        "clicks": {"type": "bins", "input": "email_clicks_this_month", "missing": "zero",
                   "bins": [{"lt": 1, "points": 0}, {"ge": 1, "points": 5}]}}}  # fmt: skip
    live.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), "utf-8")
    snippet = _snippet(live, [_proposed("email_open_rate_this_month", "number", 7, RATE_BINS)])
    block = snippet["categories"][CANDIDATE_CATEGORY]
    assert block["max_points"] == 12 and "label" not in block
    verify_snippet(live, snippet)


def test_a_snippet_that_would_not_load_is_refused(live):
    broken = {
        "categories": {
            "usage": {
                "measures": {
                    "deliveries": {"bins": [{"lt": 2, "points": 0}, {"ge": 3, "points": 25}]}
                }
            }
        }
    }  # a gap between 2 and 3
    with pytest.raises(ConfigError, match="gap"):
        verify_snippet(live, broken)


def test_measure_names_do_not_collide():
    assert measure_key("email_opens_this_month", {"deliveries"}) == "email_opens"
    assert measure_key("email_opens_this_month", {"email_opens"}) == "email_opens_this_month"
