"""Logging setup (structlog) and secret redaction. Placeholder until the foundation lands."""

from __future__ import annotations

import re

_SECRET = re.compile(r"(?i)(token|password|secret|session|api[_-]?key|authorization)(\W+)(\S+)")


def redact_text(text: str) -> str:
    """Replace values that follow secret-looking names with ``***``."""
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def configure_logging(log_format: str | None, verbose: int) -> str:
    return log_format or "console"
