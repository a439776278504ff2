"""Find the local practice org (the ``sfsync-sandbox`` distribution) through its entry point.

The practice org is a separate install so that the product's runtime dependencies carry no web
server or certificate library. Only the CLI paths that need it (``--sandbox``, ``demo``,
``sandbox serve|reset|export``) call :func:`load_practice_org`; nothing else in sfsync imports
``sfsync_sandbox``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from sfsync.errors import SfsyncError

ENTRY_POINT_GROUP = "sfsync.sandbox"
INSTALL_HINT = (
    "from a clone of the sfsync repository: pip install -e ./sandbox; "
    "or install the sfsync-sandbox package next to sfsync"
)


class PracticeOrgMissing(SfsyncError):
    """``--sandbox``, ``demo`` or ``sandbox …`` was used without the practice org installed."""


def load_practice_org(group: str | None = None) -> Any:
    """The practice org's plugin module (``Sandbox``, ``reset_data_dir``, ``export_sample_csv``).

    Raises :class:`PracticeOrgMissing`, naming the command that installs it, when no
    distribution provides the ``sfsync.sandbox`` entry point.
    """
    found = sorted(entry_points(group=group or ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if not found:
        raise PracticeOrgMissing(
            "the local practice org (sfsync-sandbox) is not installed", hint=INSTALL_HINT
        )
    return found[0].load()
