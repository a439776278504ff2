"""Owner capacity against the segment caps and the overall cap."""

import pandas as pd

from sfsync.automation.capacity import capacity_lines, owner_capacity
from sfsync.automation.playbook import load_playbook

PLAYBOOK = load_playbook("mappings/playbook.yaml")


def book(owner: str, counts: dict[str, int]) -> pd.DataFrame:
    rows = []
    for seg, n in counts.items():
        rows += [
            {"account_id": f"{owner}-{seg}-{i}", "owner_id": owner, "segment": seg}
            for i in range(n)
        ]
    return pd.DataFrame(rows)


def test_caps_at_and_over_the_boundary():
    accounts = pd.concat(
        [
            book("005AT", {"S": 8, "A": 15, "B": 7}),  # every cap exactly reached, total 30
            book("005OVER", {"S": 9, "C": 22}),  # S over (9 > 8), total 31 > 30
            book("005SMALL", {"B": 3, "X": 1}),  # unknown segment counts as unsegmented
        ],
        ignore_index=True,
    )
    users = pd.DataFrame({"user_id": ["005OVER"], "name": ["鈴木"]})
    cap = owner_capacity(accounts, PLAYBOOK, users=users).set_index("owner_id")
    assert cap.loc["005AT", "accounts_total"] == 30
    assert not cap.loc["005AT", "over_cap"]
    assert cap.loc["005OVER", "over_segments"] == "S"
    assert cap.loc["005OVER", "over_total"]
    assert cap.loc["005OVER", "owner_name"] == "鈴木"
    assert cap.loc["005SMALL", "accounts_unsegmented"] == 1
    assert cap.loc["005AT", "load"] == round(8 / 8 + 15 / 15 + 7 / 20, 3)
    lines = capacity_lines(owner_capacity(accounts, PLAYBOOK, users=users), PLAYBOOK)
    assert lines == [
        {
            "owner_name": "鈴木",
            "owner_id": "005OVER",
            "accounts_total": "31",
            "overall_cap": "30",
            "details": "total 31/30, S 9/8",
        }
    ]


def test_segments_from_scores_frame():
    accounts = pd.DataFrame({"account_id": ["a", "b"], "owner_id": ["o", "o"]})
    scores = pd.DataFrame({"account_id": ["a", "b"], "segment": ["S", "C"]})
    cap = owner_capacity(accounts, PLAYBOOK, scores=scores)
    assert cap[["accounts_S", "accounts_C", "accounts_total"]].iloc[0].tolist() == [1, 1, 2]
