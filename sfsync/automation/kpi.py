"""Monthly KPIs of SPEC §7 (seed 001 §1). Pure: frames in, a :class:`KpiReport` out.

Definitions for month M (first day S, last day E); the *book* is the accounts whose contract
started on or before E (or is unknown) and that had not churned by E:

- ``churn_rate`` by the playbook's ``churn_definition``: ``trailing_months`` = accounts with a
  churn date in the ``churn_window_months`` months ending at E, divided by the accounts active
  at the start of that window; ``contract_years`` (seed 001 §1.1) = accounts contracted on or
  before E that churned on or before E and within ``churn_contract_years`` years of their
  contract start, divided by the accounts contracted on or before E. Needs the playbook's
  ``churn_date_column`` in the accounts frame.
- ``nrr``: with ``nrr_source: arr_snapshots`` (default) the ARR of the score snapshots
  (:mod:`sfsync.automation.kpi_nrr`: ARR in M of the accounts with ARR at the end of month
  M - ``nrr_months``, over their ARR then); with an MRR frame (or ``nrr_source: mrr``) the sum
  of MRR in M of the accounts that had MRR > 0 in month M - ``nrr_months``, divided by their
  MRR then. Upsell, downgrade and churn are included either way.
- ``average_score``, ``red_share``: each book account's latest snapshot dated in M (every
  snapshotted account when no accounts frame is given); shown per week too
  (:mod:`sfsync.automation.kpi_weekly`).
- ``active_rate``: book accounts with a linked tenant whose usage row for M has
  login_days >= 1, divided by the book accounts with a linked tenant.
- ``cadence_achievement``: book accounts (with a segment in M's snapshot) whose latest completed
  touch on or before E lies at most the segment's cadence_days before E.
- ``meetings_per_csm``: completed meetings and QBRs dated in M, divided by the book accounts
  (target: 0.5 per account, i.e. 0.5 × accounts per CSM); ``owners`` lists each owner.
- ``qbr_rate``: S/A accounts (segment in M's snapshot) with a completed QBR in the 3 months up
  to E (after E - 3 months, on or before E), divided by the S/A accounts.
- ``onboarding_completion``: accounts whose 3-month onboarding window ended in M (contract
  start + 3 months in M) that completed every onboarding step Task (steps 0–4) they were
  given, divided by those accounts that were given any (:mod:`sfsync.automation.kpi_tasks`;
  the per-step counts are in ``KpiReport.onboarding_steps``).
- ``upsell_proposals``: proposals made, i.e. upsell Tasks (key ``upsell:<code>:…``) completed
  in M, one per (account, code); detected upsell signals are not proposals.
- ``touch_within_48h``, ``median_hours_to_touch``: the churn signals first seen in M (signal
  ledger) whose account got a completed touch within ``touch_hours`` hours, and the median
  hours to that first touch (:mod:`sfsync.automation.kpi_touch`).
A KPI whose inputs are missing is ``n/a`` with a reason code and its parameters (rendered by
the report and the CLI through the ``kpi_reasons`` templates); it is neither met nor
missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from sfsync.automation.kpi_nrr import nrr_from_arr_snapshots
from sfsync.automation.kpi_tasks import onboarding_steps, upsell_proposals
from sfsync.automation.kpi_touch import touch_figures
from sfsync.automation.kpi_weekly import weekly_leading_kpis
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
    "touch_within_48h",
    "median_hours_to_touch",
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
        if self.unit in ("points", "hours"):
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
    weekly: pd.DataFrame = field(default_factory=pd.DataFrame)  # average score, red share per week
    onboarding_steps: pd.DataFrame = field(default_factory=pd.DataFrame)  # steps 0-4
    churn_definition: str = "trailing_months"
    nrr_source: str = "arr_snapshots"  # or "mrr": what NRR was computed from

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
    signals: pd.DataFrame | None = None,
) -> KpiReport:
    """The KPIs of ``month`` (``YYYY-MM``) against the playbook targets.

    ``tasks`` are the Tasks sfsync created (sync_key, activity_date, completed, completed_at);
    ``signals`` the signal ledger rows (account_id, code, kind, first_seen)."""
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
    elif t.churn_definition == "contract_years":
        cs = _dates(accounts, "contract_start")
        churned = _dates(accounts, t.churn_date_column)
        base = cs.notna() & (cs <= end)
        within = churned < cs + pd.DateOffset(years=t.churn_contract_years)
        lost = base & churned.notna() & (churned <= end) & within
        kpis.append(
            _ratio(
                "churn_rate",
                int(lost.sum()),
                int(base.sum()),
                t.churn_rate_max,
                "<=",
                "%",
                _why("no_contracted_accounts"),
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
    if mrr is None and t.nrr_source == "arr_snapshots":
        base_day = month_bounds(shift_month_text(month, -t.nrr_months))[1]
        churn_dates = None
        if accounts is not None and t.churn_date_column in accounts:
            churn_dates = _dates(accounts, t.churn_date_column).set_axis(accounts["account_id"])
        figures = nrr_from_arr_snapshots(
            snapshots, base_day=base_day, start=start, end=end, churned=churn_dates
        )
        if figures.base is None:
            kpis.append(_na("nrr", t.nrr_min, ">=", "%", (figures.reason, figures.params)))
        else:
            kpis.append(_ratio("nrr", figures.now, figures.base, t.nrr_min, ">=", "%", None))
    elif mrr is None or mrr.empty:
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

    # onboarding completed within 3 months: steps 0-4 from the onboarding Tasks
    steps = pd.DataFrame()
    if accounts is None or tasks is None or "contract_start" not in accounts:
        kpis.append(
            _na(
                "onboarding_completion",
                t.onboarding_completion_min,
                ">=",
                "%",
                _why("needs_accounts_contract_tasks"),
            )
        )
    else:
        cs = _dates(accounts, "contract_start")
        deadline = cs + pd.DateOffset(months=playbook.onboarding.complete_check_months)
        due = set(accounts.loc[(deadline >= start) & (deadline <= end), "account_id"])
        steps, given, completed = onboarding_steps(tasks, due)
        kpis.append(
            _ratio(
                "onboarding_completion",
                completed,
                given,
                t.onboarding_completion_min,
                ">=",
                "%",
                _why("no_onboarding_due", month=month),
            )
        )

    # upsell proposals made: completed upsell Tasks
    if tasks is None:
        kpis.append(
            _na(
                "upsell_proposals",
                t.upsell_proposals_min,
                ">=",
                "count",
                _why("no_tasks", month=month),
            )
        )
    else:
        n = upsell_proposals(tasks, start, end, list(t.upsell_codes))
        kpis.append(
            Kpi("upsell_proposals", float(n), t.upsell_proposals_min, ">=", "count", float(n))
        )

    # the 48-hour rule
    if signals is None or done is None:
        reason = _why("needs_signals_activities")
        kpis.append(_na("touch_within_48h", t.touch_within_48h_min, ">=", "%", reason))
        kpis.append(
            _na("median_hours_to_touch", t.median_hours_to_touch_max, "<=", "hours", reason)
        )
    else:
        touch = touch_figures(
            signals, _touches(done, tasks), start=start, end=end, hours=t.touch_hours
        )
        kpis.append(
            _ratio(
                "touch_within_48h",
                touch.within,
                touch.new_signals,
                t.touch_within_48h_min,
                ">=",
                "%",
                _why("no_new_signals", month=month),
            )
        )
        if touch.median_hours is None:
            kpis.append(
                _na(
                    "median_hours_to_touch",
                    t.median_hours_to_touch_max,
                    "<=",
                    "hours",
                    _why("no_touched_signals", month=month),
                )
            )
        else:
            kpis.append(
                Kpi(
                    "median_hours_to_touch",
                    touch.median_hours,
                    t.median_hours_to_touch_max,
                    "<=",
                    "hours",
                    float(touch.touched),
                )
            )

    book_ids = set(book["account_id"]) if book is not None else None
    return KpiReport(
        month=month,
        kpis=kpis,
        owners=owners,
        scores=snap,
        weekly=weekly_leading_kpis(snapshots, start=start, end=end, book=book_ids),
        onboarding_steps=steps,
        churn_definition=t.churn_definition,
        nrr_source="mrr" if mrr is not None or t.nrr_source == "mrr" else "arr_snapshots",
    )


def _touches(done: pd.DataFrame, tasks: pd.DataFrame | None) -> pd.DataFrame:
    """Completed touches (account_id, at): activities at their date, and completed Tasks at
    their completion time when known (the finer of the two counts first)."""
    frames = [pd.DataFrame({"account_id": done["account_id"], "at": done["date"]})]
    if tasks is not None and not tasks.empty and "completed_at" in tasks and "account_id" in tasks:
        sel = tasks[tasks["completed"].astype("boolean").fillna(False).astype(bool)]
        at = pd.to_datetime(sel["completed_at"], errors="coerce")
        frames.append(pd.DataFrame({"account_id": sel["account_id"], "at": at}))
    out = pd.concat(frames, ignore_index=True)
    return out[out["at"].notna()]


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
