"""Owner capacity: accounts per owner per segment against the playbook caps (SPEC §5). Pure."""

from __future__ import annotations

import pandas as pd

from sfsync.automation.playbook import Playbook
from sfsync.catalogue import SEGMENTS

CAPACITY_COLUMNS = [
    "owner_id",
    "owner_name",
    *[f"accounts_{s}" for s in SEGMENTS],
    "accounts_unsegmented",
    "accounts_total",
    "load",
    "over_segments",
    "over_total",
    "over_cap",
]


def owner_capacity(
    accounts: pd.DataFrame,
    playbook: Playbook,
    *,
    scores: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per owner: account counts per segment, the total, and which caps are exceeded.

    ``load`` is the weighted load ``sum(count_seg / cap_seg)``: 1.0 means a full book of
    mixed segments (an S account weighs as much as 30/8 C accounts). ``over_segments`` lists
    the segments whose own cap is exceeded (``;``-joined), ``over_total`` says whether the
    overall cap is exceeded, ``over_cap`` is either. Segments come from ``scores['segment']``
    (or an accounts ``segment`` column).
    """
    acc = accounts[["account_id", "owner_id"]].copy()
    if scores is not None and "segment" in scores:
        acc = acc.merge(scores[["account_id", "segment"]], on="account_id", how="left")
    elif "segment" in accounts:
        acc["segment"] = accounts["segment"].to_numpy()
    else:
        acc["segment"] = pd.NA
    acc["segment"] = acc["segment"].astype("object").where(acc["segment"].isin(SEGMENTS), "_")
    acc["owner_id"] = acc["owner_id"].fillna("(none)")
    counts = pd.crosstab(acc["owner_id"], acc["segment"])
    for s in [*SEGMENTS, "_"]:
        if s not in counts:
            counts[s] = 0
    out = pd.DataFrame({"owner_id": counts.index.astype(str)})
    for s in SEGMENTS:
        out[f"accounts_{s}"] = counts[s].to_numpy().astype(int)
    out["accounts_unsegmented"] = counts["_"].to_numpy().astype(int)
    out["accounts_total"] = counts.sum(axis=1).to_numpy().astype(int)
    out["load"] = sum(out[f"accounts_{s}"] / playbook.segments[s].cap for s in SEGMENTS).round(3)
    over = [out[f"accounts_{s}"] > playbook.segments[s].cap for s in SEGMENTS]
    out["over_segments"] = (
        [
            ";".join(s for s, flags in zip(SEGMENTS, row, strict=True) if flags)
            for row in zip(*over, strict=True)
        ]
        if len(out)
        else pd.Series(dtype="object")
    )
    out["over_total"] = out["accounts_total"] > playbook.overall_cap
    out["over_cap"] = out["over_total"] | (out["over_segments"] != "")
    names = {}
    if users is not None and not users.empty:
        names = dict(zip(users["user_id"], users["name"], strict=False))
    out["owner_name"] = [names.get(o, o) for o in out["owner_id"]]
    return out[CAPACITY_COLUMNS].sort_values(
        ["over_cap", "accounts_total", "owner_id"],
        ascending=[False, False, True],
        ignore_index=True,
    )


def capacity_lines(capacity: pd.DataFrame, playbook: Playbook) -> list[dict[str, str]]:
    """Template values (one dict per owner over a cap) for digest and report lines."""
    lines = []
    for row in capacity[capacity["over_cap"]].itertuples(index=False):
        details = [
            f"{s} {getattr(row, f'accounts_{s}')}/{playbook.segments[s].cap}"
            for s in row.over_segments.split(";")
            if s
        ]
        if row.over_total:
            details.insert(0, f"total {row.accounts_total}/{playbook.overall_cap}")
        lines.append(
            {
                "owner_name": str(row.owner_name),
                "owner_id": str(row.owner_id),
                "accounts_total": str(row.accounts_total),
                "overall_cap": str(playbook.overall_cap),
                "details": ", ".join(details),
            }
        )
    return lines
