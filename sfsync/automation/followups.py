"""Scheduled follow-up Tasks from the CS playbook (SPEC §6, seed 001 §3.1-3.3, §5.2). Pure.

``build_followups`` turns the canonical frames into *desired* Task rows (the shape the sync
engine's writer takes, docs/ARCHITECTURE.md "Sync engine"). Every rule computes, per account,
an **open** date (from when the Task is wanted), a **due** date (its ``activity_date``) and a
**close** date (after which the rule no longer asks for it); a row is produced when
``open <= as_of <= close``. The ``sync_key`` is ``<rule>:<account_id>:<period>``, where the
period does not depend on the as-of date inside the window, so every run in the window asks
for the same Task and the writer finds it instead of creating a second one. Nor does a row's
subject (no "N days since" in a text), so a Task once written is not rewritten by later runs
(its due date and description are written on creation only).

No Task is born overdue (SPEC §10): a row whose due date lies before the as-of date (a first
run, a run after a gap, a late rule) is due ``task_due.grace_business_days`` business days
after the as-of date instead (:func:`due_not_before`); the key keeps its period.

Rules (offsets from ``mappings/playbook.yaml``; C = contract start, F = first delivery):

- ``onboarding_setup`` (step 0) open C, due C + setup_due_days.
- ``onboarding_kickoff`` (step 1) open C, due C + kickoff_due_days.
- ``onboarding_video`` (step 2) open C + video_open_days, due F - pre_delivery_lead_days
  (not before its open date); only while no delivery has happened yet.
- ``onboarding_pre_delivery`` (step 3) open F - pre_delivery_open_days, due F -
  pre_delivery_lead_days; only while no delivery has happened yet.
- ``onboarding_review`` (step 4) open F, due F + review_due_days; once a delivery happened.
- ``onboarding_complete`` open C + N months - complete_open_days, due C + N months.
  All onboarding rules close at C + N months + late_grace_days; their period is C.
  **F**: usage is monthly, so the day of the first delivery is unknown. F is the first day
  of the first usage month (starting on or before the as-of date) with deliveries > 0, but not
  before C. Until such a month exists, F is the *planned* first delivery
  C + planned_first_delivery_days.
- ``qbr`` open on the first day of the fiscal quarter containing the as-of date, due on its last
  day minus due_days_before_quarter_end, close on its last day; S required, A recommended (by
  the playbook); skipped when a completed QBR (an activity of ``qbr.held_types``: QBR or
  meeting by default) lies in the quarter up to the as-of date.
  Period ``<fiscal year>Q<n>``.
- ``renewal_reminder`` open renewal date - lead_months, due open + due_days, close on the
  renewal date. Period: the renewal date.
- ``overdue_touch`` the last completed touch T (latest completed activity on or before the
  as-of date; C when there is none) is more than the segment's cadence_days before the
  as-of date: open T + cadence_days + 1 (the first overdue day), due open + due_days, period
  the open date (an account with neither a touch nor C: period ``none``, due as-of month start
  + due_days).
- ``handover`` the owner differs from the owner in the previous snapshot: open and period the
  as-of date, due as-of + due_days, owned by the new owner.
- ``recovery_<reason>`` the account's churn-reason field maps to a playbook reason, or the
  competitor signal is active: period the as-of month, due the last day of that month.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from sfsync.automation.playbook import OnboardingPolicy, Playbook
from sfsync.calendar import fiscal_quarter
from sfsync.frames import isin
from sfsync.salesforce.task_texts import date_values, fit_texts, render_columns, text_values
from sfsync.salesforce.tasks import TASK_FRAME_COLUMNS
from sfsync.templates import TemplateSet

TASK_COLUMNS = TASK_FRAME_COLUMNS  # the desired-Task frame shared with signal Tasks
SUBJECT_LENGTH = 255  # Task.Subject
DEFAULT_STATUS = "Not Started"

# Template values every follow-up template may use (unused ones are empty).
_VALUE_NAMES = [
    "account_name",
    "video_note",
    "due_date",
    "contract_start",
    "first_delivery",
    "quarter",
    "renewal_date",
    "days_since_touch",
    "cadence_days",
    "segment",
    "last_touch",
    "previous_owner",
    "new_owner",
]


def empty_tasks() -> pd.DataFrame:
    """An empty desired-Tasks frame with the right columns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in TASK_COLUMNS})


