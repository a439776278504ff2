"""Monthly product usage per tenant, shaped by each account's behaviour archetype."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sfsync_sandbox.sample_data.accounts import INDUSTRY_BENCHMARKS
from sfsync_sandbox.sample_data.engagement import engagement, tutorial_completed

USAGE_MONTHS = 13
_FADE_MONTHS = 4  # a churned tenant's usage fades over this many months before it leaves


def usage_rows(
    rng: np.random.Generator,
    tenant_ids: np.ndarray,
    archetype: np.ndarray,
    industry: np.ndarray,
    contract_start: np.ndarray,
    as_of: np.datetime64,
    churn_date: np.ndarray | None = None,
    engagement_rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """Canonical usage rows for the 13 months before ``as_of``; idle tenant-months omitted.

    A churned tenant (``churn_date`` set, archetype ``churned``) fades over the
    ``_FADE_MONTHS`` months before its churn month (fewer deliveries and logins, more tickets)
    and has no row from its churn month on; its last login is before the churn date.
    The engagement columns (``sample_data/engagement.py``) come from ``engagement_rng``
    (default: seeded with 0), so that they leave the draws of ``rng`` as they were.
    """
    t = len(tenant_ids)
    if churn_date is None:
        churn_date = np.full(t, np.datetime64("NaT"), dtype="datetime64[D]")
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
    steady = ~np.isin(archetype, ("low_usage", "idle", "churned"))
    login[steady] = np.maximum(login[steady], 6)
    low = is_("low_usage")
    login[low] = (rng.random((low.sum(), m_count)) < 0.75).astype(float)
    # steady tenants trip neither the drop nor the rising rule by accident:
    # previous month >= 3, scoring month within [0.6, 1.5) x previous and >= 3
    keep = steady & ~is_("declining") & ~is_("rising")
    deliveries[keep, p] = np.maximum(deliveries[keep, p], 3)
    prev = deliveries[keep, p]
    deliveries[keep, s] = np.clip(
        deliveries[keep, s], np.maximum(np.ceil(prev * 0.6), 3), np.ceil(prev * 1.5) - 1
    )

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

    # churned: usage fades toward the churn month, (k / (FADE + 1)) ** 1.5 of normal with k
    # months to go: about 72 %, 46 %, 25 %, 9 % over the last four months
    gone = ~np.isnat(churn_date)
    churn_month = churn_date.astype("datetime64[M]")
    to_go = (churn_month[:, None] - months[None, :]).astype(np.int64)  # months until churn
    fade = np.clip(to_go / (_FADE_MONTHS + 1), 0.0, 1.0) ** 1.5
    fade = np.where(gone[:, None], fade, 1.0)
    deliveries = np.floor(deliveries * fade)
    login = np.floor(login * fade)
    late = gone[:, None] & (to_go >= 1) & (to_go <= 2)
    tickets[late] += rng.integers(1, 3, late.sum())

    # rows exist only from the contract start month and while the tenant is active
    start_month = contract_start.astype("datetime64[M]")
    exists = months[None, :] >= start_month[:, None]
    exists |= np.isnat(contract_start)[:, None]
    exists &= ~gone[:, None] | (to_go >= 1)
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
    before_churn = np.where(gone, churn_date - 1, as_of - 1)
    last_login = np.minimum(last_login, before_churn[:, None])
    last_login = np.where(login > 0, last_login, np.datetime64("NaT"))

    # these draws once made the engagement columns; they stay so that the draws of `rng` that
    # follow (the activities) and so every default score are what they were
    rng.poisson(deliveries * rng.uniform(20, 120, t)[:, None])
    rng.binomial(rng.poisson(deliveries * rng.uniform(40, 200, t)[:, None]), 0.12)
    rng.random((t, m_count))
    eng = engagement(
        engagement_rng if engagement_rng is not None else np.random.default_rng(0),
        archetype,
        exists,
        months,
        to_go,
        gone,
        as_of,
    )
    tutorial = tutorial_completed(eng.tutorial_completed_at, months)

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
            "video_views": eng.video_views[ti, mi],
            "document_views": eng.document_views[ti, mi],
            "email_delivered": eng.email_delivered[ti, mi],
            "email_opens": eng.email_opens[ti, mi],
            "email_clicks": eng.email_clicks[ti, mi],
            "tutorial_completed": pd.array(tutorial[ti, mi], dtype="boolean"),
            "tutorial_completed_at": pd.to_datetime(eng.tutorial_completed_at[ti]),
        }
    )
    return frame
