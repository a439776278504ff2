"""The broken-input corpus (tests/foundation/broken/expectations.yaml) through the real CLI.

Each case puts broken files into a fresh project (or sets a broken environment variable, or
gives `sfsync score` a broken CSV) and runs ``python -m sfsync`` in a child process, as a user
or a scheduler would. Every command must end with the expected exit code, say every expected
fragment (one of which names the file, row or variable), and never print a traceback or fall
into the catch-all "internal error". README.md in that folder says how to add a case.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from sfsync.configfile import StrictModel, load_model
from tests.cli_process import make_project, run_sfsync

CORPUS = Path(__file__).with_name("broken")
AS_OF = "2025-03-15"
COMMANDS = {
    "validate": ["validate"],
    "run": ["run", "nightly", "--dry-run", "--as-of", AS_OF],
    "run-sandbox": ["run", "nightly", "--sandbox", "--dry-run", "--as-of", AS_OF],
    "score": ["score", "--as-of", AS_OF, "--out", "-"],
}
ScoreInput = Literal["accounts", "usage", "activities", "previous"]


class Case(StrictModel):
    """One entry of expectations.yaml."""

    about: str
    commands: list[Literal["validate", "run", "run-sandbox", "score"]] = Field(min_length=1)
    files: dict[str, str] = Field(default_factory=dict)
    append: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    score: dict[ScoreInput, str] = Field(default_factory=dict)
    args: list[str] = Field(default_factory=list)
    exit: int
    says: list[str] = Field(min_length=1)
    names: str | None = None

    def places(self) -> list[str]:
        """What a message about this case must name: a file's name or a variable (or what
        ``names`` says, such as a source and its rows)."""
        if self.names:
            return [self.names]
        targets = [*self.files, *self.append, *self.score.values()]
        return [Path(t).name for t in targets] + list(self.env)


class Corpus(StrictModel):
    cases: dict[str, Case]


def load_cases() -> dict[str, Case]:
    # the table is itself read by the product's YAML loader: a case named twice is an error
    from sfsync.configfile import read_yaml, validate_data

    path = CORPUS / "expectations.yaml"
    return validate_data(path, {"cases": read_yaml(path)}, Corpus).cases


CASES = load_cases()


def build(case: Case, root: Path) -> Path:
    """A project holding the case's broken files; returns its sfsync.yaml."""
    config = make_project(root)
    for target, source in case.files.items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        (root / target).write_bytes((CORPUS / source).read_bytes())
    for target, source in case.append.items():
        with (root / target).open("ab") as handle:
            handle.write((CORPUS / source).read_bytes())
    return config


def command_line(case: Case, command: str) -> list[str]:
    argv = list(COMMANDS[command])
    if command == "score":
        for role in ("accounts", "usage", "activities"):
            argv += [f"--{role}", str(CORPUS / case.score.get(role, f"inputs/valid_{role}.csv"))]
        if "previous" in case.score:
            argv += ["--previous", str(CORPUS / case.score["previous"])]
    return argv + case.args


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_input_gives_an_error_never_a_traceback(name, tmp_path):
    case = CASES[name]
    config = build(case, tmp_path / "project")
    for command in case.commands:
        done = run_sfsync(config, None, *command_line(case, command), env=case.env)
        output = done.stdout + done.stderr
        where = f"{name} / {command}: exit {done.returncode}\n{done.stderr[-3000:]}"
        assert "Traceback" not in output, where
        assert "internal error" not in done.stderr, where
        assert done.returncode == case.exit, where
        if case.exit:
            assert "\nError: " in "\n" + done.stderr, where
        for fragment in case.says:
            assert fragment in output, f"missing {fragment!r} in {where}"


def test_every_case_names_the_place_of_the_mistake():
    for name, case in CASES.items():
        if name == "activities_header_only":  # a valid corner case: nothing to name
            continue
        places = case.places()
        assert any(place in said for said in case.says for place in places), name


def test_every_corpus_file_belongs_to_a_case():
    used = {
        source
        for case in CASES.values()
        for source in [*case.files.values(), *case.append.values(), *case.score.values()]
    }
    folders = ("configs", "jobs", "patches", "inputs")
    present = {
        str(p.relative_to(CORPUS))
        for folder in folders
        for p in (CORPUS / folder).iterdir()
        if not p.name.startswith("valid_")
    }
    assert present - used == set(), "corpus files without a case in expectations.yaml"
    assert used - present == set(), "cases naming files that do not exist"


def test_the_expectations_table_is_checked_like_configuration(tmp_path):
    from sfsync.errors import ConfigError

    table = tmp_path / "expectations.yaml"
    table.write_text("a:\n  about: x\na:\n  about: y\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="a: duplicate key"):
        load_model(table, Corpus)


def _child(cwd: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    """``main()`` of the real CLI in a child process, after ``code`` has broken something."""
    script = f"import sys\nfrom sfsync import cli\n{code}\ncli.main(sys.argv[1:])\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


BUG = (
    "import sfsync.validation as v\n"
    "def bug(project):\n"
    "    raise KeyError('token=xoxb-123456789012-abcdefghijkl')\n"
    "v.VALIDATORS = [('bug', bug)]"
)


def test_an_unexpected_exception_is_one_line_without_v(tmp_path):
    done = _child(tmp_path, BUG, "validate")
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: internal error (KeyError: ")
    assert lines[-1].endswith("this is a bug in sfsync (run with -v for details)")
    assert "abcdefghijkl" not in done.stderr  # redacted like every other error


def test_with_v_the_traceback_is_shown(tmp_path):
    done = _child(tmp_path, BUG, "-v", "validate")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "abcdefghijkl" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("Error: internal error (KeyError")
