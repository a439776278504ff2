"""`compute.scorecards` (a scorecard per segment) in a job file: validated by `sfsync validate`
with file and key path, every scorecard's inputs checked against the column mapping, and the
bundle carries the loaded scorecards to compute."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from sfsync.cli import main
from sfsync.config import load_project
from sfsync.pipeline import compute
from sfsync.project import load_bundle, output_columns, producible_values
from sfsync.sources.extract import Inputs
from tests.cli_process import make_project
from tests.scoring.builders import AS_OF, accounts_frame, activities_frame, usage_frame


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def _edit_nightly(config: Path, compute_lines: str, columns: str | None = None) -> None:
    job = config.parent / "jobs" / "nightly.yaml"
    text = job.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  scorecard: \w+.*$", compute_lines.rstrip("\n"), text, count=1)
    if columns:
        text = text.replace("columns: salesforce_accounts ", f"columns: {columns} ", 1)
    job.write_text(text, "utf-8")


def _validate(config: Path, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(["--config", str(config), "validate"])
    out, err = capsys.readouterr()
    return info.value.code, " ".join((out + err).split())


SEGMENTS_SEED000 = "  scorecards: {S: seed000, A: seed000, default: default}"


def test_a_job_scoring_s_and_a_with_seed000_validates(config, capsys):
    _edit_nightly(config, SEGMENTS_SEED000, columns="salesforce_accounts_seed000")
    code, output = _validate(config, capsys)
    assert code == 0, output
    bundle = load_bundle(load_project(config), "nightly")
    assert bundle.scorecard is not None and bundle.scorecard.name == "default"
    assert {seg: card.name for seg, card in bundle.segment_scorecards.items()} == {
        "S": "seed000",
        "A": "seed000",
    }
    assert bundle.segment_scorecards["S"] is bundle.segment_scorecards["A"]  # loaded once
    assert [card.name for card in bundle.scorecards()] == ["default", "seed000"]
    columns = output_columns(bundle.job, bundle.scorecard, bundle.scorecards()[1:])
    assert columns is not None and {"usage_points", "market_points"} <= set(columns)
    assert producible_values(bundle)["health_band"] == ("green", "yellow", "orange", "red")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            "  scorecards: {X: seed000}",
            "nightly.yaml: compute.score.scorecards: unknown segment(s) 'X'; "
            "use S, A, B, C or default",
        ),
        (
            "  scorecards: {S: seedOOO}",
            "nightly.yaml: compute.scorecards.S: unknown scorecard 'seedOOO': ",
        ),
        (
            "  scorecard: default\n  scorecards: {default: seed000}",
            "nightly.yaml: compute.score: scorecard (default) and "
            "scorecards.default (seed000) differ: name the default scorecard once",
        ),
        (
            "  scorecards: {S: ''}",
            "nightly.yaml: compute.score.scorecards: S: give a scorecard name",
        ),
    ],
    ids=["unknown-segment", "unknown-scorecard", "two-defaults", "empty-name"],
)
def test_bad_segment_scorecards_are_named_with_their_key(config, capsys, lines, message):
    _edit_nightly(config, lines, columns="salesforce_accounts_seed000")
    code, output = _validate(config, capsys)
    assert code == 1
    assert message in output
    if "unknown scorecard" in message:
        assert "(scorecards: default, seed000)" in output


def test_a_segments_scorecard_needs_its_inputs_in_the_column_mapping(config, capsys):
    _edit_nightly(config, "  scorecards: {S: seed000}")  # salesforce_accounts lacks them
    code, output = _validate(config, capsys)
    assert code == 1
    assert "nightly.yaml: sources.accounts.columns: the scorecard" in output
    assert "seed000.yaml reads accounts column(s) adoption_postings_step1" in output
    assert "mappings/columns/salesforce_accounts.yaml does not provide" in output


def test_compute_scores_each_segment_with_its_scorecard(config):
    _edit_nightly(config, SEGMENTS_SEED000, columns="salesforce_accounts_seed000")
    bundle = load_bundle(load_project(config), "nightly")
    seed000 = bundle.segment_scorecards["S"]
    rows = []
    for account_id, arr in (("S1", 9e6), ("B1", 3e5)):
        row = {
            "account_id": account_id, "name": account_id, "owner_id": "005X", "arr": arr,
            "is_enterprise": False, "contract_start": "2023-01-01",
            "renewal_date": "2026-01-01", "industry": "IT", "tenant_id": None,
            "competitor_evaluation": False,
            "employment_type": "part-time", "recruiting_area_count": 3,
            "annual_media_spend_jpy": 6e6,
        }  # fmt: skip
        rows.append(row | {name: True for name in seed000.inputs if "step" in name})
    accounts = accounts_frame(rows)
    frames = {"accounts": accounts, "usage": usage_frame([]), "activities": activities_frame([])}
    inputs = Inputs(frames, pd.DataFrame({"source": pd.Series(dtype="str")}))
    computed = compute(inputs, bundle, AS_OF, previous=None)
    assert computed.scores is not None
    scores = computed.scores.scores.set_index("account_id")
    assert scores["scorecard"].to_dict() == {"S1": "seed000", "B1": "default"}
    # 84 adoption + 0 industry + 20 + 10 + 10 = 124 of 184 -> 67
    assert scores.loc["S1", "health_score"] == 67
    fields = computed.desired_fields.set_index("account_id")
    assert fields.loc["S1", "health_score"] == 67


def test_two_scorecards_with_the_same_name_are_refused(config, capsys):
    cards = config.parent / "mappings" / "scorecards"
    (cards / "copy.yaml").write_text((cards / "default.yaml").read_text("utf-8"), "utf-8")
    _edit_nightly(config, "  scorecards: {S: copy}")
    code, output = _validate(config, capsys)
    assert code == 1
    assert (
        "compute.scorecards.S: the scorecards default and copy are both named 'default'" in output
    )
