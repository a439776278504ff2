"""contact_changed: the main contact differs from the stored snapshot's; never on a first run
or when either value is unknown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sfsync.catalogue import CHURN_CODES, signal
from sfsync.scoring.contact import contact_changed
from sfsync.scoring.rules import SignalRules, compute_signals

IDS = pd.Series(["a1", "a2", "a3", "a4", "a5"])


def _accounts(contacts):
    return pd.DataFrame({"account_id": IDS, "main_contact_id": contacts})


def test_changed_only_where_both_values_are_known_and_differ() -> None:
    baseline = pd.DataFrame(
        {"account_id": ["a1", "a2", "a3", "a4"], "main_contact_id": ["c1", "c2", None, "c4"]}
    )
    now = _accounts(["c1", "c9", "c3", None, "c5"])
    # a1 same; a2 changed; a3 unknown before; a4 unknown now; a5 not in the baseline
    assert contact_changed(IDS, now, baseline).tolist() == [False, True, False, False, False]


def test_never_on_a_first_run_or_without_the_field() -> None:
    now = _accounts(["c1", "c2", "c3", "c4", "c5"])
    assert not contact_changed(IDS, now, None).any()
    assert not contact_changed(IDS, now, pd.DataFrame(columns=["account_id"])).any()
    old = pd.DataFrame({"account_id": ["a1"], "owner_id": ["005x"]})  # snapshot without contacts
    assert not contact_changed(IDS, now, old).any()
    assert not contact_changed(IDS, now.drop(columns="main_contact_id"), old).any()


def test_blank_text_counts_as_unknown_and_the_last_stored_row_wins() -> None:
    baseline = pd.DataFrame(
        {"account_id": ["a1", "a1", "a2"], "main_contact_id": ["c0", "c1", "  "]}
    )
    now = _accounts(["c1", "c2", "", "x", "y"])
    assert contact_changed(IDS, now, baseline).tolist() == [False, False, False, False, False]


def test_the_rule_raises_a_medium_churn_signal_with_a_task() -> None:
    assert "contact_changed" in CHURN_CODES and signal("contact_changed").severity == "medium"
    n = 3
    frame = pd.DataFrame(
        {
            "days_since_contract_start": [400.0] * n,
            "days_since_last_login": [1.0] * n,
            "deliveries_this_month": [5.0] * n,
            "deliveries_previous_month": [5.0] * n,
            "support_tickets_this_month": [0.0] * n,
            "support_tickets_previous_month": [0.0] * n,
            "competitor_evaluation": [False] * n,
            "plan_usage_ratio": [0.1] * n,
        }
    )
    args = (frame, np.ones(n, bool), np.array(["green"] * n, dtype=object), np.zeros(n),
            np.array(["maturity"] * n, dtype=object))  # fmt: skip
    mask = np.array([False, True, False])
    found = {s.code: s for s in compute_signals(*args, SignalRules(), mask)}
    assert found["contact_changed"].active.tolist() == [False, True, False]
    assert found["contact_changed"].severity == "medium"
    off = SignalRules.model_validate({"contact_changed": {"enabled": False}})
    assert "contact_changed" not in {s.code for s in compute_signals(*args, off, mask)}
    assert not {s.code: s for s in compute_signals(*args, SignalRules())}[
        "contact_changed"
    ].active.any()