def _fmt(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """``keys.map(values)`` that also works for datetime values on string keys (pandas 3)."""
    values = values[~values.index.duplicated(keep="last")]
    return pd.Series(values.reindex(keys.to_numpy()).to_numpy(), index=keys.index)


def _days(n: int) -> pd.Timedelta:
    return pd.Timedelta(days=n)


def shift_months(values: pd.Series, months: int) -> pd.Series:
    """:func:`sfsync.calendar.shift_months_clamped` on a datetime Series (Jan 31 + 1 month =
    Feb 28/29)."""
    return values + pd.DateOffset(months=months)


def onboarding_end(contract_start: pd.Series, policy: OnboardingPolicy) -> pd.Series:
    """The day after which onboarding is over: contract start + ``complete_check_months`` +
    ``late_grace_days`` (the onboarding rules close then; NaT without a contract start)."""
    start = pd.to_datetime(contract_start).astype("datetime64[ns]")
    return shift_months(start, policy.complete_check_months) + _days(policy.late_grace_days)


def month_starts(months: pd.Series) -> pd.Series:
    """The first day of each ``YYYY-MM`` month text (NaT when missing; index kept), each
    distinct month parsed once."""
    codes, distinct = pd.factorize(months)
    parsed = pd.to_datetime(
        pd.Series(distinct, dtype=object).astype("string") + "-01", format="%Y-%m-%d"
    )
    lookup = np.append(parsed.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
    return pd.Series(lookup[codes], index=months.index)  # code -1 (missing): the NaT


def first_deliveries(usage: pd.DataFrame | None, as_of: date) -> pd.Series:
    """Per tenant (indexed by ``tenant_id``): the first day of its first usage month starting
    on or before ``as_of`` with deliveries > 0; tenants without one are left out. Computed once
    a run and handed to :func:`first_delivery_dates` (``deliveries``) by every rule using it."""
    if usage is None or usage.empty:
        return pd.Series(dtype="datetime64[ns]")
    month_start = month_starts(usage["month"])
    delivered = (usage["deliveries"].fillna(0) > 0) & (month_start <= pd.Timestamp(as_of))
    rows = delivered.to_numpy(dtype=bool)  # whole columns: no copy of the usage frame
    return month_start[rows].groupby(usage["tenant_id"][rows]).min()


def first_delivery_dates(
    accounts: pd.DataFrame,
    usage: pd.DataFrame | None,
    as_of: date,
    deliveries: pd.Series | None = None,
) -> pd.Series:
    """Per account (index aligned with ``accounts``): the actual first delivery date F or NaT.

    F is the first day of the first usage month starting on or before ``as_of`` with
    deliveries > 0, but not before the contract start. ``deliveries``: the run's
    :func:`first_deliveries` of ``usage`` (computed here when not given).
    """
    if usage is None or usage.empty or "tenant_id" not in accounts:
        return pd.Series(pd.NaT, index=accounts.index, dtype="datetime64[ns]")
    first = first_deliveries(usage, as_of) if deliveries is None else deliveries
    mapped = pd.to_datetime(_lookup(accounts["tenant_id"], first)).astype("datetime64[ns]")
    contract = pd.to_datetime(accounts["contract_start"]).astype("datetime64[ns]")
    return mapped.where(mapped.isna() | contract.isna() | (mapped >= contract), contract)


def _segments(accounts: pd.DataFrame, scores: pd.DataFrame | None) -> pd.Series:
    if scores is not None and "segment" in scores:
        return _lookup(accounts["account_id"], scores.set_index("account_id")["segment"])
    if "segment" in accounts:
        return accounts["segment"]
    return pd.Series(pd.NA, index=accounts.index, dtype="object")


def due_not_before(due: pd.Series, as_of: date, grace_business_days: int) -> pd.Series:
    """Due dates with the ones already past moved to ``grace_business_days`` business days
    (Mon-Fri) after ``as_of``: no Task is born overdue (SPEC §10). Pure."""
    as_of_ts = pd.Timestamp(as_of)
    grace = as_of_ts + pd.offsets.BDay(grace_business_days) if grace_business_days else as_of_ts
    due = pd.to_datetime(due).astype("datetime64[ns]")
    return due.where(due.isna() | (due >= as_of_ts), grace)


def _last_touch(accounts: pd.DataFrame, activities: pd.DataFrame | None, as_of: date) -> pd.Series:
    if activities is None or activities.empty:
        return pd.Series(pd.NaT, index=accounts.index, dtype="datetime64[ns]")
    dates = pd.to_datetime(activities["date"])
    done = activities[
        activities["completed"].fillna(False).astype(bool) & (dates <= pd.Timestamp(as_of))
    ]
    latest = pd.to_datetime(done["date"]).groupby(done["account_id"]).max()
    return pd.to_datetime(_lookup(accounts["account_id"], latest)).astype("datetime64[ns]")


def _fmt_other(value) -> str:
    """:func:`_fmt` of a value that is neither missing nor text."""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _fmt_values(values: pd.Series) -> np.ndarray:
    """:func:`_fmt` of every value of a column (dates as ``YYYY-MM-DD``, missing as ``""``)."""
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return date_values(values)
    return text_values(values, _fmt_other)


def _flags(condition) -> np.ndarray | bool:
    """A comparison's result as booleans (a Series' values, or a scalar's truth)."""
    if isinstance(condition, pd.Series):
        return condition.to_numpy(dtype=bool)
    return bool(condition)


def _pick(value, rows: np.ndarray):
    """The ``rows`` (positions) of a per-account Series; a scalar as it is."""
    return value.iloc[rows] if isinstance(value, pd.Series) else value


def _kept(value, rows: np.ndarray, index: pd.Index) -> pd.Series:
    """The ``rows`` (positions) of a per-account Series, or a scalar repeated for them."""
    if isinstance(value, pd.Series):
        return value.iloc[rows]
    return pd.Series(value, index=index)


class _Rows:
    """Collects candidate rows of every rule and renders the emitted ones."""

    def __init__(
        self,
        accounts: pd.DataFrame,
        templates: TemplateSet,
        as_of: date,
        status: str,
        grace_business_days: int = 3,
    ) -> None:
        self.accounts = accounts
        self.grace_business_days = grace_business_days
        self.status = status
        self.templates = templates
        self.as_of = pd.Timestamp(as_of)
        self.frames: list[pd.DataFrame] = []

    def add(
        self,
        mask: pd.Series,
        *,
        rule: str,
        template: str,
        period: pd.Series | str,
        open_: pd.Series | pd.Timestamp,
        due: pd.Series | pd.Timestamp,
        close: pd.Series | pd.Timestamp,
        priority: str,
        values: dict[str, pd.Series | str] | None = None,
        owner: pd.Series | None = None,
        signal_code: str | None = None,
    ) -> None:
        keep = mask.fillna(False).astype(bool).to_numpy(dtype=bool)
        keep = keep & _flags(open_ <= self.as_of) & _flags(self.as_of <= close)
        if not keep.any():
            return
        rows = np.flatnonzero(keep)  # only the emitted rows are built and rendered
        acc = self.accounts.iloc[rows]
        due = due_not_before(
            _kept(due, rows, acc.index), self.as_of.date(), self.grace_business_days
        )
        period = _kept(period, rows, acc.index).astype(str)
        out = pd.DataFrame(
            {
                "sync_key": rule + ":" + acc["account_id"] + ":" + period,
                "account_id": acc["account_id"],
                "owner_id": (owner.iloc[rows] if owner is not None else acc["owner_id"]),
                "activity_date": due.astype("datetime64[ns]"),
                "priority": priority,
                "rule": rule,
                "signal_code": signal_code,
            }
        )
        texts: dict[str, np.ndarray | str] = dict.fromkeys(_VALUE_NAMES, "")
        texts["account_name"] = _fmt_values(acc["name"]) if "name" in acc else ""
        texts["due_date"] = date_values(out["activity_date"])
        for name, value in (values or {}).items():
            picked = _pick(value, rows)
            texts[name] = _fmt_values(picked) if isinstance(picked, pd.Series) else _fmt(picked)
        text = render_columns(self.templates, "tasks", f"followup_{template}", texts, len(rows))
        blank = np.full(len(rows), "", dtype=object)
        out["subject"] = fit_texts(text.get("subject", blank), SUBJECT_LENGTH)
        out["description"] = text.get("description", blank)
        self.frames.append(out)

    def result(self) -> pd.DataFrame:
        if not self.frames:
            return empty_tasks()
        out = pd.concat(self.frames, ignore_index=True)
        out["activity_date"] = out["activity_date"].dt.date  # like signal Tasks
        out["status"] = self.status
        out = out[TASK_COLUMNS].astype({"signal_code": "object", "activity_date": "object"})
        return out.sort_values("sync_key", ignore_index=True)


def _video_note(acc: pd.DataFrame, signals: pd.DataFrame | None, templates: TemplateSet):
    """Per account, the Step 2 description's note when the onboarding videos are unwatched
    (signal ``onboarding_videos_unwatched``), else empty."""
    if signals is None or signals.empty:
        return ""
    unwatched = signals.loc[signals["code"] == "onboarding_videos_unwatched", "account_id"]
    note = templates.render("tasks", "followup_onboarding_video_unwatched", {})["note"]
    return pd.Series(
        np.where(isin(acc["account_id"], set(unwatched)), note, ""), index=acc.index, dtype=object
    )


def _onboarding(
    rows: _Rows, acc: pd.DataFrame, first: pd.Series, pb: Playbook, video_note=""
) -> None:
    ob = pb.onboarding
    c = pd.to_datetime(acc["contract_start"]).astype("datetime64[ns]")
    has_c = c.notna()
    period = c.dt.strftime("%Y-%m-%d")
    end = shift_months(c, ob.complete_check_months)
    close = onboarding_end(c, ob)
    delivered = first.notna()
    f_eff = first.where(delivered, c + _days(ob.planned_first_delivery_days))
    common = {"contract_start": c, "first_delivery": f_eff, "video_note": video_note}
    spec = [
        ("setup", has_c, c, c + _days(ob.setup_due_days)),
        ("kickoff", has_c, c, c + _days(ob.kickoff_due_days)),
        (
            "video",
            has_c & ~delivered,
            c + _days(ob.video_open_days),
            pd.concat(
                [f_eff - _days(ob.pre_delivery_lead_days), c + _days(ob.video_open_days)], axis=1
            ).max(axis=1),
        ),
        (
            "pre_delivery",
            has_c & ~delivered,
            f_eff - _days(ob.pre_delivery_open_days),
            f_eff - _days(ob.pre_delivery_lead_days),
        ),
        ("review", has_c & delivered, first, first + _days(ob.review_due_days)),
        ("complete", has_c, end - _days(ob.complete_open_days), end),
    ]
    for step, mask, open_, due in spec:
        rows.add(
            mask,
            rule=f"onboarding_{step}",
            template=f"onboarding_{step}",
            period=period,
            open_=open_,
            due=due,
            close=close,
            priority=ob.priority,
            values=common,
        )


def _qbr(rows, acc, segment, activities, as_of: date, pb: Playbook) -> None:
    label, qstart, qend = fiscal_quarter(as_of, pb.qbr.fiscal_year_start_month)
    qstart_ts, qend_ts = pd.Timestamp(qstart), pd.Timestamp(qend)
    held = pd.Series(False, index=acc.index)
    if activities is not None and not activities.empty:
        d = pd.to_datetime(activities["date"])
        held_types = {t.casefold() for t in pb.qbr.held_types}
        qbrs = activities[
            activities["type"].astype("string").str.lower().isin(held_types).fillna(False)
            & activities["completed"].fillna(False).astype(bool)
            & (d >= qstart_ts)
            & (d <= pd.Timestamp(as_of))
        ]
        held = isin(acc["account_id"], set(qbrs["account_id"]))
    due = qend_ts - _days(pb.qbr.due_days_before_quarter_end)
    for seg, policy in pb.qbr.segments.items():
        rows.add(
            (segment == seg) & ~held,
            rule="qbr",
            template="qbr_required" if policy.required else "qbr_recommended",
            period=label,
            open_=qstart_ts,
            due=due,
            close=qend_ts,
            priority=policy.priority,
            values={"quarter": label},
        )


def _renewal(rows, acc, pb: Playbook) -> None:
    r = pd.to_datetime(acc["renewal_date"]).astype("datetime64[ns]")
    open_ = shift_months(r, -pb.renewal.lead_months)
    rows.add(
        r.notna(),
        rule="renewal_reminder",
        template="renewal_reminder",
        period=r.dt.strftime("%Y-%m-%d"),
        open_=open_,
        due=open_ + _days(pb.renewal.due_days),
        close=r,
        priority=pb.renewal.priority,
        values={"renewal_date": r},
    )


def _overdue_touch(rows, acc, segment, last_touch, as_of: date, pb: Playbook) -> None:
    as_of_ts = pd.Timestamp(as_of)
    cadence = segment.map({s: p.cadence_days for s, p in pb.segments.items()})
    cadence = pd.to_numeric(cadence, errors="coerce")
    contract = pd.to_datetime(acc["contract_start"]).astype("datetime64[ns]")
    baseline = last_touch.fillna(contract)
    days_since = (as_of_ts - baseline).dt.days
    overdue_since = baseline + pd.to_timedelta(cadence + 1, unit="D")
    never = baseline.isna() & cadence.notna()
    fallback = as_of_ts.replace(day=1)
    open_ = overdue_since.where(~never, fallback)
    period = overdue_since.dt.strftime("%Y-%m-%d").where(~never, "none")
    rows.add(
        cadence.notna() & (never | (days_since > cadence)),
        rule="overdue_touch",
        template="overdue_touch",
        period=period,
        open_=open_,
        due=open_ + _days(pb.touch.due_days),
        close=pd.Timestamp.max,
        priority=pb.touch.priority,
        values={
            "days_since_touch": days_since.astype("Int64").astype("string").fillna("-"),
            "cadence_days": cadence.astype("Int64").astype("string"),
            "segment": segment,
            "last_touch": last_touch.dt.strftime("%Y-%m-%d").fillna("-"),
        },
    )


def _handover(rows, acc, previous, users, as_of: date, pb: Playbook) -> None:
    if previous is None or previous.empty or "owner_id" not in previous:
        return
    prev_owner = _lookup(
        acc["account_id"], previous.dropna(subset=["owner_id"]).set_index("account_id")["owner_id"]
    )
    changed = prev_owner.notna() & acc["owner_id"].notna() & (prev_owner != acc["owner_id"])
    names = {}
    if users is not None and not users.empty:
        names = users.set_index("user_id")["name"].to_dict()
    as_of_ts = pd.Timestamp(as_of)
    rows.add(
        changed,
        rule="handover",
        template="handover",
        period=as_of_ts.strftime("%Y-%m-%d"),
        open_=as_of_ts,
        due=as_of_ts + _days(pb.handover.due_days),
        close=as_of_ts,
        priority=pb.handover.priority,
        values={
            "previous_owner": _names(prev_owner, names),
            "new_owner": _names(acc["owner_id"], names),
        },
    )


def _names(ids: pd.Series, names: dict) -> pd.Series:
    """Each id's name (``names.get(id, id)``: the id itself when it has none)."""
    return ids.map(names).where(isin(ids, names.keys()), ids)


def churn_reasons(
    accounts: pd.DataFrame, signals: pd.DataFrame | None, pb: Playbook
) -> pd.DataFrame:
    """Long frame (account_id, reason, from_signal) of the recovery playbooks that apply."""
    rec = pb.recovery
    lookup = {v.strip().lower(): key for key, vals in rec.reasons.items() for v in vals}
    parts = []
    if rec.reason_column in accounts:
        raw = accounts[rec.reason_column].astype("string").str.strip().str.lower()
        reason = raw.map(lookup)
        hit = accounts.loc[reason.notna(), ["account_id"]].assign(
            reason=reason[reason.notna()], from_signal=False
        )
        parts.append(hit)
    if rec.competitor_signal and signals is not None and not signals.empty:
        comp = signals[signals["code"] == rec.competitor_signal][["account_id"]].drop_duplicates()
        parts.append(comp.assign(reason="competitor", from_signal=True))
    if not parts:
        return pd.DataFrame(columns=["account_id", "reason", "from_signal"])
    out = pd.concat(parts, ignore_index=True)
    # a reason named in the field wins over the same reason from the signal
    return out.sort_values("from_signal").drop_duplicates(["account_id", "reason"])


def _recovery(rows, acc, signals, as_of: date, pb: Playbook) -> None:
    reasons = churn_reasons(acc, signals, pb)
    if reasons.empty:
        return
    as_of_ts = pd.Timestamp(as_of)
    month_end = as_of_ts + pd.offsets.MonthEnd(0)
    for reason, group in reasons.groupby("reason"):
        mask = isin(acc["account_id"], group["account_id"])
        # one row per account and reason (churn_reasons): the signal's rows are the True ones
        sig = isin(acc["account_id"], group.loc[group["from_signal"], "account_id"])
        for flag, code in ((False, None), (True, pb.recovery.competitor_signal)):
            rows.add(
                mask & (sig == flag),
                rule=f"recovery_{reason}",
                template=f"recovery_{reason}",
                period=as_of_ts.strftime("%Y-%m"),
                open_=as_of_ts,
                due=month_end,
                close=as_of_ts,
                priority=pb.recovery.priority,
                signal_code=code,
            )


def build_followups(
    accounts: pd.DataFrame,
    *,
    as_of: date,
    playbook: Playbook,
    templates: TemplateSet,
    usage: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    signals: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    status: str = DEFAULT_STATUS,
    deliveries: pd.Series | None = None,
) -> pd.DataFrame:
    """Desired follow-up Tasks as of ``as_of`` (columns :data:`TASK_COLUMNS`; ``activity_date``
    holds ``datetime.date`` values, ``status`` the Task status of new Tasks).

    ``accounts``: canonical accounts frame (plus the playbook's churn-reason column if read).
    ``scores``: ``result.scores`` (for ``segment``; else an accounts ``segment`` column).
    ``signals``: ``result.signals`` (active signals of this run).
    ``previous``: the previous snapshot (``account_id``, ``owner_id``) for hand-over detection.
    ``users``: canonical users frame, for owner names in hand-over Tasks.
    ``deliveries``: :func:`first_deliveries` of ``usage`` (computed when not given).
    """
    acc = accounts.reset_index(drop=True)
    for col in ("contract_start", "renewal_date"):
        if col not in acc:
            acc[col] = pd.NaT
    rows = _Rows(acc, templates, as_of, status, playbook.task_due.grace_business_days)
    segment = _segments(acc, scores)
    note = _video_note(acc, signals, templates)
    first = first_delivery_dates(acc, usage, as_of, deliveries)
    _onboarding(rows, acc, first, playbook, note)
    _qbr(rows, acc, segment, activities, as_of, playbook)
    _renewal(rows, acc, playbook)
    _overdue_touch(rows, acc, segment, _last_touch(acc, activities, as_of), as_of, playbook)
    _handover(rows, acc, previous, users, as_of, playbook)
    _recovery(rows, acc, signals, as_of, playbook)
    return rows.result()
