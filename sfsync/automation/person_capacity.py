"""Capacity per person (seed 001 §4.1): personal caps and ramps, the load per owner, and
reassignment suggestions. Pure.

The playbook's ``capacity.people`` names each person by Salesforce username (or email) or
User Id, with a cap in accounts and optionally a ramp (a new hire: 5 → 10 → 25). An owner's
``load`` (:func:`sfsync.automation.capacity.owner_capacity`) weighs accounts by their segment's
cap (1.0 = a full book); the personal load is the larger of that and ``accounts / personal
cap`` (owners the playbook does not list have the overall cap), flagged above 1.0.
:func:`reassignment_suggestions` moves accounts, one at a time, from the most over-loaded
owner to the least loaded owner who can take the account's segment without going over 1.0.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from sfsync.automation.capacity import owner_capacity
from sfsync.automation.playbook import PersonCapacity, Playbook
from sfsync.catalogue import SEGMENTS

NO_OWNER = "(none)"
PERSON_COLUMNS = ["personal_cap", "person_load", "over_load"]


def _id15(value: Any) -> str:
    return str(value)[:15] if isinstance(value, str) else ""


def resolve_people(playbook: Playbook, users: pd.DataFrame | None) -> dict[str, PersonCapacity]:
    """Owner Id (as in ``users['user_id']``) -> the playbook entry naming that user by Id,
    username or email (case-insensitive). Entries that name no user are left out."""
    if users is None or users.empty or not playbook.capacity.people:
        return {}
    lookup: dict[str, str] = {}
    for rec in users.to_dict(orient="records"):
        uid = rec.get("user_id")
        if not isinstance(uid, str):
            continue
        lookup[_id15(uid)] = uid
        for column in ("username", "email"):
            value = rec.get(column)
            if isinstance(value, str) and value:
                lookup.setdefault(value.casefold(), uid)
    out: dict[str, PersonCapacity] = {}
    for person in playbook.capacity.people:
        uid = lookup.get(person.user.casefold()) or lookup.get(_id15(person.user))
        if uid is not None:
            out[uid] = person
    return out


def personal_caps(playbook: Playbook, users: pd.DataFrame | None, as_of: date) -> dict[str, int]:
    """Owner Id -> the cap in effect on ``as_of`` for every person the playbook names."""
    return {uid: person.cap_on(as_of) for uid, person in resolve_people(playbook, users).items()}


def _person_load(weighted: float, accounts: int, cap: int) -> float:
    return round(max(float(weighted), accounts / cap), 3)


def with_person_load(
    capacity: pd.DataFrame, playbook: Playbook, users: pd.DataFrame | None, as_of: date
) -> pd.DataFrame:
    """``capacity`` (rows of :func:`owner_capacity`) plus ``personal_cap``, ``person_load``
    and ``over_load`` (person_load > 1.0); people the playbook names who own no account yet
    get a row of zeros. Sorted by person_load, highest first."""
    caps = personal_caps(playbook, users, as_of)
    out = capacity.copy()
    missing = [uid for uid in caps if uid not in set(out["owner_id"])]
    if missing:
        names = {}
        if users is not None and not users.empty:
            names = dict(zip(users["user_id"], users["name"], strict=False))
        extra = pd.DataFrame({"owner_id": missing})
        extra["owner_name"] = [names.get(u, u) for u in missing]
        for column in out.columns:
            if column not in extra:
                extra[column] = 0 if column.startswith("accounts_") or column == "load" else ""
        extra["over_total"] = False
        extra["over_cap"] = False
        out = pd.concat([out, extra[out.columns]], ignore_index=True)
    out["personal_cap"] = [caps.get(o, playbook.overall_cap) for o in out["owner_id"]]
    out["person_load"] = [
        _person_load(w, int(n), int(c))
        for w, n, c in zip(out["load"], out["accounts_total"], out["personal_cap"], strict=True)
    ]
    out["over_load"] = out["person_load"] > 1.0
    return out.sort_values(["person_load", "owner_id"], ascending=[False, True], ignore_index=True)


def person_capacity(
    accounts: pd.DataFrame,
    playbook: Playbook,
    *,
    as_of: date,
    scores: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`owner_capacity` with the personal caps and loads of :func:`with_person_load`."""
    base = owner_capacity(accounts, playbook, scores=scores, users=users)
    return with_person_load(base, playbook, users, as_of)


