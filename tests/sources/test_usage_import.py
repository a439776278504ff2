"""The weekly usage import's pure step: usage figures onto the tenant's accounts."""

import pandas as pd

from sfsync.pipeline import usage_import_frame


def test_usage_goes_to_every_linked_account_and_idle_tenants_get_zero():
    accounts = pd.DataFrame(
        {"account_id": ["001A", "001B", "001C", "001D"], "tenant_id": ["t1", "t2", None, "t1"]}
    )
    usage = pd.DataFrame(
        {
            "tenant_id": ["t1", "t1"],
            "month": ["2025-02", "2025-01"],
            "deliveries": [4.0, 9.0],
            "login_days": [12.0, 3.0],
            "last_login_date": pd.to_datetime(["2025-02-27", "2025-01-30"]),
            "plan_usage_ratio": [0.85, 0.5],
        }
    )
    out = usage_import_frame(accounts, usage, "2025-02").set_index("account_id")
    assert list(out.index) == ["001A", "001B", "001D"]  # 001C has no tenant
    assert out.loc["001A", "usage_deliveries"] == 4.0
    assert out.loc["001D", "usage_plan_ratio"] == 0.85
    assert out.loc["001B", "usage_deliveries"] == 0.0 and out.loc["001B", "usage_login_days"] == 0
    assert pd.isna(out.loc["001B", "usage_last_login"])
    assert set(out["usage_month"]) == {"2025-02"}
