"""Job files: the shipped jobs load, broken ones are reported with file and key path."""

from datetime import date
from pathlib import Path

import pytest

from sfsync.errors import ConfigError
from sfsync.jobs import (
    MetabaseSource,
    ScoreCompute,
    UsageImportCompute,
    load_job,
    resolve_parameters,
    run_parameters,
    scoring_month,
)

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_jobs_load():
    nightly = load_job(ROOT / "jobs", "nightly")
    assert isinstance(nightly.compute, ScoreCompute)
    assert isinstance(nightly.sources["usage"], MetabaseSource)
    assert nightly.sources["usage"].card == 1
    weekly = load_job(ROOT / "jobs", "weekly-usage-import")
    assert isinstance(weekly.compute, UsageImportCompute)
    assert weekly.write.signal_tasks is False


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2025, 3, 15), ("2025-02", "2025-01", "2024-02")),
        (date(2025, 3, 1), ("2025-02", "2025-01", "2024-02")),
        (date(2025, 1, 31), ("2024-12", "2024-11", "2023-12")),
    ],
)
def test_run_parameters_follow_the_scoring_month_rule(as_of, expected):
    params = run_parameters(as_of, 13)
    assert (params["scoring_month"], params["previous_month"], params["from_month"]) == expected
    assert params["to_month"] == expected[0]
    assert scoring_month(as_of).strftime("%Y-%m") == expected[0]


def test_placeholders_are_filled():
    nightly = load_job(ROOT / "jobs", "nightly")
    assert resolve_parameters(nightly.sources["usage"], date(2025, 3, 15)) == {
        "from_month": "2024-02",
        "to_month": "2025-03",  # through the partial as-of month: its logins count (SPEC §10)
    }


def test_unknown_job_lists_the_jobs():
    with pytest.raises(ConfigError, match="no job named 'nightley'") as err:
        load_job(ROOT / "jobs", "nightley")
    assert "nightly" in str(err.value) and "weekly-usage-import" in str(err.value)


BROKEN = [
    (
        "sources: {usage: {kind: metabase, card: 1}}\ncompute: {kind: score}",
        "sources.accounts is required",
    ),
    (
        "sources: {accounts: {kind: salesforce, object: accounts, scoop: []}}\n"
        "compute: {kind: score}",
        "sources.accounts.salesforce.scoop: unknown key",
    ),
    (
        "sources: {accounts: {kind: salesforce, object: accounts}, "
        "usage: {kind: metabase, card: 1, parameters: {from_month: '{from_mnth}'}}}\n"
        "compute: {kind: score}",
        "unknown placeholder(s) from_mnth",
    ),
    (
        "sources: {accounts: {kind: salesforce, object: accounts,"
        " scope: [{field: \"Name = 'a' OR Id\", value: x}]}}\ncompute: {kind: score}",
        "is not a Salesforce field name",
    ),
    (
        "sources: {accounts: {kind: salesforce, object: accounts}, "
        "usage: {kind: metabase}}\ncompute: {kind: score}",
        "set either card",
    ),
    (
        "sources: {accounts: {kind: salesforce, object: accounts}}\ncompute: {kind: magic}",
        "compute",
    ),
    (
        "sources: {accounts: {kind: salesforce, object: users}}\ncompute: {kind: score}",
        "must read object: accounts",
    ),
    (
        "sources: {accounts: {kind: salesforce, object: accounts}}\n"
        "compute: {kind: usage_import}\nwrite: {signal_tasks: false}",
        "compute usage_import needs sources.usage",
    ),
    (
        "sources: {accounts: {kind: salesforce, object: accounts}, "
        "usage: {kind: metabase, card: 1, exclude_churned: true}}\ncompute: {kind: score}",
        "sources.usage: exclude_churned applies to accounts only",
    ),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_broken_jobs_name_the_file_and_key(tmp_path, text, message):
    (tmp_path / "broken.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_job(tmp_path, "broken")
    assert "broken.yaml" in str(err.value)
    assert message in str(err.value)


def test_validate_collects_every_problem_across_jobs(tmp_path):
    # sfsync.jobs.validate_jobs was replaced by the job bundle's loader (sfsync.project),
    # which also reports the files each job needs that are missing here
    from sfsync.config import Project, Settings
    from sfsync.project import validate_jobs

    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "a.yaml").write_text("sources: {}\ncompute: {kind: score}")
    (jobs / "b.yaml").write_text(
        "sources: {accounts: {kind: salesforce, object: accounts, columns: nope}, "
        "usage: {kind: file, path: data/usage.csv}}\n"
        "compute: {kind: score, scorecard: default}\n"
        "write: {account_fields: null}"
    )
    (tmp_path / "mappings").mkdir()
    project = Project(tmp_path, Settings(), jobs, tmp_path / "mappings", None)
    problems, detail = validate_jobs(project)
    text = "\n".join(map(str, problems))
    assert detail == "a, b"
    assert "a.yaml" in text and "sources.accounts is required" in text
    assert "b.yaml: sources.accounts.columns" in text
    assert "b.yaml: sources.usage.path" in text
    assert "b.yaml: compute.scorecard" in text


def test_metabase_sources_export_csv_unless_json_is_asked_for():
    """CSV is a quarter of the JSON's bytes and decodes in C; json stays for older Metabase."""
    nightly = load_job(ROOT / "jobs", "nightly")
    assert nightly.sources["usage"].format == "csv"
    assert MetabaseSource.model_validate({"kind": "metabase", "card": 1}).format == "csv"
    chosen = MetabaseSource.model_validate({"kind": "metabase", "card": 1, "format": "json"})
    assert chosen.format == "json"
