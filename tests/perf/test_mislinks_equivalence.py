"""find_mislinks compares tenant ids as Arrow text and reports what the set-based version did,
whatever the dtypes of the two tenant columns (issue 14: CPU of the extract)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.sources.tenants import find_mislinks
from tests.perf import reference

TENANT = st.one_of(st.sampled_from(["t-1", "t-2", "テナント", "", "None", "1", "1.0"]), st.none())
DTYPES = ["str", "string", object]


@pytest.mark.parametrize("account_dtype", DTYPES)
@pytest.mark.parametrize("usage_dtype", [*DTYPES, "int"])
@settings(max_examples=40, deadline=None)
@given(
    linked=st.lists(st.tuples(TENANT, st.sampled_from(["2024-01-01", "2026-01-01", None, "x"]))),
    used=st.lists(TENANT, min_size=1),
    numbers=st.lists(st.integers(0, 3), min_size=1),
)
def test_same_mislinks_as_before(account_dtype, usage_dtype, linked, used, numbers):
    accounts = pd.DataFrame(
        {
            "account_id": [f"001{i:03d}" for i in range(len(linked))],
            "name": pd.Series(
                [f"社{i}" if i % 3 else None for i in range(len(linked))], dtype=object
            ),
            "tenant_id": pd.Series([t for t, _ in linked], dtype=account_dtype),
            "contract_start": [s for _, s in linked],
        }
    )
    if usage_dtype == "int":
        usage = pd.DataFrame({"tenant_id": numbers})
        accounts["tenant_id"] = pd.Series(
            [str(n) if t else None for n, (t, _) in enumerate(linked)], dtype=object
        )
    else:
        usage = pd.DataFrame({"tenant_id": pd.Series(used, dtype=usage_dtype)})
    expected = reference.find_mislinks(accounts, usage, linked_before=date(2025, 3, 1))
    got = find_mislinks(accounts, usage, linked_before=date(2025, 3, 1))
    assert got.accounts == expected
