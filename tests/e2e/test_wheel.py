"""The product as a user installs it: ``.ci/wheel_smoke.sh`` builds both wheels, installs sfsync
alone in a fresh virtualenv outside the repository (no web-server or certificate library), runs
``sfsync init`` and the demo there (after installing the local practice org's wheel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.cli_process import REPO


@pytest.mark.skipif(shutil.which("bash") is None, reason="the smoke script needs bash")
def test_the_wheel_installs_outside_the_repository_and_runs_init_and_the_demo(tmp_path):
    proc = subprocess.run(
        ["bash", str(REPO / ".ci" / "wheel_smoke.sh")],
        env={
            # REQUESTS_CA_BUNDLE may point at a practice org's CA bundle (another test in this
            # worker trusted it in-process); pip reaches the package index with its own settings
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("SFSYNC_", "VIRTUAL_ENV")) and k != "REQUESTS_CA_BUNDLE"
            },
            "PYTHON": sys.executable,
            "TMPDIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "wheel smoke: OK" in proc.stdout
