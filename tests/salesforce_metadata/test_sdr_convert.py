"""deploy/salesforce passes Salesforce's own metadata library, offline.

``sdr/check.mjs`` loads the SFDX source with ``@salesforce/source-deploy-retrieve`` (the library
``sf project deploy`` uses), validates every file, and converts it to Metadata API format. The
npm packages are installed from the committed lock file (``npm ci``) once and reused while the
lock file is unchanged. Skipped, saying why, where node or npm is not installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SDR_DIR = Path(__file__).with_name("sdr")
PROJECT = REPO / "deploy" / "salesforce"
SOURCE = PROJECT / "force-app" / "main" / "default"


def _npm_ci() -> None:
    # Test workers (pytest-xdist) share the folder: one installs while the others wait.
    with (SDR_DIR / ".npm-ci.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        _npm_ci_unlocked()


def _npm_ci_unlocked() -> None:
    lock = (SDR_DIR / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock).hexdigest()
    marker = SDR_DIR / "node_modules" / ".sfsync-lock-sha256"
    if marker.is_file() and marker.read_text() == digest:
        return
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=SDR_DIR, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    marker.write_text(digest)


def _check(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", "check.mjs", str(project)],
        cwd=SDR_DIR, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sdr() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not installed: the Salesforce metadata check needs Node.js 20+ and npm"
        )
    _npm_ci()


def test_the_metadata_converts_with_source_deploy_retrieve(sdr: None) -> None:
    result = _check(PROJECT)
    assert result.returncode == 0, result.stderr
    components = json.loads(result.stdout.splitlines()[-1])["components"]
    fields = sorted(
        f"{path.parent.parent.name}.{path.name.split('.')[0]}"
        for path in SOURCE.glob("objects/*/fields/*.field-meta.xml")
    )
    assert components["CustomField"] == fields
    assert "Health_Score_History__c" in components["CustomObject"]
    assert {"Account-en_US", "Activity-en_US", "Health_Score_History__c-en_US"} <= set(
        components["CustomObjectTranslation"]
    )
    assert components["PermissionSet"] == ["sfsync_CSM", "sfsync_Integration", "sfsync_Manager"]
    assert components["Layout"] == ["Account-sfsync Account Layout"]
    assert len(components["ListView"]) == len(list(SOURCE.glob("objects/*/listViews/*.xml")))
    assert components["FlexiPage"] == ["sfsync_Account_Record_Page"]
    assert components["ReportType"] == [
        "sfsync_Accounts_With_Score_History", "sfsync_Tasks_With_Sync_Key"
    ]  # fmt: skip
    assert components["ReportFolder"] == ["sfsync_Reports"]
    assert sorted(components["Report"]) == sorted(
        f"sfsync_Reports/{p.name.split('.')[0]}" for p in SOURCE.glob("reports/*/*.report-meta.xml")
    )
    assert len(components["Report"]) == 4
    assert components["Flow"] == ["sfsync_Tutorial_Completed_Task"]
    assert components["DashboardFolder"] == ["sfsync_Dashboards"]
    assert components["Dashboard"] == ["sfsync_Dashboards/sfsync_Manager_Dashboard"]


def test_a_broken_file_fails_the_check(sdr: None, tmp_path: Path) -> None:
    copy = tmp_path / "salesforce"
    shutil.copytree(PROJECT, copy)
    field = copy / "force-app/main/default/objects/Account/fields/Health_Score__c.field-meta.xml"
    field.write_text(
        field.read_text(encoding="utf-8").replace("</label>", "</labl>"), encoding="utf-8"
    )
    result = _check(copy)
    assert result.returncode != 0
    assert "Health_Score__c.field-meta.xml" in result.stderr
