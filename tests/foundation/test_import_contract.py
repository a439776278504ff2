"""The import contract of pyproject.toml ([tool.importlinter]): the layering cli -> commands ->
pipeline -> stages -> domain, no cycle between the packages of sfsync, and the product never
importing the local practice org (sfsync_sandbox). The suite fails on a violation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for contract in ("cli -> commands", "no import cycles", "sfsync_sandbox"):
        assert contract in result.stdout
    assert "0 broken" in result.stdout


def test_a_package_cycle_breaks_the_acyclic_contract(tmp_path):
    """The acyclic contract as configured catches a cycle between two sibling packages."""
    package = tmp_path / "cyclic"
    for name, imports in (("a", "cyclic.b.mod"), ("b", "cyclic.a.mod")):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
        (package / name / "mod.py").write_text(f"import {imports}\n")
    (package / "__init__.py").write_text("")
    (tmp_path / ".importlinter").write_text(
        textwrap.dedent(
            """\
            [importlinter]
            root_package = cyclic

            [importlinter:contract:acyclic]
            name = no cycles
            type = acyclic_siblings
            ancestors = cyclic
            depth = 0
            """
        )
    )
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
