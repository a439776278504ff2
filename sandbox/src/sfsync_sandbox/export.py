"""Write the sandbox's sample book as canonical CSV files (SPEC §3) for ``sfsync score``.

The files go through the same column mappings and activity rules as a real extraction, so
scoring them offline gives the scores a sandbox run computes. Accounts churned on or before
``as_of`` are left out with their usage and activities, as the nightly job leaves them out.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from sfsync.sources.columns import apply_mapping, load_column_mapping
from sfsync.sources.extract import exclude_churned
from sfsync.sources.salesforce import canonical_activities
from sfsync_sandbox.sample_data import generate

ACCOUNT_COLUMNS = [
    "account_id", "name", "owner_id", "arr", "is_enterprise", "contract_start",
    "renewal_date", "industry", "tenant_id", "competitor_evaluation",
]  # fmt: skip


def _csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as YYYY-MM-DD and booleans as true/false, as SPEC §3 describes CSV files."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            out[column] = series.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_bool_dtype(series):
            out[column] = series.map({True: "true", False: "false"})
    return out


def export_sample_csv(
    directory: Path, *, accounts: int, seed: int, as_of: date, mappings_dir: Path
) -> dict[str, int]:
    """Write accounts.csv, usage.csv and activities.csv into ``directory``; rows per file."""
    sample = generate(accounts=accounts, seed=seed, as_of=as_of)
    mapping = load_column_mapping(mappings_dir / "columns" / "salesforce_accounts.yaml")
    # like the nightly job (exclude_churned): accounts churned by as_of are not customers
    mapped = exclude_churned(
        apply_mapping(sample.accounts, mapping, source="sample accounts"), as_of
    )
    canonical = mapped.frame
    linked = set(canonical["tenant_id"].dropna())
    completed = sample.tasks.loc[sample.tasks["Status"] == "Completed"]
    past_events = sample.events.loc[
        pd.to_datetime(sample.events["ActivityDate"]) <= pd.Timestamp(as_of)
    ]
    activities = pd.concat(
        [canonical_activities(completed, "Task"), canonical_activities(past_events, "Event")],
        ignore_index=True,
    )[["account_id", "date", "type", "completed"]]
    activities = activities.loc[activities["account_id"].isin(set(canonical["account_id"]))]
    frames = {
        "accounts": canonical[[c for c in ACCOUNT_COLUMNS if c in canonical]],
        "usage": sample.usage.loc[sample.usage["tenant_id"].isin(linked)],
        "activities": activities,
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        _csv_text(frame).to_csv(directory / f"{name}.csv", index=False)
    return {name: len(frame) for name, frame in frames.items()}
