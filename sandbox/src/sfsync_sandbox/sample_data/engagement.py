"""Tech-touch engagement logs of the sample book (seed 000): mails, videos, documents, tutorial.

Per tenant and month: ``email_delivered`` (step mails, monthly tips and release notices sent to
the tenant's users), ``email_opens``, ``email_clicks``, ``video_views``, ``document_views``,
and per tenant the date the product tutorial was completed (``tutorial_completed_at``).

Engagement tells the story the talk describes, so that signals and calibration find something:

- accounts that churn stop reading: their open and click rates fall over the three months
  before they leave (about 60 %, 35 % and 15 % of normal) and so do their video and document
  views; most of them never completed the tutorial;
- ``declining`` accounts (at risk today) open at most a third as often in the scoring month as
  in the three months before;
- new accounts at risk (``low_usage``, ``declining``, ``idle``, ``ticket_spike`` in their
  first three months) have watched no onboarding video and not completed the tutorial;
- the ``rising`` accounts and about a quarter of the ``healthy`` ones show growing interest:
  video and document views of the last three months at 1.3×, 1.7× and 2.4× their usual level.

Drawn from its own generator (``rng``), so that adding engagement leaves every other sample
figure (and so every default score) as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# months before churn (3, 2, 1) -> share of the usual open/click rate and content views
_CHURN_FADE = {3: 0.6, 2: 0.35, 1: 0.15}
_RISING = (1.3, 1.7, 2.4)  # the last three months' views against the usual level
_AT_RISK = ("low_usage", "declining", "idle", "ticket_spike")
_TUTORIAL_P = {"healthy": 0.95, "rising": 0.97, "near_limit": 0.95, "competitor": 0.9,
               "low_usage": 0.4, "declining": 0.7, "idle": 0.6, "ticket_spike": 0.75,
               "churned": 0.3}  # fmt: skip
NEW_MONTHS = 3  # a tenant in its first three months of rows is "new"

# the sample content catalogue: (content id, kind); views split over it at random
CONTENT = (
    ("video-onboarding-1", "video"),
    ("video-onboarding-2", "video"),
    ("video-tips-webinar-setup", "video"),
    ("doc-manual", "document"),
    ("doc-faq", "document"),
    ("doc-case-study", "document"),
    ("mail-step", "mail"),
    ("mail-tips", "mail"),
    ("mail-release", "mail"),
)


@dataclass(frozen=True)
class Engagement:
    """Engagement arrays of shape (tenants, months) plus the tutorial date per tenant."""

    email_delivered: np.ndarray
    email_opens: np.ndarray
    email_clicks: np.ndarray
    video_views: np.ndarray
    document_views: np.ndarray
    tutorial_completed_at: np.ndarray  # datetime64[D] per tenant, NaT: not completed
    rising: np.ndarray  # bool per tenant: interest rising over the last three months


def engagement(
    rng: np.random.Generator,
    archetype: np.ndarray,
    exists: np.ndarray,
    months: np.ndarray,
    to_go: np.ndarray,
    churned: np.ndarray,
    as_of: np.datetime64,
) -> Engagement:
    """Engagement for ``t`` tenants over ``months`` (datetime64[M], oldest first).

    ``exists`` (t, m) marks the months a tenant is a customer, ``to_go`` (t, m) the months until
    its churn month (meaningful where ``churned``). See the module docstring for the story.
    """
    t, m_count = exists.shape
    s = m_count - 1

    def is_(*names: str) -> np.ndarray:
        return np.isin(archetype, names)

    months_in = np.cumsum(exists, axis=1)
    new = exists[:, s] & (months_in[:, s] <= NEW_MONTHS)
    risky_new = new & is_(*_AT_RISK)

    # mails: step mails are denser in the first months
    base_mail = rng.uniform(6, 24, t)[:, None] + np.where(months_in <= NEW_MONTHS, 6, 0)
    delivered = rng.poisson(base_mail).astype(float)
    open_rate = rng.uniform(0.35, 0.6, t)
    open_rate[is_("low_usage")] = rng.uniform(0.1, 0.3, is_("low_usage").sum())
    click_rate = rng.uniform(0.15, 0.35, t)

    fade = np.ones((t, m_count))
    for months_left, share in _CHURN_FADE.items():
        fade[churned[:, None] & (to_go == months_left)] = share
    declining = is_("declining")
    fade[declining, s] = rng.uniform(0.1, 0.3, declining.sum())

    opens = rng.binomial(delivered.astype(np.int64), np.clip(open_rate[:, None] * fade, 0, 1))
    clicks = rng.binomial(opens, np.clip(click_rate[:, None] * fade, 0, 1))

    # content: videos and documents
    base_video = rng.uniform(4, 30, t)
    base_doc = rng.uniform(2, 15, t)
    quiet = is_("low_usage", "idle")
    base_video[quiet] = rng.uniform(0, 3, quiet.sum())
    base_doc[quiet] = rng.uniform(0, 2, quiet.sum())
    onboarding = np.where(months_in <= NEW_MONTHS, 8.0, 0.0)  # onboarding videos early on
    interest = np.ones((t, m_count))
    rising = is_("rising") | (is_("healthy") & (rng.random(t) < 0.25))
    interest[rising, s - 2 : s + 1] = _RISING
    video = rng.poisson((base_video[:, None] + onboarding) * fade * interest).astype(float)
    document = rng.poisson(base_doc[:, None] * fade * interest).astype(float)
    video[risky_new] = 0.0  # new accounts at risk never watched the onboarding videos

    # tutorial: completed 2-45 days into the tenant's first month, or never
    p = pd.Series(archetype).map(_TUTORIAL_P).fillna(0.9).to_numpy(dtype=float)
    done = (rng.random(t) < p) & ~risky_new
    first = np.argmax(exists, axis=1)
    first_day = months[first].astype("datetime64[D]")
    completed_at = first_day + rng.integers(2, 46, t)
    done &= exists.any(axis=1) & (completed_at < as_of)
    completed_at = np.where(done, completed_at, np.datetime64("NaT"))

    none = ~exists
    for values in (delivered, video, document):
        values[none] = 0.0
    return Engagement(
        email_delivered=delivered,
        email_opens=np.where(none, 0, opens).astype(float),
        email_clicks=np.where(none, 0, clicks).astype(float),
        video_views=video,
        document_views=document,
        tutorial_completed_at=completed_at.astype("datetime64[D]"),
        rising=rising,
    )


def tutorial_completed(completed_at: np.ndarray, months: np.ndarray) -> np.ndarray:
    """(t, m) bool: the tutorial was completed by the end of each month."""
    month_end = (months + 1).astype("datetime64[D]") - 1
    return ~np.isnat(completed_at)[:, None] & (completed_at[:, None] <= month_end[None, :])


def content_log(usage: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The per-content log behind ``usage``'s engagement columns: one row per tenant, month and
    content with views (mail: opens), and a completion ratio for videos and documents.

    The views of each kind sum to the tenant-month's ``video_views``, ``document_views`` and
    ``email_opens`` exactly, so aggregating the log gives the usage columns back.
    """
    rng = np.random.default_rng([seed, 14])
    parts = []
    for kind, column in (("video", "video_views"), ("document", "document_views"),
                         ("mail", "email_opens")):  # fmt: skip
        ids = [c for c, k in CONTENT if k == kind]
        totals = usage[column].fillna(0).to_numpy(dtype=np.int64)
        split = rng.multinomial(totals, np.full(len(ids), 1 / len(ids)))
        rows, which = np.nonzero(split)
        ratio = (
            np.round(rng.uniform(0.3, 1.0, len(rows)), 2)
            if kind != "mail"
            else np.full(len(rows), np.nan)
        )
        parts.append(
            pd.DataFrame(
                {
                    "tenant_id": usage["tenant_id"].to_numpy()[rows],
                    "month": usage["month"].to_numpy()[rows],
                    "content_id": np.asarray(ids, dtype=object)[which],
                    "kind": kind,
                    "views": split[rows, which].astype(float),
                    "completion_ratio": ratio,
                }
            )
        )
    log = pd.concat(parts, ignore_index=True)
    return log.sort_values(["tenant_id", "month", "content_id"], ignore_index=True)
