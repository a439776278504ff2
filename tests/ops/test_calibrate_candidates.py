"""Candidate inputs on a small frame whose verdicts follow from the rule by hand: 40 accounts,
the first 10 churned; one measure whose points are noise."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sfsync.ops.calibrate_candidates import Candidate, candidate_inputs, evaluate_candidates
from sfsync.ops.calibrate_stats import MeasureSeparation

N, LOST = 40, 10
CHURNED = pd.Series([i < LOST for i in range(N)])
# the measure: 0 and 25 points alternating, in both groups alike (AUC 0.5, no evidence)
POINTS = pd.DataFrame({"deliveries": [0.0, 25.0] * (N // 2)})
MEASURES = [MeasureSeparation("deliveries", 0.5, N, 12.5, 12.5, 100.0, 100.0)]


def _number(name: str) -> Candidate:
    return Candidate(name, "number")


def test_verdicts_follow_the_rule():
    rate = np.arange(N) / 100  # churned 0.00-0.09, renewed 0.10-0.39: separates perfectly
    opens = 3 * rate + 1  # the same order: counts the same thing again
    opens[-1] = np.nan
    tickets = -rate  # the same order reversed: low values renew
    tickets[-2] = np.nan
    docs = np.where(np.arange(N) < 6, np.nan, rate)  # only 4 churned accounts have a value
    values = pd.DataFrame({
        "email_open_rate_this_month": rate, "email_opens_this_month": opens,
        "support_tickets_this_month": tickets, "video_views_this_month": 5.0,
        "document_views_this_month": docs, "email_delivered_this_month": np.nan,
    })  # fmt: skip
    names = list(values.columns)
    results = evaluate_candidates([_number(n) for n in names], values, CHURNED, POINTS, MEASURES)
    by = {r.input: r for r in results}
    # best separation first; equal separation: more accounts first, then by name
    assert [r.input for r in results[:3]] == names[:3]
    assert by["email_open_rate_this_month"].verdict == "proposed"
    assert by["email_open_rate_this_month"].auc == 1.0
    opens_r = by["email_opens_this_month"]
    assert (opens_r.verdict, opens_r.like, opens_r.like_measure) == (
        "redundant", "email_open_rate_this_month", False)  # fmt: skip
    assert opens_r.rho == 1.0
    tickets_r = by["support_tickets_this_month"]
    assert tickets_r.auc == 0.0 and tickets_r.separation == 1.0 and not tickets_r.higher_is_better
    assert tickets_r.verdict == "redundant" and tickets_r.rho == -1.0  # either sign
    assert (
        by["video_views_this_month"].auc == 0.5 and by["video_views_this_month"].verdict == "weak"
    )
    docs_r = by["document_views_this_month"]
    assert (docs_r.verdict, docs_r.accounts, docs_r.churned) == ("few", 34, 4)
    assert by["email_delivered_this_month"].verdict == "no_data"
    assert math.isclose(by["email_delivered_this_month"].coverage, 0.0)


def test_points_and_bins_of_a_proposed_number():
    rate = pd.Series(np.arange(N) / 100)
    (result,) = evaluate_candidates(
        [_number("email_open_rate_this_month")], pd.DataFrame({"email_open_rate_this_month": rate}),
        CHURNED, POINTS, MEASURES,
    )  # fmt: skip
    # the measure has no evidence (AUC 0.5), so the candidate's share of the total 100 is all
    # of it, shrunk by 40 / (40 + 50) accounts: 44.4 -> 44 points
    assert result.points == 44
    # terciles at 0.13 and 0.26: 10 of 13, 0 of 13, 0 of 14 churned; the upper two merge
    assert [(b.lower, b.upper, b.accounts, b.churned, b.points) for b in result.bins] == [
        (None, 0.13, 13, 10, 0), (0.13, None, 27, 0, 44)]  # fmt: skip


def test_a_candidate_like_a_measure_is_redundant_with_the_measure():
    points = pd.DataFrame({"deliveries": [0.0] * LOST + [25.0] * (N - LOST)})
    rate = pd.Series(np.arange(N) / 100)
    # the measure's points split the groups exactly as the candidate does: their rank
    # correlation is sqrt(between-group / total rank variance) = sqrt(75 / 133.25) = 0.75
    (result,) = evaluate_candidates(
        [_number("email_open_rate_this_month")], pd.DataFrame({"email_open_rate_this_month": rate}),
        CHURNED, points, MEASURES,
    )  # fmt: skip
    assert (result.verdict, result.like, result.like_measure) == ("redundant", "deliveries", True)
    assert math.isclose(result.rho, math.sqrt(75 / 133.25), rel_tol=1e-9)


def test_a_yes_no_candidate_is_judged_like_a_number():
    done = pd.Series([False] * 7 + [True] * 3 + [True] * 27 + [False] * 3, dtype="boolean")
    (result,) = evaluate_candidates(
        [Candidate("tutorial_completed", "boolean")], pd.DataFrame({"tutorial_completed": done}),
        CHURNED, POINTS, MEASURES,
    )  # fmt: skip
    # renewed-above-churned pairs 27 x 7, ties 27 x 3 + 3 x 7 count half: (189 + 51) / 300
    assert math.isclose(result.auc, 0.8)
    assert result.verdict == "proposed" and result.bins is None and result.points >= 1


def test_candidates_are_the_usage_inputs_the_scorecard_does_not_read():
    read = {"deliveries_this_month", "login_days_this_month", "days_since_last_touch", "minutes"}
    found = candidate_inputs(read, {"webinar_minutes": "number", "minutes": "number"})
    names = {c.input for c in found}
    assert {"email_open_rate_this_month", "email_clicks_this_month", "video_views_this_month",
            "document_views_this_month", "email_delivered_this_month", "tutorial_completed",
            "days_to_tutorial"} <= names  # fmt: skip
    assert not names & read  # read by a measure already
    assert not any(n.endswith("_previous_month") for n in names)
    assert "arr" not in names and "months_until_renewal" not in names  # not usage
    declared = [c for c in found if c.declared]
    assert [(c.input, c.kind) for c in declared] == [("webinar_minutes", "number")]


def test_every_built_in_candidate_has_a_label_in_both_languages():
    from sfsync.templates import load_templates

    names = [c.input for c in candidate_inputs(set(), {})]
    for language in ("ja", "en"):
        templates = load_templates(Path(__file__).resolve().parents[2] / "mappings/templates",
                                   language)  # fmt: skip
        missing = [n for n in names if not templates.has("calibration_inputs", n)]
        assert missing == [], (language, missing)
