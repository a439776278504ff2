"""The sandbox Metabase's warehouse: a SQLite file with a small product-usage schema.

Tables (product-side names, as a real product database would have them; the saved questions in
``metabase_cards.yaml`` alias them to sfsync's canonical usage columns):

- ``tenants`` (``tenant_id`` primary key, ``plan``, ``created_on`` DATE)
- ``tenant_monthly_usage`` (``tenant_id``, ``month`` TEXT YYYY-MM, ``webinars_delivered``,
  ``active_login_days``, ``last_login_on`` DATE, ``pipeline_conversion``, ``plan_usage_ratio``,
  ``tickets_opened``, ``video_views``, ``email_opens``, ``email_clicks``,
  ``tutorial_done`` BOOLEAN); primary key (``tenant_id``, ``month``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    tenant_id   TEXT PRIMARY KEY,
    plan        TEXT NOT NULL,
    created_on  DATE
);
CREATE TABLE IF NOT EXISTS tenant_monthly_usage (
    tenant_id           TEXT NOT NULL REFERENCES tenants (tenant_id),
    month               TEXT NOT NULL,
    webinars_delivered  INTEGER NOT NULL DEFAULT 0,
    active_login_days   INTEGER NOT NULL DEFAULT 0,
    last_login_on       DATE,
    pipeline_conversion REAL,
    plan_usage_ratio    REAL,
    tickets_opened      INTEGER NOT NULL DEFAULT 0,
    video_views         INTEGER,
    email_opens         INTEGER,
    email_clicks        INTEGER,
    tutorial_done       BOOLEAN,
    PRIMARY KEY (tenant_id, month)
);
CREATE INDEX IF NOT EXISTS tenant_monthly_usage_month ON tenant_monthly_usage (month);
"""

# canonical usage column -> column of tenant_monthly_usage
CANONICAL_TO_TABLE = {
    "tenant_id": "tenant_id",
    "month": "month",
    "deliveries": "webinars_delivered",
    "login_days": "active_login_days",
    "last_login_date": "last_login_on",
    "pipeline_conversion_rate": "pipeline_conversion",
    "plan_usage_ratio": "plan_usage_ratio",
    "support_tickets": "tickets_opened",
    "video_views": "video_views",
    "email_opens": "email_opens",
    "email_clicks": "email_clicks",
    "tutorial_completed": "tutorial_done",
}
_INTEGER_COLUMNS = (
    "webinars_delivered",
    "active_login_days",
    "tickets_opened",
    "video_views",
    "email_opens",
    "email_clicks",
)


def connect(db_path: Path) -> sqlite3.Connection:
    """Open the warehouse read-write; BOOLEAN columns come back as Python bools."""
    conn = sqlite3.connect(db_path, detect_types=sqlite3.PARSE_DECLTYPES, check_same_thread=False)
    conn.executescript(SCHEMA)
    return conn


sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))
# dates stay ISO text (as Metabase serialises them), not Python's default date converter
sqlite3.register_converter("DATE", lambda raw: raw.decode())


def _python_list(column: pd.Series) -> list:
    """Column values as Python scalars with None for missing values (what sqlite3 binds)."""
    values = column.astype(object).tolist()
    missing = column.isna().to_numpy()
    if missing.any():
        for i in missing.nonzero()[0]:
            values[i] = None
    return values


def load_usage(db_path: Path, usage: pd.DataFrame, replace: bool = True) -> int:
    """Create the database at ``db_path`` (if needed) and load canonical ``usage`` rows into it.

    With ``replace`` the existing rows are deleted first. Returns the number of usage rows loaded.
    """
    missing = [c for c in ("tenant_id", "month") if c not in usage.columns]
    if missing:
        raise ValueError(f"usage frame lacks required column(s) {', '.join(missing)}")
    table = pd.DataFrame(
        {
            table_col: usage[canon] if canon in usage.columns else None
            for canon, table_col in CANONICAL_TO_TABLE.items()
        }
    )
    for col in _INTEGER_COLUMNS:
        table[col] = pd.to_numeric(table[col]).round().astype("Int64")
    dates = pd.to_datetime(table["last_login_on"])
    table["last_login_on"] = dates.dt.strftime("%Y-%m-%d").astype(object).where(dates.notna(), None)
    table["tutorial_done"] = table["tutorial_done"].astype("boolean")
    columns = [_python_list(table[col]) for col in table.columns]
    first_month = usage.groupby("tenant_id")["month"].min()
    tenants = [(str(t), "standard", f"{m}-01") for t, m in first_month.items()]
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a bulk load: rebuilt from the sample if lost
        with conn:
            if replace:
                conn.execute("DELETE FROM tenant_monthly_usage")
                conn.execute("DELETE FROM tenants")
            conn.executemany("INSERT OR REPLACE INTO tenants VALUES (?, ?, ?)", tenants)
            placeholders = ", ".join("?" * len(CANONICAL_TO_TABLE))
            conn.executemany(
                f"INSERT OR REPLACE INTO tenant_monthly_usage ({', '.join(table.columns)}) "
                f"VALUES ({placeholders})",
                zip(*columns, strict=True),
            )
    finally:
        conn.close()
    return len(table)
