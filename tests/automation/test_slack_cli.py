"""The real CLI against the sandbox with a Slack token that went bad: the run finishes (exit 0)
with a plain note naming the problem and its fix, no traceback; the alerts stay queued and the
next run, with Slack accepting the token again, delivers each of them once, mentions intact."""

from __future__ import annotations

import json
from collections import Counter

import requests

from tests.cli_process import make_project, run_sfsync


def _event(stderr: str, name: str) -> dict:
    for line in stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                return event
    raise AssertionError(f"no {name} event in:\n{stderr[-3000:]}")


def test_a_revoked_slack_token_is_a_note_and_the_next_run_delivers(tmp_path, sandbox_factory):
    sb = sandbox_factory(accounts=30)
    admin = sb.slack_base_url.replace("/api/", "/_sandbox/")
    put = requests.put(f"{admin}faults", json={"auth_error": "token_revoked"},
                       verify=sb.ca_bundle, timeout=10)  # fmt: skip
    put.raise_for_status()
    root = tmp_path / "project"
    config = make_project(root, state_url=f"sqlite:///{root / 'state.db'}")

    first = run_sfsync(config, sb, "run", "nightly", "--as-of", "2025-03-15")
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    assert "Traceback" not in first.stdout + first.stderr
    note = next(line for line in first.stdout.splitlines() if "note" in line and "Slack" in line)
    assert "token_revoked" in note and "reinstall the Slack app" in note
    assert "queued for the next run" in first.stdout
    finished = _event(first.stderr, "run_finished")
    assert finished["alerts_pending"] > 0 and finished["alerts_sent"] == 0
    assert any("token_revoked" in n for n in finished["notes"])
    assert sb.slack_token not in first.stdout + first.stderr

    requests.delete(f"{admin}faults", verify=sb.ca_bundle, timeout=10).raise_for_status()
    second = run_sfsync(config, sb, "run", "nightly", "--as-of", "2025-03-16")
    assert second.returncode == 0, second.stdout + second.stderr[-3000:]
    assert _event(second.stderr, "run_finished")["alerts_pending"] == 0
    messages = requests.get(f"{admin}messages", verify=sb.ca_bundle, timeout=10).json()
    keys = Counter(m["metadata"]["event_payload"]["dedupe_key"] for m in messages)
    assert keys and set(keys.values()) == {1}
    alerts = [m for m in messages if m["metadata"]["event_payload"]["kind"] == "owner_digest"]
    assert alerts and all("<@U" in m["text"] for m in alerts)  # every sample owner is in Slack