def owner_load_lines(capacity: pd.DataFrame) -> list[dict[str, str]]:
    """Per owner (as sorted), the values a digest or report line shows: owner_name, owner_id,
    accounts_total, personal_cap, load (two decimals) and over ("true"/"false")."""
    if capacity is None or capacity.empty or "person_load" not in capacity:
        return []
    return [
        {
            "owner_name": str(row.owner_name),
            "owner_id": str(row.owner_id),
            "accounts_total": str(int(row.accounts_total)),
            "personal_cap": str(int(row.personal_cap)),
            "load": f"{float(row.person_load):.2f}",
            "over": "true" if bool(row.over_load) else "false",
        }
        for row in capacity.itertuples(index=False)
        if row.owner_id != NO_OWNER
    ]


def reassignment_suggestions(
    accounts: pd.DataFrame,
    capacity: pd.DataFrame,
    playbook: Playbook,
    users: pd.DataFrame | None = None,
    *,
    scores: pd.DataFrame | None = None,
    limit: int | None = None,
) -> list[dict[str, str]]:
    """Accounts to move (account_id, account_name, segment, from/to owner Id and name, the
    two loads after the move), greedily: the most over-loaded owner gives one account to the
    least loaded owner who can take its segment (the person's ``segments``, if listed) and
    stays at or below 1.0; repeated until nobody is over 1.0, no move fits, or ``limit``
    (default ``capacity.max_suggestions``) suggestions. Heavier segments move first."""
    limit = playbook.capacity.max_suggestions if limit is None else limit
    if capacity is None or capacity.empty or limit <= 0 or "person_load" not in capacity:
        return []
    skills = {uid: set(p.segments) for uid, p in resolve_people(playbook, users).items()}
    cols = ["account_id", "owner_id"] + [c for c in ("name", "arr") if c in accounts]
    acc = accounts[cols].copy()
    if scores is not None and "segment" in scores:
        acc = acc.merge(scores[["account_id", "segment"]], on="account_id", how="left")
    elif "segment" not in acc:
        acc["segment"] = accounts.get("segment")
    acc = acc[acc["segment"].isin(SEGMENTS)]
    caps = {s: playbook.segments[s].cap for s in SEGMENTS}
    state: dict[str, dict[str, Any]] = {}
    for row in capacity.itertuples(index=False):
        if row.owner_id == NO_OWNER:
            continue
        state[row.owner_id] = {
            "name": str(row.owner_name),
            "cap": int(row.personal_cap),
            "counts": {s: int(getattr(row, f"accounts_{s}")) for s in SEGMENTS},
            "other": int(row.accounts_unsegmented),
        }

    def load(owner: str, delta: str | None = None, sign: int = 0) -> float:
        st = state[owner]
        counts = dict(st["counts"])
        if delta:
            counts[delta] += sign
        weighted = sum(counts[s] / caps[s] for s in SEGMENTS)
        total = sum(counts.values()) + st["other"]
        return _person_load(weighted, total, st["cap"])

    order = {s: i for i, s in enumerate(SEGMENTS)}  # S first: it weighs most
    books = {
        owner: sorted(
            (
                (order[seg], str(aid), seg, name)
                for aid, seg, name in zip(
                    group["account_id"],
                    group["segment"],
                    group["name"] if "name" in group else group["account_id"],
                    strict=True,
                )
            ),
        )
        for owner, group in acc.groupby("owner_id")
        if owner in state
    }
    out: list[dict[str, str]] = []
    stuck: set[str] = set()
    while len(out) < limit:
        donors = [o for o in state if o not in stuck and load(o) > 1.0 and books.get(o)]
        if not donors:
            break
        donor = max(donors, key=lambda o: (load(o), o))
        moved = False
        for item in list(books[donor]):
            _, aid, seg, name = item
            receivers = [
                o
                for o in state
                if o != donor
                and (not skills.get(o) or seg in skills[o])
                and load(o, seg, +1) <= 1.0
            ]
            if not receivers:
                continue
            to = min(receivers, key=lambda o: (load(o), o))
            state[donor]["counts"][seg] -= 1
            state[to]["counts"][seg] += 1
            books[donor].remove(item)
            books.setdefault(to, []).append(item)
            out.append(
                {
                    "account_id": aid,
                    "account_name": str(name),
                    "segment": seg,
                    "from_owner_id": donor,
                    "from_owner": state[donor]["name"],
                    "to_owner_id": to,
                    "to_owner": state[to]["name"],
                    "from_load": f"{load(donor):.2f}",
                    "to_load": f"{load(to):.2f}",
                }
            )
            moved = True
            break
        if not moved:
            stuck.add(donor)
    return out
