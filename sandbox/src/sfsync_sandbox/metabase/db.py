"""The sandbox Metabase's warehouse: a SQLite file with a small product-usage schema.

Tables (product-side names, as a real product database would have them; the saved questions in
``metabase_cards.yaml`` alias them to sfsync's canonical usage columns):

- ``tenants`` (``tenant_id`` primary key, ``plan``, ``created_on`` DATE)
- ``tenant_monthly_usage`` (``tenant_id``, ``month`` TEXT YYYY-MM, ``webinars_delivered``,
  ``active_login_days``, ``last_login_on`` DATE, ``pipeline_conversion``, ``plan_usage_ratio``,
  ``tickets_opened``, ``video_views``, ``document_views``, ``emails_delivered``,
  ``email_opens``, ``email_clicks``, ``tutorial_done`` BOOLEAN, ``tutorial_completed_on``
  DATE); primary key (``tenant_id``, ``month``).
- ``content_engagement`` (``tenant_id``, ``month``, ``content_id``, ``content_kind``
  video/document/mail, ``views``, ``completion_ratio``): the per-content log behind the video,
  document and mail figures; primary key (``tenant_id``, ``month``, ``content_id``).

A warehouse file written by an earlier version gains the columns it lacks when opened.
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
    document_views      INTEGER,
    emails_delivered    INTEGER,
    tutorial_completed_on DATE,
    PRIMARY KEY (tenant_id, month)
);
CREATE TABLE IF NOT EXISTS content_engagement (
    tenant_id         TEXT NOT NULL REFERENCES tenants (tenant_id),
    month             TEXT NOT NULL,
    content_id        TEXT NOT NULL,
    content_kind      TEXT NOT NULL,
    views             INTEGER NOT NULL DEFAULT 0,
    completion_ratio  REAL,
    PRIMARY KEY (tenant_id, month, content_id)
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
    "document_views": "document_views",
    "email_delivered": "emails_delivered",
    "tutorial_completed_at": "tutorial_completed_on",
}
_INTEGER_COLUMNS = (
    "webinars_delivered",
    "active_login_days",
    "tickets_opened",
    "video_views",
    "email_opens",
    "email_clicks",
    "document_views",
    "emails_delivered",
)
_DATE_COLUMNS = ("last_login_on", "tutorial_completed_on")
# columns added after the first version of the warehouse: (name, declared type)
_ADDED_COLUMNS = (
    ("document_views", "INTEGER"),
    ("emails_delivered", "INTEGER"),
    ("tutorial_completed_on", "DATE"),
)
# the per-content log (canonical column -> column of content_engagement)
CONTENT_TO_TABLE = {
    "tenant_id": "tenant_id",
    "month": "month",
    "content_id": "content_id",
    "kind": "content_kind",
    "views": "views",
    "completion_ratio": "completion_ratio",
}


def connect(db_path: Path) -> sqlite3.Connection:
    """Open the warehouse read-write; BOOLEAN columns come back as Python bools."""
    conn = sqlite3.connect(db_path, detect_types=sqlite3.PARSE_DECLTYPES, check_same_thread=False)
    conn.executescript(SCHEMA)
    present = {row[1] for row in conn.execute("PRAGMA table_info(tenant_monthly_usage)")}
    for name, declared in _ADDED_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE tenant_monthly_usage ADD COLUMN {name} {declared}")
    conn.commit()
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
    for col in _DATE_COLUMNS:
        dates = pd.to_datetime(table[col])
        table[col] = dates.dt.strftime("%Y-%m-%d").astype(object).where(dates.notna(), None)
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
                conn.execute("DELETE FROM content_engagement")
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


def load_content_log(db_path: Path, log: pd.DataFrame, replace: bool = True) -> int:
    """Load the per-content engagement log (canonical columns: ``tenant_id``, ``month``,
    ``content_id``, ``kind``, ``views``, ``completion_ratio``) into ``content_engagement``.

    Call it after :func:`load_usage` (the tenants must exist). Returns the rows loaded.
    """
    missing = [c for c in CONTENT_TO_TABLE if c not in log.columns]
    if missing:
        raise ValueError(f"content log lacks column(s) {', '.join(missing)}")
    table = pd.DataFrame({t: log[c] for c, t in CONTENT_TO_TABLE.items()})
    table["views"] = pd.to_numeric(table["views"]).round().astype("Int64")
    columns = [_python_list(table[col]) for col in table.columns]
    conn = connect(Path(db_path))
    try:
        with conn:
            if replace:
                conn.execute("DELETE FROM content_engagement")
            conn.executemany(
                f"INSERT OR REPLACE INTO content_engagement ({', '.join(table.columns)}) "
                f"VALUES ({', '.join('?' * len(table.columns))})",
                zip(*columns, strict=True),
            )
    finally:
        conn.close()
    return len(table)
