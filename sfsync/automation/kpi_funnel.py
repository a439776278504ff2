"""The tech-touch funnel of the KPI report (seed 000: step mails and the tutorial, read as a
funnel for where customers drop out). Pure: frames in, :class:`FunnelReport` out.

Two funnels per month M (last day E), over the *book* at E (contract started on or before E
or unknown, not churned by E; as the other KPIs) with a linked tenant:

- **Mail**: *delivered* (accounts whose tenant was delivered at least one mail in M) →
  *opened* (of those, at least one open) → *clicked* (of those, at least one click). Each
  stage counts the accounts and the mails (delivered, opens and clicks of the stage's
  accounts, as the source counts them: unique opens and clicks expected). The drop-off of a
  stage is measured both ways: ``1 - mails / mails of the previous stage`` (the open rate and
  click-to-open rate turned around) and ``accounts that fell out / accounts of the previous
  stage``; the accounts that fell out are those of the previous stage without this stage's
  action. An empty cell counts as none; n/a without usage rows for M or without any
  ``email_delivered`` figure in them.
- **Tutorial**: *new accounts* (contract start within the ``onboarding_months`` months up to
  E, the onboarding window) → *started* → *completed*, each stage at E. The inputs hold no
  start of the tutorial itself, so a tutorial counts as **started** once the tenant viewed
  any video or document (``video_views``, ``document_views``) from its contract-start month
  to M — the onboarding content the tutorial leads through — or completed it; **completed**
  means ``tutorial_completed_at`` on or before E (else ``tutorial_completed`` in M's usage
  row). n/a without usage rows for M or when the usage does not reach back to a new
  account's contract-start month (its views are unknown), or without new accounts.

Every month of the report's window is computed; the accounts that fell out are kept for each
(the report lists the latest month with figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sfsync.sources.engagement import first_tutorial_completions

MAIL_STAGES = ("delivered", "opened", "clicked")
MAIL_COLUMNS = {"delivered": "email_delivered", "opened": "email_opens", "clicked": "email_clicks"}
TUTORIAL_STAGES = ("new_accounts", "started", "completed")
VIEW_COLUMNS = ("video_views", "document_views")


@dataclass(frozen=True)
class FellOut:
    """An account that reached the previous stage but not this one."""

    account_id: str
    name: str | None


@dataclass(frozen=True)
class Stage:
    """One funnel stage of one month. ``mails`` only in the mail funnel; the drop-offs are
    None at the first stage or when the previous stage is empty."""

    key: str
    accounts: int
    mails: float | None = None
    mail_drop: float | None = None
    account_drop: float | None = None
    fell_out: tuple[FellOut, ...] = ()


@dataclass(frozen=True)
class Funnel:
    """One funnel of one month: its stages, or why it is n/a (a ``kpi_funnel_reasons``
    code with its parameters)."""

    kind: str  # mail | tutorial
    month: str
    stages: tuple[Stage, ...] = ()
    reason: str | None = None
    reason_params: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def measured(self) -> bool:
        return bool(self.stages)


@dataclass(frozen=True)
class FunnelReport:
    """The mail and tutorial funnels of each month, oldest first."""

    months: tuple[str, ...]
    mail: tuple[Funnel, ...]
    tutorial: tuple[Funnel, ...]
    onboarding_months: int = 3  # the tutorial funnel's "new account" window

    def latest(self, kind: str) -> Funnel | None:
        """The latest month's funnel of ``kind`` with figures (None when there is none)."""
        funnels = self.mail if kind == "mail" else self.tutorial
        return next((f for f in reversed(funnels) if f.measured), None)

    @property
    def empty(self) -> bool:
        return not any(f.measured for f in (*self.mail, *self.tutorial))


def _month_end(month: str) -> pd.Timestamp:
    return pd.Timestamp(f"{month}-01") + pd.offsets.MonthEnd(0)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.to_datetime(frame[column], errors="coerce").astype("datetime64[ns]")


