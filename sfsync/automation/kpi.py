"""Monthly KPIs of SPEC §7 (seed 001 §1). Pure: frames in, a :class:`KpiReport` out.

Definitions for month M (first day S, last day E); the *book* is the accounts whose contract
started on or before E (or is unknown) and that had not churned by E:

- ``churn_rate``: accounts with a churn date in the ``churn_window_months`` months ending at E,
  divided by the accounts active at the start of that window. Needs the playbook's
  ``churn_date_column`` in the accounts frame.
- ``nrr``: sum of MRR in M of the accounts that had MRR > 0 in month M - ``nrr_months``,
  divided by their MRR then (upsell, downgrade and churn included). Needs MRR data
  (account_id, month, mrr).
- ``average_score``, ``red_share``: each book account's latest snapshot dated in M (every
  snapshotted account when no accounts frame is given).
- ``active_rate``: book accounts with a linked tenant whose usage row for M has
  login_days >= 1, divided by the book accounts with a linked tenant.
- ``cadence_achievement``: book accounts (with a segment in M's snapshot) whose latest completed
  touch on or before E lies at most the segment's cadence_days before E.
- ``meetings_per_csm``: completed meetings and QBRs dated in M, divided by the book accounts
  (target: 0.5 per account, i.e. 0.5 × accounts per CSM); ``owners`` lists each owner.
- ``qbr_rate``: S/A accounts (segment in M's snapshot) with a completed QBR in the 3 months up
  to E (after E - 3 months, on or before E), divided by the S/A accounts.
- ``onboarding_completion``: accounts whose 3-month onboarding window ended in M (contract
  start + 3 months in M) that delivered (usage month with deliveries > 0 starting before
  contract start + 3 months), divided by those accounts.
- ``upsell_proposals``: distinct (account, upsell code) pairs seen in M's snapshots, plus
  upsell signal Tasks (sync key ``signal:<upsell code>:…``) dated in M not already counted.
A KPI whose inputs are missing is ``n/a`` with a reason code and its parameters (rendered by
the report and the CLI through the ``kpi_reasons`` templates); it is neither met nor
missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from sfsync.automation.playbook import Playbook
from sfsync.calendar import shift_month_text
from sfsync.catalogue import BANDS

KPI_KEYS = [
    "churn_rate",
    "nrr",
    "average_score",
    "red_share",
    "active_rate",
    "cadence_achievement",
    "meetings_per_csm",
    "qbr_rate",
    "onboarding_completion",
    "upsell_proposals",
]


def _num(v: float) -> str:
    """Counts as integers with thousands separators; other values with two decimals."""
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"


@dataclass(frozen=True)
class Kpi:
    """One KPI of one month: value against target, with the counts behind it."""

    key: str
    value: float | None
    target: float
    direction: str  # ">=" or "<="
    unit: str  # "%", "points", "ratio", "count"
    numerator: float | None = None
    denominator: float | None = None
    reason: str | None = None  # why it is n/a: a key of the kpi_reasons templates
    reason_params: dict[str, str] = field(default_factory=dict, hash=False)  # its placeholders

    @property
    def status(self) -> str:
        """``met``, ``not_met`` or ``na``."""
        if self.value is None:
            return "na"
        ok = self.value >= self.target if self.direction == ">=" else self.value <= self.target
        return "met" if ok else "not_met"

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.status == "met"

    def _fmt(self, v: float) -> str:
        if self.unit == "%":
            return f"{v * 100:.1f}%"
        if self.unit == "count":
            return f"{v:.0f}"
        if self.unit == "points":
            return f"{v:.1f}"
        return f"{v:.2f}"

    @property
    def value_text(self) -> str:
        return "n/a" if self.value is None else self._fmt(self.value)

    @property
    def target_text(self) -> str:
        return f"{'≥' if self.direction == '>=' else '≤'} {self._fmt(self.target)}"

    @property
    def counts_text(self) -> str:
        """The counts behind the value (empty when n/a: render :attr:`reason` instead)."""
        if self.value is None:
            return ""
        if self.numerator is None:
            return ""
        if self.denominator is None:
            return _num(self.numerator)
        return f"{_num(self.numerator)} / {_num(self.denominator)}"

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "value": self.value,
            "value_text": self.value_text,
            "target": self.target,
            "target_text": self.target_text,
            "status": self.status,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "reason": self.reason,
            "reason_params": dict(self.reason_params),
        }


@dataclass
class KpiReport:
    month: str
    kpis: list[Kpi]
    owners: pd.DataFrame = field(default_factory=pd.DataFrame)  # per-owner meetings vs target
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)  # M's latest snapshot per account

    def get(self, key: str) -> Kpi:
        return next(k for k in self.kpis if k.key == key)

    def rows(self) -> list[dict]:
        return [k.as_dict() for k in self.kpis]


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of ``YYYY-MM``."""
    start = pd.Timestamp(f"{month}-01")
    return start, start + pd.offsets.MonthEnd(0)


