"""The job bundle (sfsync.project): every file of a job loaded once and checked against the
others before any network call; `sfsync validate` uses the same loader; compute is pure."""

from __future__ import annotations

import builtins
import io
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from sfsync import configfile
from sfsync.cli import main
from sfsync.config import load_project
from sfsync.errors import ConfigError
from sfsync.pipeline import compute
from sfsync.project import load_bundle
from sfsync.sources.extract import Inputs
from tests.cli_process import make_project
from tests.scoring.builders import (
    AS_OF,
    accounts_frame,
    activities_frame,
    activity,
    base_account,
    healthy_usage,
    usage_frame,
)

SEED000_INPUTS = [
    *(f"adoption_postings_step{i}" for i in range(1, 6)),
    *(f"adoption_management_step{i}" for i in range(1, 6)),
    *(f"adoption_paid_ads_step{i}" for i in range(1, 5)),
    "employment_type",
    "recruiting_area_count",
    "annual_media_spend_jpy",
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def _use_scorecard(config: Path, name: str) -> None:
    job = config.parent / "jobs" / "nightly.yaml"
    text = job.read_text(encoding="utf-8")
    job.write_text(re.sub(r"(?m)^  scorecard: \w+", f"  scorecard: {name}", text), "utf-8")


def _run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out + err


def test_validate_rejects_seed000_without_its_inputs_naming_the_columns(config, capsys):
    _use_scorecard(config, "seed000")
    code, output = _run(["--config", str(config), "validate"], capsys)
    assert code == 1
    out = " ".join(output.split())
    assert "nightly.yaml: sources.accounts.columns: the scorecard" in out
    assert "mappings/columns/salesforce_accounts.yaml does not provide" in out
    for column in SEED000_INPUTS:
        assert column in out
    # the Account field mapping writes the default scorecard's category points
    assert "account_fields.yaml: fields.usage_points: unknown result column" in out


def test_run_refuses_the_same_job_before_any_network_call(config, monkeypatch, capsys):
    _use_scorecard(config, "seed000")

    def no_network(*args, **kwargs):
        raise AssertionError("a client was built")

    monkeypatch.setattr("sfsync.salesforce.client.connect", no_network)
    code, output = _run(["--config", str(config), "run", "nightly"], capsys)
    assert code == 1
    assert "adoption_postings_step1" in output


def test_validate_passes_the_repository_jobs(config, capsys):
    code, output = _run(["--config", str(config), "validate"], capsys)
    assert code == 0, output
    assert "jobs (monthly-kpi, nightly, seed000, weekly-usage-import)" in output


def test_every_problem_of_a_job_is_reported_at_once(config):
    mappings = config.parent / "mappings"
    (mappings / "playbook.yaml").unlink()
    (mappings / "columns" / "metabase_usage.yaml").write_text("columns: 3\n", "utf-8")
    (mappings / "scorecards" / "default.yaml").write_text("name: x\n", "utf-8")
    with pytest.raises(ConfigError) as err:
        load_bundle(load_project(config), "nightly")
    text = str(err.value)
    assert "playbook.yaml does not exist" in text
    assert "metabase_usage.yaml: columns" in text
    assert "default.yaml: categories" in text


def test_the_bundle_reads_each_file_once(config, monkeypatch):
    reads: Counter[str] = Counter()
    decode = configfile.decode_utf8

    def counting(path, raw):
        reads[str(Path(path).resolve())] += 1
        return decode(path, raw)

    monkeypatch.setattr(configfile, "decode_utf8", counting)
    bundle = load_bundle(load_project(config), "nightly")
    assert bundle.scorecard is not None and bundle.playbook is not None
    assert bundle.sync_config is not None and set(bundle.column_mappings) == {
        "accounts",
        "users",
        "usage",
    }
    twice = {path: n for path, n in reads.items() if n > 1}
    assert not twice
    mappings = (config.parent / "mappings").resolve()
    for name in (
        "scorecards/default.yaml",
        "rules.yaml",
        "playbook.yaml",
        "account_fields.yaml",
        "tasks.yaml",
        "columns/salesforce_accounts.yaml",
        "columns/metabase_usage.yaml",
        "templates/ja/tasks_signals.yaml",
    ):
        assert reads[str(mappings / name)] == 1, name


def _inputs() -> Inputs:
    accounts = accounts_frame(
        [
            base_account(),
            base_account(account_id="002B", tenant_id="T2", competitor_evaluation=True),
        ]
    )
    usage = usage_frame(healthy_usage())
    activities = activities_frame([activity()])
    quarantined = pd.DataFrame({"source": pd.Series(dtype="str")})
    return Inputs({"accounts": accounts, "usage": usage, "activities": activities}, quarantined)


def test_compute_reads_no_file_and_no_store(config, monkeypatch):
    bundle = load_bundle(load_project(config), "nightly")
    assert bundle.job.write.followup_tasks and bundle.job.write.signal_tasks

    def no_io(*args, **kwargs):
        raise AssertionError("compute touched a file")

    for target, name in (
        (builtins, "open"),
        (io, "open"),
        (Path, "open"),
        (Path, "read_bytes"),
        (Path, "read_text"),
        (Path, "exists"),
        (Path, "glob"),
    ):
        monkeypatch.setattr(target, name, no_io)
    computed = compute(_inputs(), bundle, AS_OF, previous=None)
    monkeypatch.undo()
    assert len(computed.scores.scores) == 2
    assert computed.desired_tasks is not None and len(computed.desired_tasks)
    assert set(computed.desired_fields["scored_at"]) == {pd.Timestamp(AS_OF)}


COMPUTE_MODULES = [
    *sorted((Path(__file__).resolve().parents[2] / "sfsync" / "scoring").glob("*.py")),
    *(
        Path(__file__).resolve().parents[2] / "sfsync" / "automation" / name
        for name in ("followups.py", "capacity.py", "kpi.py", "kpi_report.py", "nightly.py")
    ),
]
IMPURE = re.compile(
    r"\.now\(|\.today\(|\btime\.time\(|\butcnow\(|\bload_(playbook|templates|scorecard)\(|"
    r"read_file\(|previous_scores\("
)


@pytest.mark.parametrize("path", COMPUTE_MODULES, ids=lambda p: p.name)
def test_compute_modules_read_no_clock_and_load_nothing(path):
    allowed = {"scorecard.py": {"load_scorecard("}}  # the loader itself lives there
    hits = [
        f"{path.name}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if IMPURE.search(line)
        and not line.lstrip().startswith(("#", '"', "def ", ">>>"))
        and not any(a in line for a in allowed.get(path.name, ()))
    ]
    assert not hits


def test_the_history_mapping_is_checked_with_the_job(config):
    mapping = config.parent / "mappings" / "score_history_fields.yaml"
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text.replace("previous_band:", "previous_bnd:"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_bundle(load_project(config), "nightly")
    assert "previous_bnd" in str(info.value) and "score_history_fields.yaml" in str(info.value)
    job = config.parent / "jobs" / "nightly.yaml"
    job.write_text(job.read_text(encoding="utf-8") + "history:\n  every: off\n", "utf-8")
    assert load_bundle(load_project(config), "nightly").job.history.every == "off"
