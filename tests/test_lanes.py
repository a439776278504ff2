"""The two test lanes: README command 2 is what CI runs, both lanes run, and every end-to-end
path named in tests/conftest.py still exists (a renamed test must not slip into the fast lane)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import E2E, LONGEST_FIRST, in_e2e_lane

REPO = Path(__file__).resolve().parents[1]


def readme_command_2() -> str:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    return lines[lines.index("# 2. Install and run the test suite") + 1]


def test_ci_runs_exactly_readme_command_2():
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert script[-1] == readme_command_2()


def test_the_command_runs_the_fast_lane_then_the_end_to_end_lane():
    command = readme_command_2()
    fast, e2e = command.find('-m "not e2e"'), command.find("-m e2e")
    assert 0 < fast < e2e


@pytest.mark.parametrize("path", E2E + LONGEST_FIRST)
def test_every_end_to_end_path_exists(path):
    file, _, test = path.partition("::")
    assert (REPO / file).exists(), path
    if test:
        source = (REPO / file).read_text(encoding="utf-8")
        assert re.search(rf"^def {re.escape(test)}", source, re.MULTILINE), path


def test_this_file_is_in_the_fast_lane(request):
    assert request.node.get_closest_marker("e2e") is None


@pytest.mark.parametrize(
    ("nodeid", "markers", "e2e"),
    [
        ("tests/e2e/test_nightly.py::test_x", (), True),
        ("tests/reliability/test_reliability.py::test_x[a]", (), True),
        ("tests/foundation/test_broken_corpus.py::test_x[case]", (), True),
        ("tests/foundation/test_lock.py::test_racing_processes_get_exactly_one_lock[pg]", (), True),
        ("tests/foundation/test_lock.py::test_a_live_holders_lock_still_blocks[pg]", (), False),
        ("tests/scoring/test_engine_features.py::test_x", ("slow",), True),
        ("tests/scoring/test_engine_features.py::test_x", (), False),
    ],
)
def test_lane_of_a_test(nodeid, markers, e2e):
    item = SimpleNamespace(nodeid=nodeid, get_closest_marker=lambda name: name in markers or None)
    assert in_e2e_lane(item) is e2e


def test_the_longest_tests_are_in_the_end_to_end_lane_and_ordered_first():
    assert all(path.startswith(E2E) for path in LONGEST_FIRST)
    items = [
        SimpleNamespace(nodeid=n, get_closest_marker=lambda name, e=e: e if name == "e2e" else None)
        for n, e in [("tests/e2e/test_nightly.py::a", True), ("tests/e2e/test_wheel.py::b", True),
                     ("tests/scoring/test_x.py::c", None)]
    ]  # fmt: skip
    from tests.conftest import _lane_order

    assert [i.nodeid[-1] for i in sorted(items, key=_lane_order)] == ["c", "b", "a"]
