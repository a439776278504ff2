"""A straightforward per-row Python implementation of SPEC §10 with the default scorecard.

Written independently of ``sfsync.scoring`` (own month arithmetic, plain loops, Decimal for
the benchmark edges) to serve as the differential oracle in tests and as the per-row baseline
of ``bench/bench_scoring.py``. Not product code.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

import pandas as pd


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _date(value) -> date | None:
    if value is None or value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def _num(value) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _flag(value) -> bool:
    return False if value is None or pd.isna(value) else bool(value)


def _text(value) -> str | None:
    if value is None or pd.isna(value):
        return None
    value = str(value).strip()
    return value or None


def _round_half_up(x: Decimal) -> int:
    return int((x + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR"))


def score_rows(accounts, usage, activities, as_of: date, benchmarks=None, previous=None):
    """Score every account; returns a list of dicts (one per account, input order)."""
    benchmarks = {k.strip().casefold(): v for k, v in (benchmarks or {}).items()}
    previous = previous or {}
    first = date(as_of.year, as_of.month, 1)
    sm = add_months(first, -1)
    pm = add_months(first, -2)
    month, prev_month = f"{sm:%Y-%m}", f"{pm:%Y-%m}"

    by_tenant: dict[str, list[dict]] = {}
    for row in usage.to_dict("records"):
        tenant = _text(row["tenant_id"])
        if tenant is not None:
            by_tenant.setdefault(tenant, []).append(row)
    by_account: dict[str, list[dict]] = {}
    for row in activities.to_dict("records"):
        by_account.setdefault(_text(row["account_id"]), []).append(row)

    out = []
    for acc in accounts.to_dict("records"):
        out.append(
            _score_one(acc, by_tenant, by_account, as_of, month, prev_month, benchmarks, previous)
        )
    return out


def _month_values(rows, month):
    found = [r for r in rows if str(r["month"])[:7] == month]
    if not found:
        return {"deliveries": 0.0, "login_days": 0.0, "support_tickets": 0.0, "rate": None,
                "plan": None}  # fmt: skip

    def total(col):
        vals = [_num(r.get(col)) for r in found]
        vals = [v for v in vals if v is not None]
        return sum(vals) if vals else None

    def biggest(col):
        vals = [_num(r.get(col)) for r in found]
        vals = [v for v in vals if v is not None]
        return max(vals) if vals else None

    return {
        "deliveries": total("deliveries"),
        "login_days": total("login_days"),
        "support_tickets": total("support_tickets"),
        "rate": biggest("pipeline_conversion_rate"),
        "plan": biggest("plan_usage_ratio"),
    }


def _score_one(acc, by_tenant, by_account, as_of, month, prev_month, benchmarks, previous):
    account_id = _text(acc["account_id"])
    tenant = _text(acc.get("tenant_id"))
    linked = tenant is not None
    rows = by_tenant.get(tenant, []) if linked else []
    cur = _month_values(rows, month)
    prev = _month_values(rows, prev_month)

    earned = Decimal(0)
    possible = Decimal(0)
    cats = {}

    # usage
    usage_pts = None
    if linked:
        usage_pts = 0
        d = cur["deliveries"]
        if d is not None:
            usage_pts += 0 if d < 1 else (15 if d < 3 else 25)
            possible += 25
        lg = cur["login_days"]
        if lg is not None:
            usage_pts += 0 if lg < 1 else (8 if lg < 6 else 15)
            possible += 15
        if d is None and lg is None:
            usage_pts = None
        earned += usage_pts or 0
    cats["usage"] = usage_pts

    # engagement
    last_touch = None
    meeting = False
    quarter_start = add_months(as_of, -3)
    for act in by_account.get(account_id, []):
        day = _date(act["date"])
        if day is None or day > as_of or not _flag(act["completed"]):
            continue
        if last_touch is None or day > last_touch:
            last_touch = day
        kind = (_text(act["type"]) or "").lower()
        if kind in ("meeting", "qbr") and day > quarter_start:
            meeting = True
    if last_touch is None:
        touch_pts = 0
    else:
        days = (as_of - last_touch).days
        touch_pts = 20 if days < 30 else (10 if days < 60 else 0)
    cats["engagement"] = touch_pts + (10 if meeting else 0)
    earned += cats["engagement"]
    possible += 30

    # outcome
    rate = cur["rate"] if linked else None
    industry = (_text(acc.get("industry")) or "").casefold()
    bench = (
        benchmarks.get(industry, benchmarks.get("default"))
        if industry
        else benchmarks.get("default")
    )
    if rate is None or bench is None:
        cats["outcome"] = None
    else:
        r, b, t = Decimal(str(rate)), Decimal(str(bench)), Decimal("0.10")
        cats["outcome"] = 5 if r < b * (1 - t) else (20 if r > b * (1 + t) else 12)
        earned += cats["outcome"]
        possible += 20

    # contract
    renewal = _date(acc.get("renewal_date"))
    if renewal is None:
        cats["contract"] = None
    else:
        if renewal <= add_months(as_of, 3):
            cats["contract"] = 10
        elif renewal <= add_months(as_of, 6):
            cats["contract"] = 7
        else:
            cats["contract"] = 5
        earned += cats["contract"]
        possible += 10

    score = _round_half_up(Decimal(100) * earned / possible) if possible else None
    band = None
    if score is not None:
        band = (
            "green"
            if score >= 80
            else "yellow"
            if score >= 60
            else "orange"
            if score >= 40
            else "red"
        )

    # segment
    arr = _num(acc.get("arr")) or 0.0
    if arr >= 5_000_000 or _flag(acc.get("is_enterprise")):
        segment = "S"
    elif arr >= 1_000_000:
        segment = "A"
    elif linked and (cur["login_days"] or 0) < 2:
        segment = "C"
    else:
        segment = "B"

    # phase
    start = _date(acc.get("contract_start"))
    if renewal is not None and as_of >= add_months(renewal, -2):
        phase = "renewal"
    elif start is None:
        phase = None
    else:
        m = 0
        if start <= as_of:
            while add_months(start, m + 1) <= as_of:
                m += 1
        else:
            m = -1
        phase = (
            "onboarding"
            if m < 3
            else "adoption"
            if m < 6
            else "expansion"
            if m < 12
            else "maturity"
        )

    # signals
    codes = []
    if linked:
        logins = [_date(r.get("last_login_date")) for r in rows]
        logins = [d for d in logins if d is not None and d <= as_of]
        last_login = max(logins) if logins else None
        old = start is None or (as_of - start).days >= 60
        if old and (last_login is None or (as_of - last_login).days >= 60):
            codes.append("no_login_60d")
        this_d, prev_d = cur["deliveries"], prev["deliveries"]
        if prev_d is not None and this_d is not None and prev_d > 0 and this_d <= 0.5 * prev_d:
            codes.append("deliveries_drop")
        t_this, t_prev = cur["support_tickets"], prev["support_tickets"]
        if t_this is not None and t_prev is not None and t_this >= 3 and t_this >= 2 * t_prev:
            codes.append("tickets_rising")
        if cur["plan"] is not None and cur["plan"] >= 0.8:
            codes.append("near_plan_limit")
        if this_d is not None and prev_d is not None and this_d >= 1.5 * prev_d and this_d >= 3:
            codes.append("deliveries_rising")
    if _flag(acc.get("competitor_evaluation")):
        codes.append("competitor")
    if band == "red":
        codes.append("red_band")
    if band == "green" and phase == "expansion":  # SPEC §3.4 upsell: expansion proposal
        codes.append("expansion_proposal")
    before = previous.get(account_id)
    if before is not None and score is not None and before - score >= 15:
        codes.append("score_drop")
    return {
        "account_id": account_id,
        "health_score": score,
        "health_band": band,
        "usage_points": cats["usage"],
        "engagement_points": cats["engagement"],
        "outcome_points": cats["outcome"],
        "contract_points": cats["contract"],
        "segment": segment,
        "lifecycle_phase": phase,
        "signals": ";".join(sorted(codes)) or None,
    }