def month_snapshot(snapshots: pd.DataFrame | None, month: str) -> pd.DataFrame:
    """Each account's latest snapshot dated in ``month`` (empty when there is none)."""
    if snapshots is None or snapshots.empty:
        return pd.DataFrame(columns=["account_id", "as_of", "health_score", "health_band"])
    start, end = month_bounds(month)
    s = snapshots.copy()
    s["as_of"] = pd.to_datetime(s["as_of"])
    s = s[(s["as_of"] >= start) & (s["as_of"] <= end)]
    return s.sort_values("as_of").drop_duplicates("account_id", keep="last").reset_index(drop=True)


def _split_codes(value) -> list[str]:
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [c for c in str(value).split(";") if c]


def _dates(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.to_datetime(frame[col]).astype("datetime64[ns]")


Reason = tuple[str, dict[str, str]]  # (reason code, its template placeholders)


def _why(code: str, **params: str) -> Reason:
    return code, params


def _ratio(key, num, den, target, direction, unit, reason_if_empty: Reason | None) -> Kpi:
    if not den:
        code, params = reason_if_empty or (None, {})
        return Kpi(key, None, target, direction, unit, num, den, code, params)
    return Kpi(key, num / den, target, direction, unit, float(num), float(den))


def _na(key, target, direction, unit, reason: Reason) -> Kpi:
    return Kpi(key, None, target, direction, unit, reason=reason[0], reason_params=reason[1])


def compute_kpis(
    month: str,
    *,
    playbook: Playbook,
    snapshots: pd.DataFrame | None,
    accounts: pd.DataFrame | None = None,
    usage: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
    tasks: pd.DataFrame | None = None,
    mrr: pd.DataFrame | None = None,
) -> KpiReport:
    """The KPIs of ``month`` (``YYYY-MM``) against the playbook targets."""
    t = playbook.kpi
    start, end = month_bounds(month)
    snap = month_snapshot(snapshots, month)
    kpis: list[Kpi] = []

    book = None
    if accounts is not None:
        acc = accounts.copy()
        cs = _dates(acc, "contract_start")
        churned = _dates(acc, t.churn_date_column)
        book = acc[(cs.isna() | (cs <= end)) & (churned.isna() | (churned > end))]

    # churn rate
    if accounts is None:
        kpis.append(_na("churn_rate", t.churn_rate_max, "<=", "%", _why("no_accounts")))
    elif t.churn_date_column not in accounts:
        kpis.append(
            _na(
                "churn_rate",
                t.churn_rate_max,
                "<=",
                "%",
                _why("no_churn_column", column=t.churn_date_column),
            )
        )
    else:
        w_start = end - pd.DateOffset(months=t.churn_window_months) + pd.Timedelta(days=1)
        cs = _dates(accounts, "contract_start")
        churned = _dates(accounts, t.churn_date_column)
        base = (cs.isna() | (cs <= w_start)) & (churned.isna() | (churned >= w_start))
        lost = base & churned.notna() & (churned <= end)
        kpis.append(
            _ratio(
                "churn_rate",
                int(lost.sum()),
                int(base.sum()),
                t.churn_rate_max,
                "<=",
                "%",
                _why("no_accounts_at_window_start"),
            )
        )

    # NRR
    if mrr is None or mrr.empty:
        kpis.append(_na("nrr", t.nrr_min, ">=", "%", _why("no_mrr_data")))
    else:
        m = mrr.assign(month=mrr["month"].astype(str), mrr=pd.to_numeric(mrr["mrr"]))
        then = m[(m["month"] == shift_month_text(month, -t.nrr_months)) & (m["mrr"] > 0)]
        now = m[(m["month"] == month) & m["account_id"].isin(then["account_id"])]
        base_mrr = float(then["mrr"].sum())
        kpis.append(
            _ratio(
                "nrr",
                float(now["mrr"].sum()),
                base_mrr,
                t.nrr_min,
                ">=",
                "%",
                _why("no_mrr_in_month", month=shift_month_text(month, -t.nrr_months)),
            )
        )

    # score-based (accounts in the book when the accounts are known: churned ones drop out)
    scored = snap[snap["health_score"].notna()] if not snap.empty else snap
    if book is not None and not scored.empty:
        scored = scored[scored["account_id"].isin(set(book["account_id"]))]
    if scored.empty:
        reason = _why("no_snapshots", month=month)
        kpis.append(_na("average_score", t.average_score_min, ">=", "points", reason))
        kpis.append(_na("red_share", t.red_share_max, "<=", "%", reason))
    else:
        total = float(pd.to_numeric(scored["health_score"]).sum())
        kpis.append(
            _ratio("average_score", total, len(scored), t.average_score_min, ">=", "points", None)
        )
        red = int((scored["health_band"] == "red").sum())
        kpis.append(_ratio("red_share", red, len(scored), t.red_share_max, "<=", "%", None))

    # monthly active rate
    if book is None or usage is None or "tenant_id" not in book:
        kpis.append(_na("active_rate", t.active_rate_min, ">=", "%", _why("needs_accounts_usage")))
    else:
        linked = book[book["tenant_id"].notna()]
        rows = usage[usage["month"].astype(str) == month]
        u = rows[rows["login_days"].fillna(0) >= 1]
        active = int(linked["tenant_id"].isin(set(u["tenant_id"])).sum())
        if rows.empty:  # no usage extracted for the month is unknown, not "nobody logged in"
            kpis.append(
                _na("active_rate", t.active_rate_min, ">=", "%", _why("no_usage_rows", month=month))
            )
        else:
            kpis.append(
                _ratio(
                    "active_rate",
                    active,
                    len(linked),
                    t.active_rate_min,
                    ">=",
                    "%",
                    _why("no_linked_tenants"),
                )
            )

    done = None
    if activities is not None:
        d = _dates(activities, "date")
        done = activities.assign(date=d)[
            activities["completed"].fillna(False).astype(bool) & (d <= end)
        ]

    segments = (
        snap.set_index("account_id")["segment"]
        if not snap.empty and "segment" in snap
        else pd.Series(dtype="object")
    )

    # cadence achievement
    if done is None or book is None:
        kpis.append(
            _na(
                "cadence_achievement",
                t.cadence_achievement_min,
                ">=",
                "%",
                _why("needs_accounts_activities"),
            )
        )
    else:
        seg = book["account_id"].map(segments)
        cadence = pd.to_numeric(
            seg.map({s: p.cadence_days for s, p in playbook.segments.items()}), errors="coerce"
        )
        last = done.groupby("account_id")["date"].max()
        last_touch = pd.to_datetime(
            pd.Series(last.reindex(book["account_id"].to_numpy()).to_numpy(), index=book.index)
        )
        ok = last_touch.notna() & ((end - last_touch).dt.days <= cadence)
        kpis.append(
            _ratio(
                "cadence_achievement",
                int((ok & cadence.notna()).sum()),
                int(cadence.notna().sum()),
                t.cadence_achievement_min,
                ">=",
                "%",
                _why("no_segmented_accounts", month=month),
            )
        )

    # meetings per CSM
    owners = pd.DataFrame()
    if done is None or book is None:
        kpis.append(
            _na(
                "meetings_per_csm",
                t.meetings_per_account_min,
                ">=",
                "ratio",
                _why("needs_accounts_activities"),
            )
        )
    else:
        meet = done[
            done["type"].astype("string").str.lower().isin(["meeting", "qbr"])
            & (done["date"] >= start)
        ]
        meet = meet[meet["account_id"].isin(set(book["account_id"]))]
        owner_of = book.set_index("account_id")["owner_id"]
        per_owner = meet["account_id"].map(owner_of).value_counts()
        owners = book.groupby("owner_id").size().rename("accounts").to_frame()
        owners["meetings"] = per_owner.reindex(owners.index).fillna(0).astype(int)
        owners["target"] = owners["accounts"] * t.meetings_per_account_min
        owners["met"] = owners["meetings"] >= owners["target"]
        owners = owners.reset_index()
        kpis.append(
            _ratio(
                "meetings_per_csm",
                len(meet),
                len(book),
                t.meetings_per_account_min,
                ">=",
                "ratio",
                _why("no_book_accounts"),
            )
        )

    # QBR rate (S/A)
    if done is None or snap.empty:
        kpis.append(
            _na(
                "qbr_rate",
                t.qbr_rate_min,
                ">=",
                "%",
                _why("needs_activities_snapshots"),
            )
        )
    else:
        sa = snap[snap["segment"].isin(["S", "A"])]
        if book is not None:
            sa = sa[sa["account_id"].isin(set(book["account_id"]))]
        since = end - pd.DateOffset(months=3)
        qbrs = done[(done["type"].astype("string").str.lower() == "qbr") & (done["date"] > since)]
        held = int(sa["account_id"].isin(set(qbrs["account_id"])).sum())
        kpis.append(
            _ratio(
                "qbr_rate",
                held,
                len(sa),
                t.qbr_rate_min,
                ">=",
                "%",
                _why("no_sa_accounts", month=month),
            )
        )

    # onboarding completed within 3 months
    if accounts is None or usage is None or "contract_start" not in accounts:
        kpis.append(
            _na(
                "onboarding_completion",
                t.onboarding_completion_min,
                ">=",
                "%",
                _why("needs_accounts_contract_usage"),
            )
        )
    else:
        cs = _dates(accounts, "contract_start")
        deadline = cs + pd.DateOffset(months=playbook.onboarding.complete_check_months)
        due = accounts[(deadline >= start) & (deadline <= end)]
        u = usage[usage["deliveries"].fillna(0) > 0]
        first = pd.to_datetime(u["month"].astype(str) + "-01").groupby(u["tenant_id"]).min()
        f = pd.to_datetime(
            pd.Series(first.reindex(due["tenant_id"].to_numpy()).to_numpy(), index=due.index)
        )
        completed = int((f.notna() & (f < deadline[due.index])).sum())
        kpis.append(
            _ratio(
                "onboarding_completion",
                completed,
                len(due),
                t.onboarding_completion_min,
                ">=",
                "%",
                _why("no_onboarding_due", month=month),
            )
        )

    # upsell proposals
    if snap.empty and tasks is None:
        kpis.append(
            _na(
                "upsell_proposals",
                t.upsell_proposals_min,
                ">=",
                "count",
                _why("no_snapshots_no_tasks", month=month),
            )
        )
    else:
        pairs = set()
        if snapshots is not None and not snapshots.empty and "signals" in snapshots:
            d = pd.to_datetime(snapshots["as_of"])
            in_month = snapshots[(d >= start) & (d <= end)]
            for a, codes in zip(in_month["account_id"], in_month["signals"], strict=True):
                pairs |= {(a, c) for c in _split_codes(codes) if c in t.upsell_codes}
        if tasks is not None and not tasks.empty and "sync_key" in tasks:
            d = _dates(tasks, "activity_date")
            in_month = tasks[(d >= start) & (d <= end)]
            for key in in_month["sync_key"].dropna().astype(str):
                parts = key.split(":")
                if len(parts) >= 3 and parts[0] == "signal" and parts[1] in t.upsell_codes:
                    pairs.add((parts[2], parts[1]))
        n = len(pairs)
        kpis.append(
            Kpi("upsell_proposals", float(n), t.upsell_proposals_min, ">=", "count", float(n))
        )

    return KpiReport(month=month, kpis=kpis, owners=owners, scores=snap)


def kpi_trend(
    months: list[str], *, playbook: Playbook, snapshots: pd.DataFrame | None, **frames
) -> pd.DataFrame:
    """One row per month and KPI (month, key, value, status) for the trend charts."""
    rows = []
    for m in months:
        report = compute_kpis(m, playbook=playbook, snapshots=snapshots, **frames)
        rows += [
            {"month": m, "key": k.key, "value": k.value, "status": k.status} for k in report.kpis
        ]
    return pd.DataFrame(rows, columns=["month", "key", "value", "status"])


def band_counts(snapshots: pd.DataFrame | None, months: list[str]) -> pd.DataFrame:
    """Accounts per band in each month's latest snapshots (index month, columns bands)."""
    bands = list(BANDS)
    rows = []
    for m in months:
        snap = month_snapshot(snapshots, m)
        counts = snap["health_band"].value_counts() if not snap.empty else pd.Series(dtype=int)
        rows.append({"month": m, **{b: int(counts.get(b, 0)) for b in bands}})
    return pd.DataFrame(rows, columns=["month", *bands]).set_index("month")
