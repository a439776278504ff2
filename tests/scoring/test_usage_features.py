"""``usage_by_tenant`` looks up only some usage rows in the full tenant table (see its module
docstring); these tests check it against a plain per-tenant computation over every row."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfsync.calendar import add_months, month_text, previous_month, scoring_month
from sfsync.scoring.usage_features import usage_by_tenant

AS_OF = date(2025, 3, 15)
MONTH = month_text(scoring_month(AS_OF))
PREV = previous_month(MONTH)
MONTHS = [f"{add_months(date(2025, 3, 1), -k):%Y-%m}" for k in range(-1, 15)]
TENANTS = ["T1", "T2", "T3", "T4", "T5", "X9", ""]  # X9: no account; "": a blank cell

dates = st.one_of(
    st.none(),
    st.integers(-500, 40).map(lambda d: AS_OF + timedelta(days=d)),
    st.sampled_from([date(2025, 1, 1), date(2024, 12, 31), AS_OF, AS_OF + timedelta(days=1)]),
)


@st.composite
def usage_rows(draw):
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "tenant_id": st.sampled_from([*TENANTS, None]),
                    "month": st.sampled_from(MONTHS),
                    "deliveries": st.sampled_from([None, 0.0, 1.0, 2.5]),
                    "last_login_date": dates,
                    "tutorial_completed": st.sampled_from([True, False, None]),
                }
            ),
            max_size=30,
        )
    )
    account_tenants = draw(
        st.lists(st.sampled_from(["T1", "T2", "T3", "T4", "T5", None]), min_size=1, max_size=6)
    )
    return rows, account_tenants


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["tenant_id", "month", "deliveries", "last_login_date"])
    frame["tenant_id"] = frame["tenant_id"].astype("str")
    frame["month"] = frame["month"].astype("str")
    frame["deliveries"] = frame["deliveries"].astype("float64")
    frame["last_login_date"] = pd.to_datetime(frame["last_login_date"])
    frame["tutorial_completed"] = pd.array([r["tutorial_completed"] for r in rows], "boolean")
    return frame


def _expected(rows: list[dict], tenant: str) -> dict:
    mine = [r for r in rows if r["tenant_id"] == tenant]
    logins = [r["last_login_date"] for r in mine if r["last_login_date"] is not None]
    logins = [d for d in logins if d <= AS_OF]
    this = [r["deliveries"] for r in mine if r["month"] == MONTH]
    present = [v for v in this if v is not None]
    return {
        "last_login": max(logins) if logins else None,
        "has_any_row": bool(mine),
        "deliveries_this": (sum(present) if present else None) if this else 0.0,
        "tutorial": any(r["tutorial_completed"] is True and r["month"] <= MONTH for r in mine),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(usage_rows())
def test_usage_by_tenant_matches_a_computation_over_every_row(case):
    rows, account_tenants = case
    keys = pa.array(account_tenants, type=pa.large_string())
    got = usage_by_tenant(_frame(rows), keys, MONTH, PREV, AS_OF)
    for position, tenant in enumerate(account_tenants):
        code = got.tenant_pos[position]
        if tenant is None:
            assert code == -1
            continue
        want = _expected(rows, tenant)
        latest = got.values["last_login"][code]
        assert (None if np.isnat(latest) else latest.astype(date)) == want["last_login"]
        assert bool(got.values["has_any_row"][code]) == want["has_any_row"]
        this = got.month_value("deliveries", "this")[code]
        assert (None if np.isnan(this) else this) == want["deliveries_this"]
        assert bool(got.values["tutorial_completed"][code]) == want["tutorial"]


def test_an_old_row_with_a_later_login_than_the_recent_rows_wins():
    rows = [
        {"tenant_id": "T1", "month": MONTH, "deliveries": 1.0, "tutorial_completed": None,
         "last_login_date": date(2024, 6, 1)},  # behind the threshold (start of PREV)
        {"tenant_id": "T1", "month": "2024-05", "deliveries": 1.0, "tutorial_completed": None,
         "last_login_date": date(2024, 7, 1)},  # an older month, yet a later login
        {"tenant_id": "T2", "month": "2024-01", "deliveries": 1.0, "tutorial_completed": None,
         "last_login_date": date(2024, 1, 20)},  # only old rows
        {"tenant_id": "T3", "month": MONTH, "deliveries": 1.0, "tutorial_completed": None,
         "last_login_date": date(2025, 2, 20)},  # ahead of the threshold
        {"tenant_id": "T3", "month": "2024-01", "deliveries": 1.0, "tutorial_completed": None,
         "last_login_date": date(2025, 3, 1)},  # dated after the threshold: looked up too
    ]  # fmt: skip
    keys = pa.array(["T1", "T2", "T3", "T4"], type=pa.large_string())
    got = usage_by_tenant(_frame(rows), keys, MONTH, PREV, AS_OF)
    latest = got.values["last_login"][got.tenant_pos]
    assert latest.astype(str).tolist() == ["2024-07-01", "2024-01-20", "2025-03-01", "NaT"]
    assert got.values["has_any_row"][got.tenant_pos].tolist() == [True, True, True, False]
