"""The sandbox's Metabase: a WSGI app speaking the Metabase REST API over a SQLite warehouse.

``create_app(db_path, cards_file, api_key, username, password)`` builds the app;
``load_usage(db_path, usage)`` creates the warehouse from canonical usage rows and
``load_content_log(db_path, log)`` adds the per-content engagement log;
``DEFAULT_CARDS_FILE`` is the packaged ``metabase_cards.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from sfsync_sandbox.metabase.app import ROW_LIMIT, MetabaseSandbox, create_app
from sfsync_sandbox.metabase.db import load_content_log, load_usage

DEFAULT_CARDS_FILE = Path(__file__).resolve().parent.parent / "metabase_cards.yaml"

__all__ = ["DEFAULT_CARDS_FILE", "ROW_LIMIT", "MetabaseSandbox", "create_app",
           "load_content_log", "load_usage"]  # fmt: skip
