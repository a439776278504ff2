"""The signal ledger: which churn/upsell signals are active per account, since when.

:func:`sync_signals` compares the signals computed for an as-of date with the active ones in
the ledger: a signal not active before is *new* (it triggers Tasks and Slack alerts once), one
already active is *still active* (no new alert), an active one no longer computed is *cleared*.
A signal that comes back after being cleared is new again (a fresh ledger row; the old row stays
as history). At most one active row per (account, code) is enforced by a partial unique index.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    select,
)

from sfsync.frames import isin
from sfsync.state.db import Store, metadata
from sfsync.state.reads import days, fetch_columns

KEY = ["account_id", "code"]
SIGNAL_COLUMNS = ["account_id", "code", "kind", "severity"]

signal_ledger = Table(
    "signal_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(18), nullable=False),
    Column("code", String(100), nullable=False),
    Column("kind", String(20), nullable=False),  # churn | upsell
    Column("severity", String(20)),  # high | medium | low
    Column("first_seen", Date, nullable=False),
    Column("last_seen", Date, nullable=False),
    Column("cleared_at", Date),
    Column("active", Boolean, nullable=False),
)
Index(
    "uq_signal_ledger_active_account_code",
    signal_ledger.c.account_id,
    signal_ledger.c.code,
    unique=True,
    sqlite_where=signal_ledger.c.active,
    postgresql_where=signal_ledger.c.active,
)


class SignalChanges(NamedTuple):
    """Result of :func:`sync_signals`; each frame has account_id, code, kind, severity,
    first_seen (and cleared_at for ``cleared``), sorted by account and code."""

    new: pd.DataFrame
    still_active: pd.DataFrame
    cleared: pd.DataFrame


def _active(conn) -> pd.DataFrame:
    s = signal_ledger
    query = select(s.c.id, s.c.account_id, s.c.code, s.c.kind, s.c.severity, s.c.first_seen)
    columns = fetch_columns(conn, query.where(s.c.active))
    names = ["id", *SIGNAL_COLUMNS, "first_seen"]
    if not columns["id"]:
        frame = pd.DataFrame([], columns=names)
    else:  # per column: the dtypes a frame of the rows would get
        frame = pd.DataFrame({n: list(columns[n]) for n in names})
        frame["first_seen"] = days(columns["first_seen"])  # ISO text (SQLite) or date
    frame["id"] = frame["id"].astype("int64")
    return frame


def _normalise(signals: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in SIGNAL_COLUMNS if c not in signals.columns]
    if missing and len(signals):
        raise ValueError(f"the signals frame lacks column(s) {', '.join(missing)}")
    frame = signals.reindex(columns=SIGNAL_COLUMNS).astype("object")
    frame = frame.dropna(subset=KEY).drop_duplicates(subset=KEY, keep="last")
    if frame["kind"].isna().any():
        raise ValueError("every signal needs a kind (churn or upsell)")
    return frame.astype({"account_id": "str", "code": "str"})


def _out(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    frame = frame.reindex(columns=columns).sort_values(KEY).reset_index(drop=True)
    for col in ("first_seen", "cleared_at"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return frame


def sync_signals(
    store: Store, as_of: date, signals: pd.DataFrame, scope: Iterable[str] | None = None
) -> SignalChanges:
    """Record the signals computed for ``as_of``; return (new, still_active, cleared).

    ``signals`` has account_id, code, kind (churn|upsell), severity. ``scope`` limits clearing
    to these account ids (a run that evaluated only some accounts must not clear the others);
    None means every account was evaluated. Running twice for the same date changes nothing
    the second time (everything is still active, nothing new).
    """
    current = _normalise(signals)
    scope_set = None if scope is None else {str(a) for a in scope}
    with store.begin() as conn:
        active = _active(conn)
        merged = current.merge(
            active, on=KEY, how="outer", suffixes=("", "_ledger"), indicator=True
        )
        new = merged[merged["_merge"] == "left_only"].copy()
        still = merged[merged["_merge"] == "both"].copy()
        gone = merged[merged["_merge"] == "right_only"].copy()
        if scope_set is not None:
            gone = gone[isin(gone["account_id"], scope_set)].copy()
        for col in ("kind", "severity"):
            gone[col] = gone[f"{col}_ledger"]
        s = signal_ledger
        if len(gone):
            conn.execute(
                s.update()
                .where(s.c.id == bindparam("row_id"))
                .values(active=False, cleared_at=as_of),
                [{"row_id": int(i)} for i in gone["id"]],
            )
        if len(still):
            _reclassify(conn, still)
            untouched = active["id"][
                ~isin(active["id"], still["id"]) & ~isin(active["id"], gone["id"])
            ]
            _mark_seen(conn, as_of, still["id"], untouched)
        if len(new):
            conn.execute(
                s.insert(),
                [
                    {
                        "account_id": a,
                        "code": c,
                        "kind": k,
                        "severity": _none(v),
                        "first_seen": as_of,
                        "last_seen": as_of,
                        "active": True,
                    }  # fmt: skip
                    for a, c, k, v in zip(
                        new["account_id"], new["code"], new["kind"], new["severity"], strict=True
                    )
                ],
            )
    new["first_seen"] = as_of
    gone["cleared_at"] = as_of
    base = [*SIGNAL_COLUMNS, "first_seen"]
    return SignalChanges(_out(new, base), _out(still, base), _out(gone, [*base, "cleared_at"]))


UPDATE_CHUNK = 10_000  # ids per statement (SQLite allows 32,766 parameters)


def _reclassify(conn, still: pd.DataFrame) -> None:
    """Store the kind and severity of the still-active signals whose kind or severity changed
    (one parameter set per changed signal; an unchanged night has none)."""
    old_kind = still["kind_ledger"].astype("object").to_numpy()
    new_kind = still["kind"].astype("object").to_numpy()
    old_sev = still["severity_ledger"].astype("object").to_numpy()
    new_sev = still["severity"].astype("object").to_numpy()
    kind_same = (old_kind == new_kind) | (pd.isna(old_kind) & pd.isna(new_kind))
    sev_same = (old_sev == new_sev) | (pd.isna(old_sev) & pd.isna(new_sev))
    changed = still[~(kind_same & sev_same)]
    if not len(changed):
        return
    s = signal_ledger
    conn.execute(
        s.update()
        .where(s.c.id == bindparam("row_id"))
        .values(kind=bindparam("new_kind"), severity=bindparam("new_sev")),
        [
            {"row_id": int(i), "new_kind": k, "new_sev": _none(v)}
            for i, k, v in zip(changed["id"], changed["kind"], changed["severity"], strict=True)
        ],
    )


def _mark_seen(conn, as_of: date, seen: pd.Series, untouched: pd.Series) -> None:
    """Set ``last_seen`` to ``as_of`` on the ledger rows ``seen`` (the still-active signals),
    as set-based statements run on the server: every active row except ``untouched`` (the
    active rows this run neither saw nor cleared) when those are fewer, else ``seen`` by id in
    chunks; rows already at ``as_of`` (a re-run) are left alone."""
    s = signal_ledger
    update = s.update().values(last_seen=as_of).where(s.c.active, s.c.last_seen != as_of)
    if len(untouched) <= min(len(seen), UPDATE_CHUNK):
        others = [int(i) for i in untouched]
        conn.execute(update.where(s.c.id.not_in(others)) if others else update)
        return
    ids = [int(i) for i in seen]
    for start in range(0, len(ids), UPDATE_CHUNK):
        conn.execute(update.where(s.c.id.in_(ids[start : start + UPDATE_CHUNK])))


def _none(value):
    return None if pd.isna(value) else value


def active_signals(store: Store) -> pd.DataFrame:
    """Every active signal: account_id, code, kind, severity, first_seen, last_seen."""
    s = signal_ledger
    query = select(s.c.account_id, s.c.code, s.c.kind, s.c.severity, s.c.first_seen,
                   s.c.last_seen).where(s.c.active)  # fmt: skip
    with store.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=[*SIGNAL_COLUMNS, "first_seen",
                                                            "last_seen"])  # fmt: skip
    return _out(frame, list(frame.columns))


def signals_first_seen(store: Store, date_from: date, date_to: date) -> pd.DataFrame:
    """Every ledger row (active or cleared) first seen in ``[date_from, date_to]``: account_id,
    code, kind, severity, first_seen (the 48-hour KPIs)."""
    s = signal_ledger
    query = select(s.c.account_id, s.c.code, s.c.kind, s.c.severity, s.c.first_seen).where(
        s.c.first_seen >= date_from, s.c.first_seen <= date_to
    )
    with store.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=[*SIGNAL_COLUMNS, "first_seen"])
