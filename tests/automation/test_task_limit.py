"""The per-owner daily limit of new Tasks: ranking and splitting (pure), the plan it leaves,
and the state store's count of the Tasks created per owner and day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from sfsync.automation.playbook import load_playbook
from sfsync.automation.task_limit import (
    DEFERRED_REASON,
    apply_limit,
    defer_in_plan,
    new_tasks,
    rank_new_tasks,
)
from sfsync.plan import Plan, TaskChange
from sfsync.state.task_quota import created_on, keys_on, prune_task_creations, record_created

ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["aS", "aA", "aB", "aC", "aA2"],
        "segment": ["S", "A", "B", "C", "A"],
        "arr": [9e6, 2e6, 5e5, 1e5, 3e6],
    }
)


def _tasks(*rows) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"sync_key": k, "account_id": a, "owner_id": o, "subject": k, "priority": p}
            for k, a, o, p in rows
        ]
    )


def test_ranking_severity_then_segment_then_arr():
    tasks = _tasks(
        ("qbr:aA:2025Q1", "aA", "u1", "Normal"),
        ("signal:deliveries_drop:aC:2025-02", "aC", "u1", "High"),
        ("signal:no_login_60d:aB:2025-02", "aB", "u1", "High"),
        ("signal:no_login_60d:aA:2025-02", "aA", "u1", "High"),
        ("signal:no_login_60d:aA2:2025-02", "aA2", "u1", "High"),
        ("renewal:aC:2025-05", "aC", "u1", "High"),
        ("touch:aB:2025-03", "aB", "u1", "Low"),
    )
    ranked = rank_new_tasks(tasks, ACCOUNTS, exempt_urgent=True)
    assert list(ranked["sync_key"]) == [
        "signal:no_login_60d:aA2:2025-02",  # high, A, ARR 3M
        "signal:no_login_60d:aA:2025-02",  # high, A, ARR 2M
        "signal:no_login_60d:aB:2025-02",  # high, B
        "renewal:aC:2025-05",  # priority High = high, C
        "qbr:aA:2025Q1",  # Normal = medium, A
        "signal:deliveries_drop:aC:2025-02",  # medium signal, C
        "touch:aB:2025-03",  # Low
    ]
    assert not ranked["exempt"].any()  # no S-segment account


def test_the_limit_counts_earlier_tasks_of_the_day_and_spares_urgent_s_tasks():
    tasks = _tasks(
        *[(f"touch:aB:{i}", "aB", "u1", "Normal") for i in range(5)],
        ("signal:no_login_60d:aS:2025-02", "aS", "u1", "High"),
        ("signal:no_login_60d:aS2:2025-02", "aS", "u1", "High"),
        *[(f"touch:aC:{i}", "aC", "u2", "Normal") for i in range(3)],
        *[(f"touch:none:{i}", "aC", None, "Normal") for i in range(3)],
    )
    ranked = rank_new_tasks(tasks, ACCOUNTS, exempt_urgent=True)
    split = apply_limit(ranked, {"u1": 2}, limit=3)
    kept = split.kept.groupby(split.kept["owner_id"].fillna("-")).size().to_dict()
    # u1: 2 created earlier today; both urgent S Tasks are created anyway (and count), so no
    # other u1 Task fits; u2 gets 3; the owner-less group is limited like one owner
    assert kept == {"u1": 2, "u2": 3, "-": 3}
    assert set(split.kept.loc[split.kept["owner_id"] == "u1", "segment"]) == {"S"}
    assert len(split.deferred) == 5 and set(split.deferred["owner_id"]) == {"u1"}

    strict = apply_limit(rank_new_tasks(tasks, ACCOUNTS, exempt_urgent=False), {"u1": 2}, 3)
    assert list(strict.kept.loc[strict.kept["owner_id"] == "u1", "segment"]) == ["S"]

    # keys an interrupted attempt of the day already counted are kept and not counted twice
    resumed = apply_limit(ranked, {"u2": 3}, 3, counted={"touch:aC:0", "touch:aC:1", "touch:aC:2"})
    assert (resumed.kept["owner_id"] == "u2").sum() == 3

    unlimited = apply_limit(ranked, {"u1": 50}, None)
    assert len(unlimited.kept) == len(tasks) and unlimited.deferred.empty


def test_deferred_creates_become_skips_in_the_plan():
    plan = Plan(
        "Account",
        "Id",
        tasks=(
            TaskChange("k1", "create", "new", "a1", fields={"OwnerId": "u1", "Subject": "s1"}),
            TaskChange(
                "k2",
                "create",
                "new",
                "a1",
                fields={"OwnerId": "u1", "Subject": "s2", "Description": "long"},
            ),
            TaskChange("k3", "update", "changed", "a1", "00T1", {"Subject": "s3"}),
        ),
    )
    assert list(new_tasks(plan)["sync_key"]) == ["k1", "k2"]
    after = defer_in_plan(plan, {"k2", "k3"})
    assert [(t.sync_key, t.action) for t in after.tasks] == [
        ("k1", "create"),
        ("k2", "skip"),
        ("k3", "update"),  # only creations are deferred
    ]
    assert after.tasks[1].reason == DEFERRED_REASON
    assert after.tasks[1].fields == {}  # rendered the night that creates it
    assert plan.tasks[1].fields["Description"] == "long"  # the plan given is left as it was
    assert after.totals()["tasks_skipped"] == {DEFERRED_REASON: 1}


def test_the_playbook_setting_defaults_and_validation(tmp_path):
    playbook = load_playbook("mappings/playbook.yaml")
    assert playbook.task_limit.per_owner_per_day == 10 and playbook.task_limit.exempt_urgent
    text = Path("mappings/playbook.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "playbook.yaml"
    bad.write_text(text.replace("per_owner_per_day: 10", "per_owner_per_day: 0"), "utf-8")
    with pytest.raises(Exception) as exc:
        load_playbook(bad)
    assert "task_limit.per_owner_per_day" in str(exc.value)
    bad.write_text(text.replace("per_owner_per_day: 10", "per_owner_per_day: null"), "utf-8")
    assert load_playbook(bad).task_limit.per_owner_per_day is None


def test_tasks_created_per_owner_and_day_are_counted_once(store):
    day = date(2025, 3, 15)
    assert (
        record_created(
            store, as_of=day, run_id=1, created=[("k1", "u1"), ("k2", "u1"), ("k3", None)]
        )
        == 3
    )
    # a re-run reporting the same keys (and a key already counted on an earlier day) adds none
    assert (
        record_created(
            store, as_of=date(2025, 3, 16), run_id=2, created=[("k1", "u1"), ("k4", "u2")]
        )
        == 1
    )
    assert created_on(store, day) == {"u1": 2, "": 1}
    assert keys_on(store, day) == {"k1", "k2", "k3"}
    assert created_on(store, date(2025, 3, 16)) == {"u2": 1}
    assert prune_task_creations(store, before=date(2025, 3, 16)) == 3
    assert created_on(store, day) == {}
