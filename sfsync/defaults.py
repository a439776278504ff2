"""The one place of each default the settings give (others import these, most through
:mod:`sfsync.config`, which re-exports them).

This module imports nothing, so that the command line can name a default in its help text
(``sfsync score --help``) without loading the settings model (pydantic, SQLAlchemy).
"""

DEFAULT_CONFIG_FILE = "sfsync.yaml"
DEFAULT_STATE_URL = "sqlite:///.sfsync/state.db"
DEFAULT_TIMEZONE = "Asia/Tokyo"
DEFAULT_BULK_THRESHOLD = 2000  # records; below it writes and reads use the REST API
DEFAULT_API_RESERVE = 1000
