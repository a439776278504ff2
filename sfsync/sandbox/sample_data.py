"""Deterministic sample book of business for the sandbox: users, accounts, activities, usage.

The default book (``accounts=150``) mirrors the company of seed 001: a webinar SaaS with a CS
team of eight owners (糸谷, head of CS, manages 嘉生, 盛島 and 山田; 嘉生, CS manager, manages
津田, 鈴木, 高見 and 酒井) holding 8 / 21 / 30 / 30 / 25 / 25 / 8 / 3 accounts (never more than
30 each, SPEC §5), plus the integration user that sfsync runs as and one deactivated former CSM.
Larger books (``accounts=100_000`` for benchmarks) keep the eight named owners and add generated
CSMs with at most 25 accounts each, grouped in teams of eight under generated managers.

Each account gets a *tier* that drives ARR and touch frequency, a *lifecycle phase* that drives
its contract dates, and a behaviour *archetype* that drives its usage rows, so that the default
scorecard produces a spread of bands, segments, phases and signals:

============== ======= =================================================================
archetype      share   usage in the scoring month (the last complete month before as_of)
============== ======= =================================================================
healthy        ~44 %   3–9 deliveries, 8–20 login days, steady; recently touched
low_usage      ~14 %   0–1 deliveries, 0–1 login days, months often idle (segment C)
declining       ~8 %   deliveries ≤ 50 % of the previous month (``deliveries_drop``)
idle            ~6 %   no usage row for ≥ 3 months, last login ≥ 60 days ago (``no_login_60d``)
ticket_spike    ~6 %   ≥ 3 support tickets and ≥ 2× the previous month (``tickets_rising``)
near_limit      ~7 %   plan usage ratio ≥ 0.8 (upsell ``near_plan_limit``)
rising          ~7 %   deliveries ≥ 1.5× the previous month and ≥ 3 (``deliveries_rising``)
competitor      ~4 %   ordinary usage, ``Competitor_Evaluation__c`` true (``competitor``)
unlinked       ~4 %   no ``Tenant_Id__c``: usage not applicable (``unlinked_tenant``)
============== ======= =================================================================

Onboarding accounts (contract < 3 months) only have usage since their contract start.
Tiers: ``S`` (ARR ≥ 5M JPY or ``Enterprise__c``), ``A`` (1M–5M), ``B`` (< 1M). B accounts with
the ``low_usage`` archetype fall into segment C. Phases (by contract dates as of ``as_of``):
onboarding ~8 %, adoption ~10 %, expansion ~15 %, renewal ~15 % (a few already past their
renewal date), maturity the rest; ~1 % have no contract start, ~1 % no renewal date.
Activities: completed Tasks (Call/Email/Meeting) and past Events (Meeting/QBR) with the latest
touch < 30, 30–59, ≥ 60 days ago or never, meetings in the last quarter more likely for S/A,
plus open Tasks due in the future. Names are mostly Japanese (株式会社…), a few English, and a
handful carry apostrophes, quotes and backslashes to exercise quoting.

``SampleData.profiles`` records each account's tier, phase and archetype (the generator's
intent), for tests, demos and benchmarks; it is not loaded into any service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from sfsync.sandbox.ids import KEY_PREFIXES, make_id

__all__ = ["ARCHETYPES", "INDUSTRY_BENCHMARKS", "SampleData", "generate"]

USAGE_MONTHS = 13
OWNER_CAP = 30
EXTRA_OWNER_LOAD = 25
EMAIL_DOMAIN = "nexpro.example"
USERNAME_SUFFIX = ".sandbox"

# (surname, romanised, title, manager index or None, default account count)
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

ARCHETYPES = (
    "healthy",
    "low_usage",
    "declining",
    "idle",
    "ticket_spike",
    "near_limit",
    "rising",
    "competitor",
    "unlinked",
)
_ARCHETYPE_P = np.array([0.44, 0.14, 0.08, 0.06, 0.06, 0.07, 0.07, 0.04, 0.04])
_PHASES = ("onboarding", "adoption", "expansion", "renewal", "maturity")
_PHASE_P = np.array([0.08, 0.10, 0.15, 0.15, 0.52])

# industry -> typical pipeline conversion rate (a matching benchmark file gives a spread)
INDUSTRY_BENCHMARKS = {
    "Manufacturing": 0.12,
    "Finance": 0.10,
    "IT": 0.15,
    "Education": 0.08,
    "Healthcare": 0.09,
    "Retail": 0.11,
    "Consulting": 0.14,
}
_INDUSTRIES = tuple(INDUSTRY_BENCHMARKS)
_INDUSTRY_P = np.array([0.24, 0.14, 0.22, 0.10, 0.10, 0.12, 0.08])
_INDUSTRY_SUFFIX = {
    "Manufacturing": ("製作所", "工業", "精工", "電機"),
    "Finance": ("銀行", "証券", "保険", "ファイナンス"),
    "IT": ("システムズ", "テクノロジーズ", "ソフト", "ネットワークス"),
    "Education": ("学園", "教育", "アカデミー", "スクール"),
    "Healthcare": ("メディカル", "製薬", "ヘルスケア", "ライフサイエンス"),
    "Retail": ("商事", "ストア", "リテール", "物産"),
    "Consulting": ("コンサルティング", "総研", "パートナーズ", "アドバイザリー"),
}
_STEMS = (
    "青葉",
    "東都",
    "みらい",
    "北斗",
    "桜",
    "富士",
    "大和",
    "光",
    "日本",
    "中央",
    "新星",
    "丸の内",
    "湘南",
    "瀬戸",
    "白樺",
    "若葉",
    "朝日",
    "三つ葉",
    "ひかり",
    "豊洲",
    "信濃",
    "出雲",
    "常盤",
    "飛鳥",
    "紀州",
    "筑波",
    "那須",
    "琴平",
    "松風",
    "双葉",
)
_STEMS2 = ("", "ネクスト", "グローバル", "デジタル", "総合", "ユナイテッド", "第一", "西日本")
_ENGLISH = ("Blue Ocean", "Summit", "Northwind", "Brightpath", "Evergreen", "Silverline")
_ENGLISH_SUFFIX = ("K.K.", "Japan G.K.", "Inc.", "Co., Ltd.")
_HOSTILE_NAMES = (
    "O'Reilly & Sons 株式会社",
    '株式会社"クォート"テスト',
    "Back\\slash Trading K.K.",
    "株式会社 ダブル''アポ % _ワイルド",
    "Semi;colon, Comma \"Ltd\" ' OR '1'='1",
)
_GIVEN_NAMES = ("健", "翔", "彩", "美咲", "大輔", "奈々", "拓海", "由衣", "誠", "葵")
_GENERATED_SURNAMES = (
    ("佐藤", "sato"), ("高橋", "takahashi"), ("田中", "tanaka"), ("伊藤", "ito"),
    ("渡辺", "watanabe"), ("中村", "nakamura"), ("小林", "kobayashi"), ("加藤", "kato"),
    ("吉田", "yoshida"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
)  # fmt: skip

_TASK_SUBJECTS = {
    "Call": ("活用状況ヒアリング（電話）", "配信前フォロー電話", "更新意向確認の電話"),
    "Email": ("活用Tipsメール送付", "新機能のご案内", "配信レポート送付"),
    "Meeting": ("定例MTG", "改善提案MTG", "配信後振り返りMTG"),
}
_EVENT_SUBJECTS = {
    "Meeting": ("キックオフMTG", "定例ミーティング", "配信前チェックMTG"),
    "QBR": ("QBR（四半期ビジネスレビュー）",),
}


@dataclass(frozen=True)
class SampleData:
    """The generated book: frames in Salesforce field names, usage in canonical columns."""

    users: pd.DataFrame
    accounts: pd.DataFrame
    tasks: pd.DataFrame
    events: pd.DataFrame
    usage: pd.DataFrame
    profiles: pd.DataFrame
    as_of: date

    def slack_users(self) -> list[dict]:
        """Active users as ``{"id", "name", "email"}`` dicts for the Slack sandbox."""
        active = self.users[self.users["IsActive"]]
        return [
            {"id": f"U{i:08d}", "name": name, "email": email}
            for i, (name, email) in enumerate(
                zip(active["Name"], active["Email"], strict=True), start=1
            )
        ]


# ---------------------------------------------------------------------------- date helpers


def _add_months(days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """Add calendar months to ``datetime64[D]`` values, clamping the day (vectorised)."""
    ym = days.astype("datetime64[M]")
    day = (days - ym.astype("datetime64[D]")).astype(np.int64)
    new_ym = ym + np.asarray(months, dtype=np.int64)
    month_len = ((new_ym + 1).astype("datetime64[D]") - new_ym.astype("datetime64[D]")).astype(
        np.int64
    )
    return new_ym.astype("datetime64[D]") + np.minimum(day, month_len - 1)


_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_SUFFIX_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", np.uint8)


def make_ids(sobject: str, count: int, pod: str = "5g") -> np.ndarray:
    """``[make_id(sobject, 1), ..., make_id(sobject, count)]`` as an object array, vectorised."""
    head = np.frombuffer((KEY_PREFIXES.get(sobject, "a0Z") + pod).encode(), np.uint8)
    numbers = np.arange(1, count + 1, dtype=np.int64)
    digits = np.empty((count, 10), dtype=np.int64)
    for pos in range(9, -1, -1):
        numbers, digits[:, pos] = np.divmod(numbers, 62)
    body = _BASE62[digits]
    id15 = np.concatenate([np.broadcast_to(head, (count, 5)), body], axis=1)
    upper = (id15 >= ord("A")) & (id15 <= ord("Z"))
    weights = 1 << np.arange(5)
    bits = (upper.reshape(count, 3, 5) * weights).sum(axis=2)
    full = np.ascontiguousarray(np.concatenate([id15, _SUFFIX_ALPHABET[bits]], axis=1))
    return full.view("S18").ravel().astype(str).astype(object)


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


# ---------------------------------------------------------------------------- users


def _owner_plan(accounts: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Users and the number of accounts each owner holds (caps of SPEC §5 respected)."""
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
            "Id": make_id("User", number),
            "Name": "sfsync 連携ユーザー",
            "Username": f"integration@{EMAIL_DOMAIN}{USERNAME_SUFFIX}",
            "Email": f"integration@{EMAIL_DOMAIN}",
            "ManagerId": None,
            "IsActive": True,
        }
    )
    rows.append(
        {
            **_user_row(make_id("User", number + 1), "前田", "maeda", key_to_id["kasei"]),
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


# ---------------------------------------------------------------------------- accounts


def _tiers(rng: np.random.Generator, owner_of: np.ndarray, users: pd.DataFrame) -> np.ndarray:
    roman = users.set_index("Id")["Username"].str.split("@").str[0]
    keys = roman.reindex(owner_of).to_numpy()
    n = len(owner_of)
    probs = np.tile(np.asarray(_CSM_TIER_P), (n, 1))
    for key, p in _OWNER_TIER_P.items():
        probs[keys == key] = p
    u = rng.random(n)
    cum = probs.cumsum(axis=1)
    return np.asarray(("S", "A", "B"), dtype=object)[(u[:, None] > cum).sum(axis=1).clip(0, 2)]


def _contract_dates(
    rng: np.random.Generator, phase: np.ndarray, as_of: np.datetime64
) -> tuple[np.ndarray, np.ndarray]:
    n = len(phase)
    start = np.empty(n, dtype="datetime64[D]")
    renewal = np.empty(n, dtype="datetime64[D]")
    for name, (lo, hi) in {
        "onboarding": (0, 80),
        "adoption": (95, 175),
        "expansion": (186, 285),
    }.items():
        m = phase == name
        start[m] = as_of - rng.integers(lo, hi + 1, m.sum())
        renewal[m] = _add_months(start[m], 12)
    m = phase == "renewal"
    days_ahead = rng.integers(1, 59, m.sum())
    past = rng.random(m.sum()) < 0.12
    days_ahead[past] = -rng.integers(1, 20, past.sum())
    renewal[m] = as_of + days_ahead
    start[m] = _add_months(renewal[m], -12 * rng.integers(1, 4, m.sum()))
    m = phase == "maturity"
    renewal[m] = as_of + rng.integers(75, 350, m.sum())
    start[m] = _add_months(renewal[m], -12 * rng.integers(2, 6, m.sum()))
    return start, renewal


def _company_names(rng: np.random.Generator, industry: np.ndarray) -> np.ndarray:
    n = len(industry)
    stem = _pick(rng, _STEMS, n) + _pick(rng, _STEMS2, n)
    suffix = np.empty(n, dtype=object)
    for ind, options in _INDUSTRY_SUFFIX.items():
        m = industry == ind
        suffix[m] = _pick(rng, options, m.sum())
    prefix_form = rng.random(n) < 0.6
    names = np.where(prefix_form, "株式会社" + stem + suffix, stem + suffix + "株式会社")
    english = rng.random(n) < 0.06
    names[english] = (
        _pick(rng, _ENGLISH, english.sum()) + " " + _pick(rng, _ENGLISH_SUFFIX, english.sum())
    )
    hostile_at = np.arange(17, n, max(n // len(_HOSTILE_NAMES), 30))[: len(_HOSTILE_NAMES)]
    names[hostile_at] = np.asarray(_HOSTILE_NAMES, dtype=object)[: len(hostile_at)]
    return names


def _arr(rng: np.random.Generator, tier: np.ndarray) -> np.ndarray:
    n = len(tier)
    arr = np.empty(n)
    s, a, b = tier == "S", tier == "A", tier == "B"
    arr[s] = np.exp(rng.normal(np.log(8_000_000), 0.4, s.sum()))
    arr[a] = rng.uniform(1_000_000, 4_900_000, a.sum())
    arr[b] = rng.uniform(240_000, 960_000, b.sum())
    return np.round(arr, -4)


# ---------------------------------------------------------------------------- usage


def _usage(
    rng: np.random.Generator,
    tenant_ids: np.ndarray,
    archetype: np.ndarray,
    industry: np.ndarray,
    contract_start: np.ndarray,
    as_of: np.datetime64,
) -> pd.DataFrame:
    t = len(tenant_ids)
    scoring = as_of.astype("datetime64[M]") - 1
    months = scoring - np.arange(USAGE_MONTHS - 1, -1, -1)  # oldest first
    m_count = len(months)
    s, p = m_count - 1, m_count - 2  # indices of the scoring and previous month

    def is_(name: str) -> np.ndarray:
        return archetype == name

    base_del = rng.uniform(3.5, 7.5, t)
    base_del[is_("low_usage")] = rng.uniform(0.1, 0.6, is_("low_usage").sum())
    base_login = rng.uniform(8, 18, t)
    base_login[is_("low_usage")] = rng.uniform(0.2, 1.0, is_("low_usage").sum())
    trend = np.ones((t, m_count)) * rng.uniform(0.85, 1.15, (t, m_count))
    deliveries = rng.poisson(base_del[:, None] * trend).astype(float)
    login = np.minimum(rng.poisson(base_login[:, None] * trend), 22).astype(float)
    steady = ~np.isin(archetype, ("low_usage", "idle"))
    login[steady] = np.maximum(login[steady], 6)
    low = is_("low_usage")
    login[low] = (rng.random((low.sum(), m_count)) < 0.75).astype(float)
    # healthy-looking tenants never trip the drop rule by accident
    keep = steady & ~is_("declining")
    deliveries[keep, s] = np.maximum(deliveries[keep, s], np.ceil(deliveries[keep, p] * 0.6))
    deliveries[keep, s] = np.maximum(deliveries[keep, s], 3)

    m = is_("declining")
    deliveries[m, p] = rng.integers(5, 10, m.sum())
    deliveries[m, s] = np.floor(deliveries[m, p] * rng.uniform(0.0, 0.5, m.sum()))
    login[m, s] = rng.integers(1, 6, m.sum())
    m = is_("rising")
    deliveries[m, p] = rng.integers(2, 5, m.sum())
    deliveries[m, s] = np.ceil(deliveries[m, p] * rng.uniform(1.6, 2.6, m.sum()))
    deliveries[m, :p] = np.minimum(deliveries[m, :p], deliveries[m, p][:, None])

    tickets = rng.binomial(2, 0.25, (t, m_count)).astype(float)
    m = is_("ticket_spike")
    tickets[m, p] = rng.integers(0, 2, m.sum())
    tickets[m, s] = np.maximum(3, 2 * tickets[m, p] + rng.integers(1, 4, m.sum()))

    ratio = np.clip(
        rng.uniform(0.2, 0.6, t)[:, None] + np.linspace(-0.08, 0.08, m_count)[None, :], 0.02, 0.74
    )
    m = is_("near_limit")
    ratio[m] = np.clip(
        rng.uniform(0.82, 0.97, m.sum())[:, None] - np.linspace(0.3, 0.0, m_count)[None, :],
        0.05,
        0.99,
    )
    ratio[low] = np.minimum(ratio[low], 0.1)

    bench = pd.Series(industry).map(INDUSTRY_BENCHMARKS).to_numpy(dtype=float)
    rate = np.clip(
        (bench * rng.uniform(0.55, 1.5, t))[:, None] * rng.uniform(0.95, 1.05, (t, m_count)),
        0.0,
        1.0,
    )

    # rows exist only from the contract start month and while the tenant is active
    start_month = contract_start.astype("datetime64[M]")
    exists = months[None, :] >= start_month[:, None]
    exists |= np.isnat(contract_start)[:, None]
    idle = is_("idle")
    stop = s - rng.integers(3, 7, t)
    exists[idle] &= np.arange(m_count)[None, :] <= stop[idle][:, None]
    deliveries[~exists] = 0
    login[~exists] = 0
    active = (deliveries > 0) | (login > 0)

    month_start = months.astype("datetime64[D]")
    month_len = ((months + 1).astype("datetime64[D]") - month_start).astype(np.int64)
    offset = np.minimum(
        np.floor(month_len[None, :] - rng.uniform(0, 1, (t, m_count)) * np.minimum(login * 2, 10)),
        month_len[None, :] - 1,
    ).astype(np.int64)
    offset = np.maximum(offset, 0)
    last_login = month_start[None, :] + offset
    last_login = np.minimum(last_login, as_of - 1)
    last_login = np.where(login > 0, last_login, np.datetime64("NaT"))

    views = rng.poisson(deliveries * rng.uniform(20, 120, t)[:, None]).astype(float)
    opens = rng.poisson(deliveries * rng.uniform(40, 200, t)[:, None]).astype(float)
    clicks = rng.binomial(opens.astype(np.int64), 0.12).astype(float)
    months_in = np.cumsum(exists, axis=1)
    tutorial = (months_in >= 2) | (rng.random((t, m_count)) < 0.3)

    ti, mi = np.nonzero(active)
    frame = pd.DataFrame(
        {
            "tenant_id": pd.array(tenant_ids[ti], dtype="str"),
            "month": pd.array(np.datetime_as_string(months, unit="M")[mi], dtype="str"),
            "deliveries": deliveries[ti, mi],
            "login_days": login[ti, mi],
            "last_login_date": pd.to_datetime(last_login[ti, mi]),
            "pipeline_conversion_rate": np.round(rate[ti, mi], 4),
            "plan_usage_ratio": np.round(ratio[ti, mi], 3),
            "support_tickets": tickets[ti, mi],
            "video_views": views[ti, mi],
            "email_opens": opens[ti, mi],
            "email_clicks": clicks[ti, mi],
            "tutorial_completed": pd.array(tutorial[ti, mi], dtype="boolean"),
        }
    )
    return frame


# ---------------------------------------------------------------------------- activities


def _activities(
    rng: np.random.Generator,
    account_ids: np.ndarray,
    owner_of: np.ndarray,
    tier: np.ndarray,
    archetype: np.ndarray,
    contract_start: np.ndarray,
    as_of: np.datetime64,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(account_ids)
    # latest completed touch: <30 days, 30-59, >=60, or never
    bucket_p = np.tile([0.62, 0.2, 0.12, 0.06], (n, 1))
    far = np.isin(archetype, ("idle", "low_usage", "declining"))
    bucket_p[far] = [0.25, 0.3, 0.3, 0.15]
    bucket = (rng.random(n)[:, None] > bucket_p.cumsum(axis=1)).sum(axis=1).clip(0, 3)
    latest = np.select(
        [bucket == 0, bucket == 1, bucket == 2],
        [rng.integers(1, 30, n), rng.integers(30, 60, n), rng.integers(60, 200, n)],
        -1,
    )
    age = (as_of - np.where(np.isnat(contract_start), as_of - 2000, contract_start)).astype(
        np.int64
    )
    latest = np.where((latest > age) & (latest >= 0), np.maximum(age, 0), latest)
    touched = latest >= 0

    per_tier = {"S": 8, "A": 5, "B": 2}
    lam = pd.Series(tier).map(per_tier).to_numpy(dtype=float)
    extra = np.where(touched, rng.poisson(lam), 0)
    count = touched.astype(np.int64) + extra
    acc = np.repeat(np.arange(n), count)
    first = np.zeros(len(acc), dtype=bool)
    first[np.cumsum(count)[touched] - count[touched]] = True
    span = np.maximum(np.minimum(age[acc], 365) - latest[acc], 1)
    days_ago = np.where(first, latest[acc], latest[acc] + rng.integers(0, 1 << 30, len(acc)) % span)
    is_event = rng.random(len(acc)) < np.where(np.isin(tier[acc], ("S", "A")), 0.45, 0.2)
    # meetings in the last quarter: S/A most, B rarely
    meet_p = pd.Series(tier).map({"S": 0.85, "A": 0.6, "B": 0.2}).to_numpy(dtype=float)
    meeting_acc = touched & (rng.random(n) < meet_p) & (latest < 80)

    dates = as_of - days_ago
    ev_type = np.where(rng.random(len(acc)) < 0.3, "QBR", "Meeting")
    task_type = _pick(rng, ("Call", "Email", "Call", "Email", "Meeting"), len(acc))
    # ensure the chosen accounts have an Event meeting in the quarter
    q_idx = np.cumsum(count)[meeting_acc] - count[meeting_acc]
    is_event[q_idx] = True
    ev_type[q_idx] = np.where(tier[acc[q_idx]] == "S", "QBR", "Meeting")
    # other events must not add an unintended recent meeting
    recent = (days_ago < 90) & is_event & ~np.isin(np.arange(len(acc)), q_idx)
    is_event[recent] = False

    ev = np.nonzero(is_event)[0]
    tk = np.nonzero(~is_event)[0]
    events = pd.DataFrame(
        {
            "WhatId": account_ids[acc[ev]],
            "OwnerId": owner_of[acc[ev]],
            "Subject": _subjects(rng, ev_type[ev], _EVENT_SUBJECTS),
            "ActivityDate": dates[ev],
            "Type": ev_type[ev],
        }
    )
    # open tasks due in the future (not touches yet)
    open_acc = np.nonzero(rng.random(n) < 0.3)[0]
    open_type = _pick(rng, ("Call", "Email", "Meeting"), len(open_acc))
    tasks = pd.DataFrame(
        {
            "WhatId": np.concatenate([account_ids[acc[tk]], account_ids[open_acc]]),
            "OwnerId": np.concatenate([owner_of[acc[tk]], owner_of[open_acc]]),
            "Subject": np.concatenate(
                [
                    _subjects(rng, task_type[tk], _TASK_SUBJECTS),
                    _subjects(rng, open_type, _TASK_SUBJECTS),
                ]
            ),
            "Status": ["Completed"] * len(tk) + ["Not Started"] * len(open_acc),
            "ActivityDate": np.concatenate([dates[tk], as_of + rng.integers(1, 30, len(open_acc))]),
            "Type": np.concatenate([task_type[tk], open_type]),
            "Priority": np.where(rng.random(len(tk) + len(open_acc)) < 0.15, "High", "Normal"),
        }
    )
    tasks.insert(0, "Id", make_ids("Task", len(tasks)))
    events.insert(0, "Id", make_ids("Event", len(events)))
    for frame in (tasks, events):
        frame["ActivityDate"] = pd.to_datetime(frame["ActivityDate"])
    return tasks, events


def _subjects(
    rng: np.random.Generator, types: np.ndarray, options: dict[str, tuple[str, ...]]
) -> np.ndarray:
    out = np.empty(len(types), dtype=object)
    for key, subjects in options.items():
        m = types == key
        out[m] = _pick(rng, subjects, m.sum())
    return out


# ---------------------------------------------------------------------------- entry point


def generate(accounts: int = 150, seed: int = 7, as_of: date | None = None) -> SampleData:
    """Generate a deterministic sample book of ``accounts`` customer accounts.

    The same ``seed`` and ``as_of`` always give the same frames. ``as_of`` defaults to today;
    usage covers the 13 complete calendar months before it.
    """
    if accounts < 1:
        raise ValueError(f"accounts must be at least 1, got {accounts}")
    as_of = as_of or date.today()
    rng = np.random.default_rng([seed, as_of.toordinal()])
    today = np.datetime64(as_of, "D")

    users, owner_of = _owner_plan(accounts)
    n = accounts
    account_ids = make_ids("Account", n)
    tier = _tiers(rng, owner_of, users)
    archetype = np.asarray(ARCHETYPES, dtype=object)[rng.choice(len(ARCHETYPES), n, p=_ARCHETYPE_P)]
    phase = np.asarray(_PHASES, dtype=object)[rng.choice(len(_PHASES), n, p=_PHASE_P)]
    # make sure small books still show every archetype and phase
    if n >= 40:
        spots = rng.permutation(n)
        archetype[spots[: len(ARCHETYPES)]] = ARCHETYPES
        phase[spots[len(ARCHETYPES) : len(ARCHETYPES) + len(_PHASES)]] = _PHASES
    # big customers are rarely self-serve
    archetype[(tier == "S") & (archetype == "low_usage")] = "healthy"

    industry = np.asarray(_INDUSTRIES, dtype=object)[rng.choice(len(_INDUSTRIES), n, p=_INDUSTRY_P)]
    owner_key = users.set_index("Id")["Username"].str.split("@").str[0].reindex(owner_of)
    industry[(owner_key == "morishima").to_numpy()] = "Finance"
    industry[(owner_key == "yamada").to_numpy()] = "Consulting"

    start, renewal = _contract_dates(rng, phase, today)
    no_start = (rng.random(n) < 0.01) & (phase == "maturity")
    no_renewal = (rng.random(n) < 0.01) & (phase == "maturity") & ~no_start
    start[no_start] = np.datetime64("NaT")
    renewal[no_renewal] = np.datetime64("NaT")

    arr = _arr(rng, tier)
    enterprise = (tier == "S") & (rng.random(n) < 0.5)
    arr[enterprise & (rng.random(n) < 0.3)] = np.round(rng.uniform(2e6, 4.8e6), -4)
    tenant = np.asarray([f"tnt-{i + 1:06d}" for i in range(n)], dtype=object)
    linked = archetype != "unlinked"

    accounts_frame = pd.DataFrame(
        {
            "Id": account_ids,
            "Name": _company_names(rng, industry),
            "OwnerId": owner_of,
            "Industry": industry,
            "ARR__c": arr,
            "Enterprise__c": enterprise,
            "Contract_Start_Date__c": pd.to_datetime(start),
            "Renewal_Date__c": pd.to_datetime(renewal),
            "Tenant_Id__c": pd.array(np.where(linked, tenant, None), dtype="str"),
            "Competitor_Evaluation__c": archetype == "competitor",
        }
    )
    usage = _usage(rng, tenant[linked], archetype[linked], industry[linked], start[linked], today)
    tasks, events = _activities(rng, account_ids, owner_of, tier, archetype, start, today)
    profiles = pd.DataFrame(
        {"Id": account_ids, "tier": tier, "phase": phase, "archetype": archetype}
    )
    return SampleData(
        users=users,
        accounts=accounts_frame,
        tasks=tasks,
        events=events,
        usage=usage,
        profiles=profiles,
        as_of=as_of,
    )
