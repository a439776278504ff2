"""Linking usage to accounts: tenants no account has, and accounts no usage row has (pure).

Real usage tables hold rows of tenants that no Salesforce account has — trials, internal
tenants, churned customers, customers not linked yet (SPEC §3). They are normal: counted,
reported and left out, never bad rows. The reverse — a linked account whose ``tenant_id``
matches no usage row in the whole window — is more often a typo in ``Tenant_Id__c`` than a
customer who never logged in, so it is reported as a likely mislink.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from sfsync.frames import isin

TOP = 10  # how many tenants / accounts a report names


@dataclass(frozen=True)
class UnknownTenants:
    """Usage rows left out because no account has their tenant."""

    tenants: int = 0
    rows: int = 0
    largest: list[tuple[str, int]] = field(default_factory=list)  # (tenant, rows), most first

    def note(self) -> str:
        names = ", ".join(f"{t} ({n:,} rows)" for t, n in self.largest[:5])
        return (
            f"usage: {self.rows:,} rows of {self.tenants:,} tenants that no account has "
            f"(trials, internal, not yet linked) were left out; largest: {names}"
        )


@dataclass(frozen=True)
class Mislinks:
    """Linked accounts whose tenant has no usage row at all."""

    accounts: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, tenant)

    def note(self) -> str:
        names = ", ".join(f"{name or account} (tenant {tenant})" for account, name, tenant in
                          self.accounts[:5])  # fmt: skip
        count = len(self.accounts)
        subject = "1 account has" if count == 1 else f"{count:,} accounts have"
        return (
            f"accounts: {subject} a tenant id that matches no usage row at all, likely "
            f"mislinked (check Tenant_Id__c): {names}"
        )


def split_unknown_tenants(
    usage: pd.DataFrame, known: Iterable[object]
) -> tuple[pd.DataFrame, UnknownTenants]:
    """The usage rows of known tenants, and what was left out (rows without a tenant stay)."""
    known_set = {str(k) for k in known if k is not None and not pd.isna(k)}
    tenants = usage["tenant_id"]
    unknown = (tenants.notna() & ~isin(tenants.astype("string"), known_set)).to_numpy(dtype=bool)
    if not unknown.any():
        return usage, UnknownTenants()
    counts = tenants[unknown].astype(str).value_counts()
    largest = [(str(t), int(n)) for t, n in counts.head(TOP).items()]
    report = UnknownTenants(tenants=len(counts), rows=int(unknown.sum()), largest=largest)
    return usage.loc[~unknown], report


def find_mislinks(accounts: pd.DataFrame, usage: pd.DataFrame, *, linked_before: date) -> Mislinks:
    """Accounts linked to a tenant (contract started before ``linked_before``, or unknown) whose
    tenant has no usage row in ``usage``. Empty when ``usage`` has no rows at all (then the
    input guard speaks, not this report)."""
    if usage.empty or "tenant_id" not in accounts.columns:
        return Mislinks()
    # tenant ids compared as Arrow text, not a Python str per usage row (a million at 100,000
    # accounts); astype(StringDtype) formats other values as astype(str) does
    text = pd.StringDtype("pyarrow")
    seen = usage["tenant_id"].dropna().astype(text).drop_duplicates()
    linked = accounts.loc[accounts["tenant_id"].notna()]
    if "contract_start" in linked.columns:
        start = pd.to_datetime(linked["contract_start"], errors="coerce")
        linked = linked.loc[(start.isna() | (start < pd.Timestamp(linked_before))).to_numpy()]
    missing = linked.loc[~isin(linked["tenant_id"].astype(text), seen).to_numpy()]
    names = missing["name"] if "name" in missing.columns else pd.Series("", index=missing.index)
    rows = zip(missing["account_id"], names.fillna(""), missing["tenant_id"], strict=True)
    return Mislinks([(str(a), str(n), str(t)) for a, n, t in rows])
