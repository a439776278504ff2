"""Minimal org seed used when ``sfsync_sandbox.sample_data`` is not available.

The realistic book of accounts comes from ``sample_data.generate``; this keeps the org usable
(users, accounts, a few activities; deterministic by seed, scalable) without it.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sfsync_sandbox.ids import make_id

INDUSTRIES = ["Technology", "Retail", "Manufacturing", "Finance", "Healthcare", "Media"]
OWNER_NAMES = [("Haruka", "Sato"), ("Kenji", "Suzuki"), ("Yui", "Takahashi"), ("Ren", "Tanaka"),
               ("Aoi", "Watanabe"), ("Sota", "Ito"), ("Mei", "Yamamoto"), ("Riku", "Nakamura")]  # fmt: skip


def seed_records(accounts: int, seed: int, as_of: date) -> dict[str, list[dict[str, Any]]]:
    """Users (two managers, eight CSMs), ``accounts`` Accounts and a few Tasks and Events."""
    rng = random.Random(seed)
    users: list[dict[str, Any]] = []
    managers = []
    for i, (first, last) in enumerate([("Akira", "Kobayashi"), ("Naomi", "Kato")], start=1):
        uid = make_id("User", i)
        managers.append(uid)
        users.append({"Id": uid, "FirstName": first, "LastName": last, "Username": f"manager{i}@sandbox.sfsync.invalid",
                      "Email": f"manager{i}@example.com", "IsActive": True, "ManagerId": None})  # fmt: skip
    owners = []
    for i, (first, last) in enumerate(OWNER_NAMES, start=3):
        uid = make_id("User", i)
        owners.append(uid)
        users.append({"Id": uid, "FirstName": first, "LastName": last, "Username": f"csm{i}@sandbox.sfsync.invalid",
                      "Email": f"csm{i}@example.com", "IsActive": True, "ManagerId": managers[i % 2]})  # fmt: skip
    account_rows = []
    for n in range(1, accounts + 1):
        start = as_of - timedelta(days=rng.randint(10, 1500))
        renewal = start + timedelta(days=365 * ((as_of - start).days // 365 + 1))
        account_rows.append(
            {
                "Id": make_id("Account", n),
                "Name": f"Sample Customer {n:06d}",
                "OwnerId": owners[n % len(owners)],
                "Industry": rng.choice(INDUSTRIES),
                "ARR__c": float(rng.choice([300_000, 800_000, 1_500_000, 3_000_000, 6_000_000])),
                "Enterprise__c": rng.random() < 0.05,
                "Contract_Start_Date__c": start.isoformat(),
                "Renewal_Date__c": renewal.isoformat(),
                "Tenant_Id__c": f"T{n:06d}" if rng.random() < 0.95 else None,
                "Competitor_Evaluation__c": rng.random() < 0.03,
            }
        )
    tasks, events = [], []
    for n, account in enumerate(account_rows[: max(1, accounts // 2)], start=1):
        day = as_of - timedelta(days=rng.randint(1, 120))
        tasks.append({"Id": make_id("Task", n), "WhatId": account["Id"], "OwnerId": account["OwnerId"],
                      "Subject": "Follow-up call", "ActivityDate": day.isoformat(), "Status": "Completed",
                      "Priority": "Normal", "Type": rng.choice(["Call", "Email", "Meeting"])})  # fmt: skip
        if n % 3 == 0:
            events.append({"Id": make_id("Event", n), "WhatId": account["Id"], "OwnerId": account["OwnerId"],
                           "Subject": "Quarterly business review", "ActivityDateTime": f"{day.isoformat()}T01:00:00Z",
                           "DurationInMinutes": 60, "Type": "QBR"})  # fmt: skip
    return {"User": users, "Account": account_rows, "Task": tasks, "Event": events}
