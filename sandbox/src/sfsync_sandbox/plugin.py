"""What sfsync uses of the local practice org, found through the ``sfsync.sandbox`` entry point.

sfsync (``sfsync/commands/practice_org.py``) loads this module by its entry point, never by
name, so a production installation of sfsync runs without the practice org installed.
"""

from __future__ import annotations

from sfsync_sandbox import Sandbox, reset_data_dir
from sfsync_sandbox.export import export_sample_csv

__all__ = ["Sandbox", "export_sample_csv", "reset_data_dir"]
