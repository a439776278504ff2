"""The customers' main contacts: two Contacts per account, the first one its main contact
(``Main_Contact__c``), and the hand-overs a few customers announce between two months.

Drawn from their own random stream (``seed`` + 1), so that adding them changed nothing else
of the book.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sfsync_sandbox.sample_data.common import make_ids

_FAMILY = (
    "佐藤",
    "田中",
    "伊藤",
    "渡辺",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山本",
    "松本",
    "井上",
    "木村",
)
_GIVEN = ("美咲", "翔太", "陽菜", "健太", "結衣", "大輔", "彩", "拓也", "真由", "悠人")
_TITLES = ("マーケティング部 部長", "人事部 採用担当", "営業企画部 主任", "広報部 マネージャー")
CHANGE_SHARE = 0.04  # accounts whose main contact hands over between two months


def contacts(seed: int, account_ids: np.ndarray, owner_of: np.ndarray, active: np.ndarray):
    """``(contacts, main_contact, changes)``: the Contact rows (two per account), each
    account's main contact id, and the changes (``Id``, ``Main_Contact__c``: the successor)
    for about 4 % of the ``active`` accounts (at least one when any is active)."""
    rng = np.random.default_rng(seed + 1)
    n = len(account_ids)
    ids = make_ids("Contact", 2 * n)
    family = np.asarray(_FAMILY, dtype=object)[rng.integers(0, len(_FAMILY), 2 * n)]
    given = np.asarray(_GIVEN, dtype=object)[rng.integers(0, len(_GIVEN), 2 * n)]
    rows = pd.DataFrame(
        {
            "Id": ids,
            "FirstName": given,
            "LastName": family,
            "AccountId": np.repeat(account_ids, 2),
            "OwnerId": np.repeat(owner_of, 2),
            "Email": [f"contact{i + 1}@customer.example" for i in range(2 * n)],
            "Title": np.asarray(_TITLES, dtype=object)[rng.integers(0, len(_TITLES), 2 * n)],
        }
    )
    main = ids[0::2]
    candidates = np.flatnonzero(active)
    count = min(len(candidates), max(1, round(CHANGE_SHARE * len(candidates))))
    chosen = np.sort(rng.choice(candidates, count, replace=False)) if count else np.array([], int)
    changes = pd.DataFrame({"Id": account_ids[chosen], "Main_Contact__c": ids[1::2][chosen]})
    return rows, main, changes
