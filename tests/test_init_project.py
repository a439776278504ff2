"""``sfsync init``: a new project from the defaults inside the package, and the packaging rules
around it (the defaults are the repository's files; the product requires no web server).

The wheel itself is checked by ``.ci/wheel_smoke.sh`` (built, installed outside the
repository, ``sfsync init`` and the demo run there).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from sfsync.cli import cli
from sfsync.commands.practice_org import PracticeOrgMissing, load_practice_org
from sfsync.scaffold import (
    ProjectExistsError,
    default_salesforce_metadata_dir,
    template_files,
    write_project,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_TOPS = ("sfsync.yaml", "jobs", "mappings", "deploy/salesforce")


def _repo_files() -> dict[str, bytes]:
    found = {}
    for top in TEMPLATE_TOPS:
        path = ROOT / top
        paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in paths:
            if "__pycache__" not in p.parts:
                found[p.relative_to(ROOT).as_posix()] = p.read_bytes()
    return found


def test_the_packaged_defaults_are_the_repository_files():
    packaged = {rel: node.read_bytes() for rel, node in template_files().items()}
    assert packaged == _repo_files()


def test_init_writes_a_project_that_loads_and_names_what_it_wrote(tmp_path):
    target = tmp_path / "cs-health"
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0, result.output
    for expected in ("sfsync.yaml", "jobs/", "mappings/", "deploy/", "Next steps:", "sfsync demo"):
        assert expected in result.output
    for rel in (
        "sfsync.yaml",
        "jobs/nightly.yaml",
        "mappings/templates/ja",
        "mappings/templates/en",
        "mappings/columns",
        "mappings/scorecards/default.yaml",
        "mappings/benchmarks",
        "mappings/playbook.yaml",
        "deploy/salesforce/sfdx-project.json",
    ):
        assert (target / rel).exists(), rel
    validated = CliRunner().invoke(cli, ["--config", str(target / "sfsync.yaml"), "validate"])
    assert validated.exit_code == 0, validated.output


def test_init_refuses_to_overwrite_unless_forced(tmp_path):
    write_project(tmp_path)
    job = tmp_path / "jobs" / "nightly.yaml"
    job.write_text("# my edits\n", encoding="utf-8")
    mine = tmp_path / "notes.txt"
    mine.write_text("kept", encoding="utf-8")

    result = CliRunner().invoke(cli, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert "already has" in str(result.exception)
    assert "--force" in str(result.exception)
    assert job.read_text(encoding="utf-8") == "# my edits\n"

    result = CliRunner().invoke(cli, ["init", str(tmp_path), "--force"])
    assert result.exit_code == 0, result.output
    assert job.read_bytes() == (ROOT / "jobs" / "nightly.yaml").read_bytes()
    assert mine.read_text(encoding="utf-8") == "kept"


def test_init_into_a_file_is_an_error(tmp_path):
    a_file = tmp_path / "x"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(ProjectExistsError, match="not a folder"):
        write_project(a_file)


def test_the_practice_org_reads_the_packaged_salesforce_metadata():
    assert (default_salesforce_metadata_dir() / "objects" / "Account" / "fields").is_dir()


def test_a_missing_practice_org_says_how_to_install_it():
    with pytest.raises(PracticeOrgMissing) as caught:
        load_practice_org(group="sfsync.no-such-entry-point-group")
    assert "local practice org (sfsync-sandbox) is not installed" in str(caught.value)
    assert "pip install -e ./sandbox" in str(caught.value)


@pytest.mark.parametrize(
    "argv",
    [["demo"], ["run", "nightly", "--sandbox"], ["sandbox", "reset"], ["doctor", "--sandbox"]],
)
def test_commands_that_need_the_practice_org_say_how_to_install_it(
    argv, tmp_path, monkeypatch, capsys
):
    import sfsync.commands.practice_org as practice_org
    from sfsync.cli import main

    monkeypatch.setattr(practice_org, "ENTRY_POINT_GROUP", "sfsync.no-such-entry-point-group")
    write_project(tmp_path)
    (tmp_path / ".sfsync" / "sandbox").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["--log-format", "console", *argv])
    err = capsys.readouterr().err
    assert exited.value.code == 1, err
    assert "Error: the local practice org (sfsync-sandbox) is not installed" in err
    assert "pip install -e ./sandbox" in err
    assert "Traceback" not in err


def test_the_practice_org_is_found_through_its_entry_point():
    plugin = load_practice_org()
    assert {"Sandbox", "reset_data_dir", "export_sample_csv"} <= set(dir(plugin))


WEB_OR_TLS = {"werkzeug", "trustme", "flask", "gunicorn", "uvicorn"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~\[;@]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_product_requires_no_web_server_or_certificate_library():
    product = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not _names(product["dependencies"]) & WEB_OR_TLS
    sandbox = tomllib.loads((ROOT / "sandbox" / "pyproject.toml").read_text(encoding="utf-8"))
    assert {"werkzeug", "trustme", "sfsync"} <= _names(sandbox["project"]["dependencies"])
    assert "sfsync.sandbox" in sandbox["project"]["entry-points"]


IMPORTS_PRACTICE_ORG = re.compile(
    r"^\s*(from|import)\s+sfsync_sandbox|import_module\(\s*['\"]sfsync_sandbox", re.M
)


def test_the_product_never_imports_the_practice_org_by_name():
    offenders = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "sfsync").rglob("*.py")
        if IMPORTS_PRACTICE_ORG.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_offline_score_finds_the_packaged_scorecards():
    from sfsync.scaffold import default_mappings_dir

    assert (default_mappings_dir() / "scorecards" / "default.yaml").is_file()
    assert (default_mappings_dir() / "scorecards" / "seed000.yaml").is_file()
