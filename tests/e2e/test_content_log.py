"""``sfsync run nightly --sandbox`` with a per-content engagement log: the practice org's
Metabase card 4 is read as ``usage.content_log``, validated and summed into the usage rows, and
the plan is the same as without it (the sample's per-tenant figures and the log agree; the
default scorecard does not read engagement)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.cli_process import REPO

CONTENT_LOG = """    content_log:
      kind: metabase
      card: 4
      parameters: {from_month: "{from_month}", to_month: "{as_of_month}"}
"""


def _dry_run(project, plan) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    args = ["run", "nightly", "--sandbox", "--dry-run", "--as-of", "2025-03-15"]
    return subprocess.run(
        [sys.executable, "-m", "sfsync", "--config", str(project.config), "--log-format", "json",
         *args, "--plan-out", str(plan)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _finished(result: subprocess.CompletedProcess) -> dict:
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return next(e for e in events if e.get("event") == "run_finished")


def test_the_content_log_card_feeds_the_nightly_run(project, tmp_path):
    without = _dry_run(project, tmp_path / "without.json")
    assert without.returncode == 0, without.stderr[-3000:]
    job = project.root / "jobs" / "nightly.yaml"
    text = job.read_text(encoding="utf-8")
    job.write_text(text.replace("    columns: metabase_usage\n",
                                "    columns: metabase_usage\n" + CONTENT_LOG, 1), "utf-8")  # fmt: skip
    with_log = _dry_run(project, tmp_path / "with.json")
    assert with_log.returncode == 0, with_log.stderr[-3000:]
    finished = _finished(with_log)
    assert finished["read"]["usage.content_log"] > 5 * finished["read"]["usage"] > 0
    assert finished["quarantined"]["usage.content_log"] == 0
    assert "usage.content_log" in with_log.stdout  # the summary's read line names it
    plans = [json.loads((tmp_path / f"{n}.json").read_text("utf-8")) for n in ("without", "with")]
    for key in ("records", "tasks"):
        rows = [sorted(json.dumps(r, sort_keys=True) for r in plan[key]) for plan in plans]
        assert rows[0] == rows[1], key
