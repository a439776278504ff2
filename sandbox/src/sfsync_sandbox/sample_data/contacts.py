"""Customer contacts and the tech-touch Campaigns of the sample org (seed 000).

Every account has a primary contact (主担当, ``CS_Contact_Role__c`` = ``primary``); S and A
accounts also a decision maker (決裁者, ``decision_maker``) and most an admin (管理者); and
each account has zero to two users (利用者). About 3 % of contacts opted out of email. The
Campaigns are the talk's tech-touch mails (step mails, the tutorial-completed trigger mail,
monthly tips, release notices, the renewal reminder; :func:`campaigns`), active and without
members: sfsync adds the members (``mappings/campaigns.yaml``).

Each account's primary contact is its ``Main_Contact__c``; :func:`main_contacts` also names the
hand-overs a few customers announce between two months (about 4 % of the live accounts that
have a second contact hand over to it), so that ``contact_changed`` can be seen.

Drawn from generators of their own, so the rest of the book does not change.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from sfsync_sandbox.sample_data.common import make_ids

_SURNAMES = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
             "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "清水", "斎藤")  # fmt: skip
_GIVEN = ("陽子", "健太", "美穂", "直樹", "恵", "隆", "由美", "亮", "千尋", "浩二",
          "真理子", "大樹", "香織", "剛", "舞")  # fmt: skip
# role code -> (titles it is drawn from)
_TITLES = {
    "primary": ("マーケティング部 主任", "営業企画部 課長", "インサイドセールス リーダー"),
    "decision_maker": ("マーケティング部 部長", "執行役員", "営業本部長"),
    "admin": ("情報システム部", "マーケティング部 運用担当"),
    "user": ("マーケティング部", "インサイドセールス", "営業部"),
}
# The Campaigns of mappings/campaigns.yaml: step mails, the tutorial-completed trigger mail and
# release notices are one Campaign each (a contact joins once); the monthly tips and the renewal
# reminder are a series Campaign with a child per month (``<series> YYYY-MM``) or year
# (``<series> YYYY``), made a year ahead and back as a marketing team would.
CAMPAIGNS = (
    "テックタッチ: ステップメール 1日目（ようこそ）",
    "テックタッチ: ステップメール 7日目（動画で使い方を学ぶ）",
    "テックタッチ: ステップメール 30日目（初回配信の準備）",
    "テックタッチ: チュートリアル完了メール",
    "テックタッチ: リリース案内",
)
MONTHLY_SERIES = "テックタッチ: 月次Tipsメール"
YEARLY_SERIES = "テックタッチ: 更新案内（更新2ヶ月前）"
PERIODS_AROUND = 12  # months (and 1 year) before and after the as-of date


def contacts(
    seed: int, account_ids: np.ndarray, owner_of: np.ndarray, tier: np.ndarray
) -> pd.DataFrame:
    """Contact rows (Salesforce field names) for the accounts, in account order."""
    rng = np.random.default_rng([seed, 15])
    n = len(account_ids)
    big = np.isin(tier, ("S", "A"))
    roles = [np.full(n, True), big, big & (rng.random(n) < 0.7)]
    users = rng.integers(0, 3, n)
    role_names = ("primary", "decision_maker", "admin")
    account_idx, role = [], []
    for name, has in zip(role_names, roles, strict=True):
        account_idx.append(np.nonzero(has)[0])
        role.append(np.full(int(has.sum()), name, dtype=object))
    user_idx = np.repeat(np.arange(n), users)
    account_idx.append(user_idx)
    role.append(np.full(len(user_idx), "user", dtype=object))
    idx = np.concatenate(account_idx)
    role_arr = np.concatenate(role)
    order = np.lexsort((pd.Categorical(role_arr, [*role_names, "user"]).codes, idx))
    idx, role_arr = idx[order], role_arr[order]
    count = len(idx)
    last = np.asarray(_SURNAMES, dtype=object)[rng.integers(0, len(_SURNAMES), count)]
    first = np.asarray(_GIVEN, dtype=object)[rng.integers(0, len(_GIVEN), count)]
    role_names_all = (*role_names, "user")
    codes = pd.Categorical(role_arr, role_names_all).codes
    choices = np.array(
        [[_TITLES[r][k % len(_TITLES[r])] for k in range(3)] for r in role_names_all], dtype=object
    )
    title = choices[codes, rng.integers(0, 3, count)]
    number = np.arange(1, count + 1)
    return pd.DataFrame(
        {
            "Id": make_ids("Contact", count),
            "AccountId": account_ids[idx],
            "OwnerId": owner_of[idx],
            "LastName": last,
            "FirstName": first,
            "Email": "contact"
            + pd.Series(number).astype(str).str.zfill(7)
            + "@customer.example.jp",
            "Title": title,
            "CS_Contact_Role__c": role_arr,
            "HasOptedOutOfEmail": rng.random(count) < 0.03,
        }
    )


CHANGE_SHARE = 0.04  # live accounts whose main contact hands over between two months


def main_contacts(
    seed: int, contact_rows: pd.DataFrame, account_ids: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """``(main_contact, changes)``: each account's main contact Id (its primary contact, in
    account order) and the hand-overs (``Id``, ``Main_Contact__c``: the successor, the account's
    next contact) for about 4 % of the ``active`` accounts that have a second contact (at least
    one when any has)."""
    rng = np.random.default_rng(seed + 1)
    by_account = contact_rows.groupby("AccountId", sort=False)["Id"]
    first = by_account.nth(0).set_axis(contact_rows.loc[by_account.nth(0).index, "AccountId"])
    second = by_account.nth(1).set_axis(contact_rows.loc[by_account.nth(1).index, "AccountId"])
    main = first.reindex(account_ids).to_numpy(dtype=object)
    successor = second.reindex(account_ids)
    candidates = np.flatnonzero(np.asarray(active) & successor.notna().to_numpy())
    count = min(len(candidates), max(1, round(CHANGE_SHARE * len(candidates))))
    chosen = np.sort(rng.choice(candidates, count, replace=False)) if count else np.array([], int)
    changes = pd.DataFrame(
        {"Id": account_ids[chosen], "Main_Contact__c": successor.to_numpy(dtype=object)[chosen]}
    )
    return main, changes


def campaigns(as_of: date, owner_id: str) -> pd.DataFrame:
    """The tech-touch Campaigns (active Email Campaigns, running since a year before ``as_of``):
    :data:`CAMPAIGNS`, the two series and their children (months and years around ``as_of``)."""
    start = pd.Timestamp(as_of) - pd.DateOffset(years=1)
    months = pd.period_range(
        pd.Period(as_of, "M") - PERIODS_AROUND, pd.Period(as_of, "M") + PERIODS_AROUND, freq="M"
    )
    years = range(as_of.year - 1, as_of.year + 2)
    names = [*CAMPAIGNS, MONTHLY_SERIES, YEARLY_SERIES]
    ids = list(make_ids("Campaign", len(names) + len(months) + len(years)))
    parents = [None] * len(names)
    names += [f"{MONTHLY_SERIES} {m.strftime('%Y-%m')}" for m in months]
    parents += [ids[len(CAMPAIGNS)]] * len(months)
    names += [f"{YEARLY_SERIES} {y}" for y in years]
    parents += [ids[len(CAMPAIGNS) + 1]] * len(years)
    return pd.DataFrame(
        {
            "Id": ids,
            "Name": names,
            "ParentId": parents,
            "Type": "Email",
            "Status": "In Progress",
            "IsActive": True,
            "StartDate": start,
            "OwnerId": owner_id,
        }
    )
