"""``sfsync --help`` stays fast: the CLI layer keeps heavy libraries out of start-up (its lazy
imports say why), so a help page or a typo never waits for pandas or SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "sqlalchemy", "simple_salesforce", "slack_sdk", "pyarrow")


def test_help_loads_no_heavy_library():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sfsync", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
