"""Configuration errors are reported before scoring, all at once, with file and key path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sfsync.errors import ConfigError
from sfsync.scoring import load_scorecard

DEFAULT = Path("mappings/scorecards/default.yaml")


def write_variant(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    change(data)
    data["rules_file"] = None
    data["benchmarks_file"] = None
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def deliveries(data):
    return data["categories"]["usage"]["measures"]["deliveries"]


CASES = [
    (
        "overlapping bins",
        lambda d: deliveries(d)["bins"].__setitem__(1, {"ge": 0.5, "lt": 3, "points": 15}),
        "categories.usage.measures.deliveries.bins.1",
        "overlaps bin 0",
    ),
    (
        "touching inclusive bounds overlap",
        lambda d: deliveries(d)["bins"].__setitem__(0, {"le": 1, "points": 0}),
        "categories.usage.measures.deliveries.bins.1",
        "overlaps bin 0 at 1",
    ),
    (
        "gap between bins",
        lambda d: deliveries(d)["bins"].__setitem__(1, {"gt": 1, "lt": 3, "points": 15}),
        "categories.usage.measures.deliveries.bins.1",
        "leaves a gap",
    ),
    (
        "points above the category maximum",
        lambda d: deliveries(d)["bins"][2].__setitem__("points", 30),
        "categories.usage.max_points",
        "above the category maximum 40",
    ),
    (
        "category can never reach its maximum",
        lambda d: d["categories"]["usage"].__setitem__("max_points", 50),
        "categories.usage.max_points",
        "can never reach",
    ),
    (
        "unknown input column",
        lambda d: deliveries(d).__setitem__("input", "deliverys_this_month"),
        "categories.usage.measures.deliveries.input",
        "unknown input column 'deliverys_this_month'",
    ),
    (
        "missing policy is required",
        lambda d: deliveries(d).pop("missing"),
        "categories.usage.measures.deliveries.bins.missing",
        "required key is missing",
    ),
    (
        "unknown key",
        lambda d: deliveries(d).__setitem__("treshold", 3),
        "categories.usage.measures.deliveries.bins.treshold",
        "unknown key",
    ),
    (
        "band gap",
        lambda d: d["bands"][1].__setitem__("min", 61),
        "bands.",
        "leaves a gap",
    ),
    (
        "both ge and gt",
        lambda d: deliveries(d)["bins"][2].__setitem__("gt", 2),
        "categories.usage.measures.deliveries.bins.bins.2",
        "either ge or gt",
    ),
]


@pytest.mark.parametrize(("name", "change", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_broken_scorecards_name_file_and_path(tmp_path, name, change, path, message):
    card_path = write_variant(tmp_path, change)
    with pytest.raises(ConfigError) as info:
        load_scorecard(card_path)
    problems = [p for p in info.value.problems if p.path.startswith(path)]
    assert problems, [str(p) for p in info.value.problems]
    assert any(message in p.message for p in problems), [str(p) for p in problems]
    assert all(p.file == str(card_path) for p in info.value.problems)


def test_every_problem_is_reported_at_once(tmp_path):
    def two_problems(d):
        deliveries(d)["input"] = "nope"
        d["categories"]["contract"]["max_points"] = 11

    with pytest.raises(ConfigError) as info:
        load_scorecard(write_variant(tmp_path, two_problems))
    assert len(info.value.problems) == 2
    assert "2 configuration problems" in str(info.value)


def test_broken_rules_file_is_reported_with_its_own_name(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("signals:\n  score_drop: {points: 15, severty: high}\n", encoding="utf-8")
    card = write_variant(tmp_path, lambda d: None)
    text = card.read_text(encoding="utf-8").replace("rules_file: null", "rules_file: rules.yaml")
    card.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scorecard(card)
    assert info.value.problems[0].file == str(rules)
    assert info.value.problems[0].path == "signals.score_drop.severty"


def test_shipped_scorecards_load():
    card = load_scorecard(DEFAULT)
    assert card.rules.signals.score_drop.points == 15
    assert card.benchmark_table["default"] == pytest.approx(0.20)