def _numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(0.0, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").fillna(0.0)


def _book(accounts: pd.DataFrame, end: pd.Timestamp, churn_column: str) -> pd.DataFrame:
    start = _dates(accounts, "contract_start")
    churned = _dates(accounts, churn_column)
    keep = (start.isna() | (start <= end)) & (churned.isna() | (churned > end))
    if "tenant_id" in accounts:
        keep &= accounts["tenant_id"].notna()
    else:
        keep &= False
    return accounts[keep]


def _fell_out(frame: pd.DataFrame, mask: pd.Series) -> tuple[FellOut, ...]:
    lost = frame[mask.to_numpy(dtype=bool)]
    names = lost["name"] if "name" in lost else pd.Series(None, index=lost.index, dtype=object)
    items = [
        FellOut(str(a), n if isinstance(n, str) and n else None)
        for a, n in zip(lost["account_id"], names, strict=True)
    ]
    return tuple(sorted(items, key=lambda f: (f.name or f.account_id, f.account_id)))


def _drop(now: float, before: float) -> float | None:
    return None if not before else 1.0 - now / before


def mail_funnel(book: pd.DataFrame, usage: pd.DataFrame, month: str) -> Funnel:
    """The mail funnel of ``month`` over ``book`` (linked accounts; rules: module doc)."""
    rows = usage[usage["month"].astype(str) == month]
    if rows.empty:
        return Funnel("mail", month, reason="no_usage_rows", reason_params={"month": month})
    if "email_delivered" not in rows or rows["email_delivered"].isna().all():
        return Funnel("mail", month, reason="no_mail_data", reason_params={"month": month})
    per_tenant = rows.drop_duplicates("tenant_id").set_index("tenant_id")
    frame = book[["account_id", *(c for c in ("name",) if c in book)]].copy()
    tenants = book["tenant_id"].to_numpy()
    for column in MAIL_COLUMNS.values():
        values = _numbers(per_tenant, column).reindex(tenants).fillna(0.0).to_numpy()
        frame[column] = values
    stages = []
    previous = pd.Series(True, index=frame.index)
    prev_accounts = prev_mails = None
    for key in MAIL_STAGES:
        column = MAIL_COLUMNS[key]
        reached = previous & (frame[column] > 0)
        accounts = int(reached.sum())
        mails = float(frame.loc[reached, column].sum())
        if prev_accounts is None:
            stages.append(Stage(key, accounts, mails))
        else:
            stages.append(
                Stage(
                    key,
                    accounts,
                    mails,
                    _drop(mails, prev_mails),
                    _drop(accounts, prev_accounts),
                    _fell_out(frame, previous & ~reached),
                )
            )
        previous, prev_accounts, prev_mails = reached, accounts, mails
    return Funnel("mail", month, tuple(stages))


def tutorial_funnel(
    book: pd.DataFrame, usage: pd.DataFrame, month: str, *, onboarding_months: int
) -> Funnel:
    """The tutorial funnel of ``month`` over the new accounts of ``book`` (rules: module doc)."""
    end = _month_end(month)
    months = usage["month"].astype(str)
    rows = usage[months == month]
    if rows.empty:
        return Funnel("tutorial", month, reason="no_usage_rows", reason_params={"month": month})
    start = _dates(book, "contract_start")
    new = book[(start > end - pd.DateOffset(months=onboarding_months)) & (start <= end)].copy()
    if new.empty:
        return Funnel(
            "tutorial",
            month,
            reason="no_new_accounts",
            reason_params={"month": month, "months": str(onboarding_months)},
        )
    first_month = _dates(new, "contract_start").dt.strftime("%Y-%m")
    if (first_month < months.min()).any():
        return Funnel(
            "tutorial",
            month,
            reason="usage_too_short",
            reason_params={"month": month, "from_month": str(first_month.min())},
        )
    # views from each new tenant's contract-start month to M
    views = sum(_numbers(usage, c) for c in VIEW_COLUMNS)
    frame = pd.DataFrame(
        {"tenant_id": usage["tenant_id"].to_numpy(), "month": months.to_numpy(), "views": views}
    )
    frame = frame.merge(
        pd.DataFrame({"tenant_id": new["tenant_id"].to_numpy(), "from": first_month.to_numpy()}),
        on="tenant_id",
    )
    viewed = frame[(frame["month"] >= frame["from"]) & (frame["month"] <= month)]
    viewers = set(viewed.loc[viewed["views"] > 0, "tenant_id"])
    tenants = new["tenant_id"].to_numpy()
    completed_on = first_tutorial_completions(usage).reindex(tenants).to_numpy()
    completed = ~pd.isna(completed_on) & (completed_on <= end.to_datetime64())
    if "tutorial_completed" in rows and not pd.notna(completed_on).any():
        flags = rows.drop_duplicates("tenant_id").set_index("tenant_id")["tutorial_completed"]
        completed = flags.reindex(tenants).astype("boolean").fillna(False).to_numpy(dtype=bool)
    completed = pd.Series(np.asarray(completed, dtype=bool), index=new.index)
    started = completed | pd.Series(np.isin(tenants, list(viewers)), index=new.index)
    everyone = pd.Series(True, index=new.index)
    stages = [Stage("new_accounts", len(new))]
    for key, reached, before in (
        ("started", started, everyone),
        ("completed", completed, started),
    ):
        stages.append(
            Stage(
                key,
                int(reached.sum()),
                account_drop=_drop(int(reached.sum()), int(before.sum())),
                fell_out=_fell_out(new, before & ~reached),
            )
        )
    return Funnel("tutorial", month, tuple(stages))


def funnel_report(
    months: list[str],
    *,
    accounts: pd.DataFrame | None,
    usage: pd.DataFrame | None,
    churn_column: str = "churned_on",
    onboarding_months: int = 3,
) -> FunnelReport | None:
    """The funnels of ``months`` (YYYY-MM, oldest first); None without accounts or usage."""
    if accounts is None or usage is None or "tenant_id" not in usage or "month" not in usage:
        return None
    mail, tutorial = [], []
    for month in months:
        book = _book(accounts, _month_end(month), churn_column)
        mail.append(mail_funnel(book, usage, month))
        tutorial.append(tutorial_funnel(book, usage, month, onboarding_months=onboarding_months))
    return FunnelReport(tuple(months), tuple(mail), tuple(tutorial), onboarding_months)
