"""Account attributes: contract dates by phase, company names, ARR by tier."""

from __future__ import annotations

import numpy as np

from sfsync_sandbox.sample_data.common import add_months, pick

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
INDUSTRIES = tuple(INDUSTRY_BENCHMARKS)
INDUSTRY_P = np.array([0.24, 0.14, 0.22, 0.10, 0.10, 0.12, 0.08])
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


def contract_dates(
    rng: np.random.Generator, phase: np.ndarray, as_of: np.datetime64
) -> tuple[np.ndarray, np.ndarray]:
    """Contract start and renewal dates that put each account in its intended phase."""
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
        renewal[m] = add_months(start[m], 12)
    m = phase == "renewal"
    days_ahead = rng.integers(1, 59, m.sum())
    past = rng.random(m.sum()) < 0.12
    days_ahead[past] = -rng.integers(1, 20, past.sum())
    renewal[m] = as_of + days_ahead
    start[m] = add_months(renewal[m], -12 * rng.integers(1, 4, m.sum()))
    m = phase == "maturity"
    renewal[m] = as_of + rng.integers(75, 350, m.sum())
    start[m] = add_months(renewal[m], -12 * rng.integers(2, 6, m.sum()))
    return start, renewal


def company_names(rng: np.random.Generator, industry: np.ndarray) -> np.ndarray:
    """Company names: mostly Japanese by industry, a few English, a few hostile to quoting."""
    n = len(industry)
    stem = pick(rng, _STEMS, n) + pick(rng, _STEMS2, n)
    suffix = np.empty(n, dtype=object)
    for ind, options in _INDUSTRY_SUFFIX.items():
        m = industry == ind
        suffix[m] = pick(rng, options, m.sum())
    prefix_form = rng.random(n) < 0.6
    names = np.where(prefix_form, "株式会社" + stem + suffix, stem + suffix + "株式会社")
    english = rng.random(n) < 0.06
    names[english] = (
        pick(rng, _ENGLISH, english.sum()) + " " + pick(rng, _ENGLISH_SUFFIX, english.sum())
    )
    hostile_at = np.arange(17, n, max(n // len(_HOSTILE_NAMES), 30))[: len(_HOSTILE_NAMES)]
    names[hostile_at] = np.asarray(_HOSTILE_NAMES, dtype=object)[: len(hostile_at)]
    return names


def arr_by_tier(rng: np.random.Generator, tier: np.ndarray) -> np.ndarray:
    """Annual recurring revenue in JPY, rounded to 10,000, by tier."""
    n = len(tier)
    arr = np.empty(n)
    s, a, b = tier == "S", tier == "A", tier == "B"
    arr[s] = np.exp(rng.normal(np.log(8_000_000), 0.4, s.sum()))
    arr[a] = rng.uniform(1_000_000, 4_900_000, a.sum())
    arr[b] = rng.uniform(240_000, 960_000, b.sum())
    return np.round(arr, -4)
