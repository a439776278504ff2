"""Test lanes and shared fixtures.

Two lanes; README command 2 and ``.ci/run`` run both, the fast lane first:

- the fast lane, ``pytest -m "not e2e"``: unit and narrow integration tests (in-process, the
  local practice org or a ``responses`` mock on loopback), under 3 minutes on 2 cores;
- the end-to-end lane, ``pytest -m e2e``: the real CLI in child processes, whole runs against
  the local practice org, kill -9 and fault trials, the broken-input corpus, property tests
  with many examples, and every other test measured above ~2 s (``--durations``).

A test is in the end-to-end lane when its path starts with one of :data:`E2E` (a folder, a
file, or ``file::test`` for every parametrisation of one test) or it carries the ``slow``,
``reliability`` or ``browser`` marker; :func:`pytest_collection_modifyitems` adds the ``e2e``
marker. A fast-lane test that takes longer than :data:`FAST_LANE_BUDGET_SECONDS` is listed at
the end of the run, so it can be moved here.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.state"]

#: Paths (relative to the repository) of the end-to-end lane.
E2E = (
    # whole runs of the CLI against the local practice org, kill -9 and fault trials
    "tests/e2e/",
    # Salesforce's metadata library (npm ci, then node) over deploy/salesforce
    "tests/salesforce_metadata/test_sdr_convert.py",
    "tests/reliability/",
    # the broken-input corpus: one CLI child process per case
    "tests/foundation/test_broken_corpus.py",
    # child-process CLI runs
    "tests/ops/test_backfill.py",
    "tests/ops/test_doctor.py",
    "tests/ops/test_scheduler_contract.py",
    "tests/ops/test_validate_org_scope.py",
    "tests/ops/test_validate_org_campaigns.py",
    "tests/ops/test_calibrate.py::test_cli_with_an_outcomes_csv_writes_the_html_page",
    "tests/automation/test_slack_cli.py",
    "tests/automation/test_kpi_command.py::test_kpi_summary_is_posted_once_per_month",
    "tests/sync/test_bulk_upload.py::test_the_real_byte_limit_with_japanese_text_is_measured_encoded",
    "tests/automation/test_slack_delivery.py::test_a_process_killed_after_the_post_leaves_no_",
    "tests/foundation/test_secrets_everywhere.py",
    "tests/scoring/test_cli_score.py::test_score_to_stdout_through_the_real_entry_point",
    "tests/sandbox/test_persistence.py::test_cli_serve_prints_how_to_connect_and_saves_on_ctrl_c",
    "tests/sources/test_deadlines.py::test_a_run_against_a_dripping_metabase_fails_in_time_",
    # whole nightly runs in-process against the local practice org
    "tests/automation/test_sandbox_e2e.py",
    "tests/salesforce_client/test_sandbox_e2e.py",
    "tests/sync/test_sync_sandbox.py",
    # waits for real time: lock TTLs, heartbeats, racing processes, Bulk job states
    "tests/foundation/test_lock.py::test_a_holder_on_another_host_blocks_until_its_ttl",
    "tests/foundation/test_lock.py::test_heartbeat_keeps_a_long_run_locked_beyond_its_ttl",
    "tests/foundation/test_lock.py::test_racing_processes_get_exactly_one_lock",
    "tests/sandbox/test_strict_http.py::test_bulk_query_jobs_stay_in_progress_before_complete",
    # large data and property tests (hypothesis)
    "tests/scoring/test_properties.py",
    "tests/perf/test_json_rows_equivalence.py::test_any_export_decodes_to_the_same_frame",
    "tests/scoring/test_usage_features.py::test_usage_by_tenant_matches_a_computation_over_",
    "tests/sandbox_services/test_sample_data.py::test_hundred_thousand_accounts",
    "tests/sandbox/test_faults.py::test_http_503_rate_is_seeded_and_reproducible",
    "tests/sandbox/test_query.py::test_query_pages_with_path_only_next_records_url",
    # old against new state store on SQLite and PostgreSQL, several nights each
    "tests/perf/test_state_equivalence.py",
)

#: The longest end-to-end tests (``--durations``), started first so that the lane does not end
#: waiting for one of them picked up last by a worker.
LONGEST_FIRST = (
    "tests/e2e/test_wheel.py",
    "tests/reliability/test_reliability.py",
    "tests/e2e/test_followups.py",
    "tests/e2e/test_weekly_history.py",
    "tests/e2e/test_task_reads.py",
    "tests/e2e/test_task_hygiene.py",
    "tests/e2e/test_large_org.py",
    "tests/e2e/test_seed000.py",
)

#: Markers that put a test in the end-to-end lane wherever it is.
E2E_MARKERS = ("slow", "reliability", "browser")

#: A fast-lane test slower than this is listed in the summary.
FAST_LANE_BUDGET_SECONDS = 5.0


def in_e2e_lane(item: pytest.Item) -> bool:
    """Whether ``item`` belongs to the end-to-end lane (see :data:`E2E`)."""
    path = item.nodeid.split("[", 1)[0]
    if path.startswith(E2E):
        return True
    return any(item.get_closest_marker(name) for name in E2E_MARKERS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the end-to-end lane; run the fast lane first when both lanes are selected, and the
    longest end-to-end tests first within their lane."""
    for item in items:
        if in_e2e_lane(item):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=_lane_order)


def _lane_order(item: pytest.Item) -> tuple[bool, bool]:
    """The fast lane first; in the end-to-end lane the longest tests first (stable sort)."""
    e2e = item.get_closest_marker("e2e") is not None
    return e2e, not item.nodeid.startswith(LONGEST_FIRST)


_slow_fast_lane: list[tuple[str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note fast-lane tests that exceed the budget (``keywords`` carry the e2e marker)."""
    slow = report.duration > FAST_LANE_BUDGET_SECONDS
    if report.when == "call" and slow and "e2e" not in report.keywords:
        _slow_fast_lane.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter) -> None:
    """List fast-lane tests slower than the budget: candidates for :data:`E2E`."""
    if _slow_fast_lane:
        terminalreporter.section("fast-lane tests over budget")
        for nodeid, seconds in sorted(_slow_fast_lane, key=lambda x: -x[1]):
            terminalreporter.write_line(
                f"{seconds:6.1f} s  {nodeid}  (move to tests/conftest.py E2E)"
            )
