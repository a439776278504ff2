"""The worklist in the owners' digests over real HTTP (the sandbox's Slack Web API): every
owner's morning list on the first run of a day, never twice a day, and the playbook setting
``touch_model.worklist_in_digest`` (always / with_signals / never)."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from slack_helpers import DAY0, PLAYBOOK, by_kind, notifier, run, signals, slack_server

slack = pytest.fixture(slack_server, name="slack")

# CS priority as the pipeline computes it (sfsync.automation.touch): 005A's book is 001S, 001G
TOUCH = pd.DataFrame(
    {
        "account_id": ["001S", "001B", "001G"],
        "owner_id": ["005A", "005B", "005A"],
        "cs_priority": [1, 1, 2],
    }
)
ONLY_BETA = signals(("001B", "deliveries_drop"))


def _with(mode: str):
    touch = PLAYBOOK.touch_model.model_copy(update={"worklist_in_digest": mode})
    return PLAYBOOK.model_copy(update={"touch_model": touch})


def _digests(slack) -> list[str]:
    return [
        json.dumps(m["blocks"], ensure_ascii=False)
        for m in by_kind(slack.messages, "#cs-alerts")
        if "実行サマリー" not in m["text"]
    ]


def test_always_every_owner_gets_the_list_on_the_first_run_of_a_day_only(store, slack):
    n = notifier(store, slack.base_url)
    first = run(n, DAY0, ONLY_BETA, 1, worklist=TOUCH)
    assert first.owner_digests == 2  # 鈴木's new signal; 津田's calm list
    texts = [m["text"] for m in by_kind(slack.messages, "#cs-alerts")]
    assert any(t.startswith("担当顧客の新着") and "鈴木" in t for t in texts)
    assert "今日の優先顧客（2025-03-15）：<@U0TSUDA> 上位 2 社" in texts
    calm = next(b for b in _digests(slack) if "<@U0TSUDA>" in b)
    assert calm.index("1. <https://example.my.salesforce.com/lightning/r/Account/001S/view|") < (
        calm.index("2. <https://example.my.salesforce.com/lightning/r/Account/001G/view|")
    )
    beta = next(b for b in _digests(slack) if "鈴木" in b)
    assert "今日の優先顧客 上位 1 社" in beta and "月間配信数が前月比50%以下" in beta

    # a second run of the same day: no new signal, and the lists went out this morning
    slack.clear()
    again = run(n, DAY0, ONLY_BETA, 2, worklist=TOUCH)
    assert again.owner_digests == 0 and _digests(slack) == []
    # a new signal later that day: its digest carries the list; no calm digests
    slack.clear()
    later = run(n, DAY0, signals(("001B", "deliveries_drop"), ("001S", "red_band")), 3,
                worklist=TOUCH)  # fmt: skip
    assert later.owner_digests == 1
    assert "今日の優先顧客 上位 2 社" in _digests(slack)[0]
    # the next morning everyone gets the list again
    slack.clear()
    nxt = run(n, DAY0 + timedelta(days=1), ONLY_BETA, 4, worklist=TOUCH)
    assert nxt.owner_digests == 2 and len(_digests(slack)) == 2


@pytest.mark.parametrize(
    ("mode", "calm", "listed"), [("with_signals", 0, True), ("never", 0, False)]
)
def test_with_signals_and_never(store, slack, mode, calm, listed):
    n = notifier(store, slack.base_url)
    n.playbook = _with(mode)
    first = run(n, DAY0, ONLY_BETA, 1, worklist=TOUCH)
    assert first.owner_digests == 1 + calm
    (digest,) = _digests(slack)
    assert ("今日の優先顧客" in digest) is listed
