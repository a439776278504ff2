"""``sfsync state prune``: the retention step from the command line (dry run, then for real)."""

from __future__ import annotations

from datetime import date, timedelta

from click.testing import CliRunner

from sfsync.cli import cli
from sfsync.errors import ConfigError
from sfsync.state import open_store, snapshot_dates
from sfsync.state.snapshots import score_snapshot_dates, score_snapshots
from tests.cli_process import add_settings, make_project


def test_prune_dry_run_then_prune(tmp_path):
    config = make_project(tmp_path / "project")
    add_settings(config, {"retention": {"daily_days": 40, "weekly_days": 60}})
    store = open_store(f"sqlite:///{config.parent / '.sfsync' / 'state.db'}")
    today = date(2025, 6, 30)
    days = [today - timedelta(days=i) for i in range(120)]
    # change rows as save_snapshots stores them (written at once: fast): 001A's score never
    # moves, 001B's moves every other night
    rows = [{"scorecard": "default", "account_id": "001B", "as_of": d, "health_score": i,
             "gone": False} for i, d in enumerate(sorted(days)) if i % 2 == 0]  # fmt: skip
    rows.append({"scorecard": "default", "account_id": "001A", "as_of": min(days),
                 "health_score": 50, "gone": False})  # fmt: skip
    with store.begin() as conn:
        conn.execute(score_snapshots.insert(), rows)
        conn.execute(score_snapshot_dates.insert(),
                     [{"scorecard": "default", "as_of": d, "accounts": 2} for d in days])  # fmt: skip
    args = ["--config", str(config), "state", "prune", "--as-of", today.isoformat()]

    dry = CliRunner().invoke(cli, [*args, "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing deleted" in dry.output and "would delete" in dry.output
    assert len(snapshot_dates(store, "default")) == 120

    real = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert real.exit_code == 0, real.output
    kept = snapshot_dates(store, "default")
    assert set(days[:40]) <= set(kept) and len(kept) < 60  # daily 40 days, then thinned
    again = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "nothing to prune" in again.output
    store.dispose()


def test_bad_retention_settings_name_the_key(tmp_path):
    config = make_project(tmp_path / "project")
    add_settings(config, {"retention": {"daily_days": 90, "weekly_days": 30}})
    result = CliRunner().invoke(cli, ["--config", str(config), "state", "prune", "--dry-run"])
    assert isinstance(result.exception, ConfigError)  # sfsync's main() prints it, exit 2
    assert str(result.exception) == (
        f"{config}: retention: weekly_days (30) must be at least daily_days (90)"
    )
