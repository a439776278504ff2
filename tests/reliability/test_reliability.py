"""The reliability suite: runs killed with SIGKILL at seeded random points, and runs under each
fault of the matrix, end — after the next scheduled run(s) — in the same state as a clean run,
with no duplicate Task and no duplicate or lost Slack alert. ``bench/bench_reliability.py``
runs the same trials at larger numbers and prints the figures."""

from __future__ import annotations

import pytest

from tests.reliability.harness import FAULTS, Bench, kill_delays, totals

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return Bench(tmp_path_factory.mktemp("reliability"), accounts=40)


@pytest.fixture(scope="module")
def reference(bench):
    state, duration = bench.reference()
    assert state.members and state.tasks  # the comparisons below have something to compare
    return state, duration


def test_runs_killed_at_random_points_converge_without_duplicates(bench, reference):
    state, duration = reference
    trials = [bench.killed_trial(state, delay) for delay in kill_delays(duration, 3, seed=11)]
    figures = totals(trials)
    assert figures["duplicate_tasks"] == 0, trials
    assert figures["duplicate_alerts"] == 0 and figures["lost_alerts"] == 0, trials
    assert figures["same_end_state"] == len(trials), trials
    assert all(t.exit_codes[-1] == 0 for t in trials), trials


def test_runs_killed_while_delivering_to_slack_post_each_alert_once(bench, reference):
    state, _ = reference
    trials = [
        bench.killed_trial(state, delay, after_event="slack_enqueued") for delay in (0.05, 0.3)
    ]
    figures = totals(trials)
    assert figures["duplicate_alerts"] == 0 and figures["lost_alerts"] == 0, trials
    assert figures["same_end_state"] == len(trials), trials


@pytest.mark.parametrize("name,inject,clear", FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_converges_to_the_clean_end_state(bench, reference, name, inject, clear):
    state, _ = reference
    trial = bench.fault_trial(state, name, inject, clear)
    assert trial.exit_codes[-1] == 0, trial
    assert trial.comparison.same, trial
