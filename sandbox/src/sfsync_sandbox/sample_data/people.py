"""Users of the sample org: the CS team of seed 001, generated CSMs for big books."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sfsync_sandbox.ids import make_id

OWNER_CAP = 30
EXTRA_OWNER_LOAD = 25
EMAIL_DOMAIN = "nexpro.example"
USERNAME_SUFFIX = ".sandbox"
# the user sfsync runs as: the same record the sandbox org ensures (sfsync_sandbox)
INTEGRATION_USER_ID = make_id("User", 1, pod="0I")
INTEGRATION_USERNAME = "sfsync.integration@sandbox.sfsync.invalid"
INTEGRATION_EMAIL = "sfsync-integration@example.invalid"

# (surname, romanised login, manager's login or None, accounts held in the default book)
NAMED_OWNERS: list[tuple[str, str, str | None, int]] = [
    ("糸谷", "itoya", None, 8),
    ("嘉生", "kasei", "itoya", 21),
    ("津田", "tsuda", "kasei", 30),
    ("鈴木", "suzuki", "kasei", 30),
    ("高見", "takami", "kasei", 25),
    ("酒井", "sakai", "kasei", 25),
    ("盛島", "morishima", "itoya", 8),
    ("山田", "yamada", "itoya", 3),
]
# probability of tiers S, A, B for each named owner (head and biz-dev hold big accounts)
_OWNER_TIER_P = {
    "itoya": (0.9, 0.1, 0.0),
    "kasei": (0.2, 0.5, 0.3),
    "morishima": (1.0, 0.0, 0.0),
    "yamada": (0.0, 0.7, 0.3),
}
_CSM_TIER_P = (0.06, 0.30, 0.64)
_GIVEN_NAMES = ("健", "翔", "彩", "美咲", "大輔", "奈々", "拓海", "由衣", "誠", "葵")
_GENERATED_SURNAMES = (
    ("佐藤", "sato"), ("高橋", "takahashi"), ("田中", "tanaka"), ("伊藤", "ito"),
    ("渡辺", "watanabe"), ("中村", "nakamura"), ("小林", "kobayashi"), ("加藤", "kato"),
    ("吉田", "yoshida"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
)  # fmt: skip


def owner_plan(accounts: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Users and the owner of each account, in account order (caps of SPEC §5 respected)."""
    base = np.array([n for *_, n in NAMED_OWNERS])
    if accounts <= base.sum():
        share = base * accounts / base.sum()
        counts = np.floor(share).astype(np.int64)
        remainder = accounts - counts.sum()
        counts[np.argsort(-(share - counts), kind="stable")[:remainder]] += 1
        extra = 0
    else:
        counts = base.copy()
        rest = accounts - base.sum()
        extra = -(-rest // EXTRA_OWNER_LOAD)
        per = np.full(extra, rest // extra, dtype=np.int64)
        per[: rest % extra] += 1
        counts = np.concatenate([counts, per])

    rows: list[dict] = []
    number = 1
    key_to_id: dict[str, str] = {}
    for surname, roman, manager, _ in NAMED_OWNERS:
        uid = make_id("User", number)
        key_to_id[roman] = uid
        rows.append(_user_row(uid, surname, roman, key_to_id.get(manager) if manager else None))
        number += 1
    teams = -(-extra // 8) if extra else 0
    manager_ids = []
    for t in range(teams):
        uid = make_id("User", number)
        number += 1
        surname, roman = _GENERATED_SURNAMES[t % len(_GENERATED_SURNAMES)]
        rows.append(
            _user_row(uid, f"{surname}（MGR{t + 1:03d}）", f"mgr{t + 1:03d}", key_to_id["itoya"])
        )
        manager_ids.append(uid)
    for e in range(extra):
        uid = make_id("User", number)
        number += 1
        surname, roman = _GENERATED_SURNAMES[e % len(_GENERATED_SURNAMES)]
        given = _GIVEN_NAMES[(e // len(_GENERATED_SURNAMES)) % len(_GIVEN_NAMES)]
        rows.append(
            _user_row(
                uid, f"{surname} {given}{e + 1:05d}", f"{roman}.{e + 1:05d}", manager_ids[e // 8]
            )
        )
    # managers of generated teams own no accounts
    owner_ids = [r["Id"] for r in rows[: len(NAMED_OWNERS)]] + [
        r["Id"] for r in rows[len(NAMED_OWNERS) + teams :]
    ]
    rows.append(
        {
            "Id": INTEGRATION_USER_ID,
            "Name": "sfsync Integration",
            "Username": INTEGRATION_USERNAME,
            "Email": INTEGRATION_EMAIL,
            "ManagerId": None,
            "IsActive": True,
        }
    )
    rows.append(
        {
            **_user_row(make_id("User", number), "前田", "maeda", key_to_id["kasei"]),
            "IsActive": False,
        }
    )
    users = pd.DataFrame(rows)
    users["IsActive"] = users["IsActive"].astype(bool)
    owner_of = np.repeat(np.asarray(owner_ids, dtype=object), counts)
    return users, owner_of


def _user_row(uid: str, name: str, roman: str, manager_id: str | None) -> dict:
    return {
        "Id": uid,
        "Name": name,
        "Username": f"{roman}@{EMAIL_DOMAIN}{USERNAME_SUFFIX}",
        "Email": f"{roman}@{EMAIL_DOMAIN}",
        "ManagerId": manager_id,
        "IsActive": True,
    }


def tiers(rng: np.random.Generator, owner_of: np.ndarray, users: pd.DataFrame) -> np.ndarray:
    """Tier S/A/B of each account, drawn from its owner's profile (head and biz-dev: big accounts)."""
    roman = users.set_index("Id")["Username"].str.split("@").str[0]
    keys = roman.reindex(owner_of).to_numpy()
    n = len(owner_of)
    probs = np.tile(np.asarray(_CSM_TIER_P), (n, 1))
    for key, p in _OWNER_TIER_P.items():
        probs[keys == key] = p
    u = rng.random(n)
    cum = probs.cumsum(axis=1)
    return np.asarray(("S", "A", "B"), dtype=object)[(u[:, None] > cum).sum(axis=1).clip(0, 2)]
