"""The labels people see for codes: health bands, signals and KPIs, in the template language.

Labels live in the ``slack`` template section (``band_<band>``, ``signal_<code>`` — see
:func:`sfsync.catalogue.slack_label_key` — and ``kpi_<key>``, field ``label``); a code without
a label shows as itself. Used by the Slack messages (``notify/messages.py``) and the KPI
report (``automation/kpi_report.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sfsync.catalogue import SLACK_SECTION, slack_label_key
from sfsync.templates import TemplateSet


class Labels:
    """Label lookups of one template set."""

    def __init__(self, templates: TemplateSet) -> None:
        self.t = templates

    def _label(self, key: str, default: str, field: str = "label") -> str:
        if self.t.has(SLACK_SECTION, key):
            return self.t.fields(SLACK_SECTION, key).get(field, default)
        return default

    def band_label(self, band: Any) -> str:
        """A health band's label; ``band_none`` for a missing band."""
        if band is None or band != band or band == "":
            return self._label("band_none", "-")
        return self._label(f"band_{band}", str(band))

    def segment_label(self, segment: Any) -> str:
        """A segment's label (``explanation_segments``: S（ハイタッチ）…); the letter itself when
        the templates have none, empty for a missing segment."""
        if segment is None or segment != segment or segment == "":
            return ""
        fields = self.t.sections.get("explanation_segments", {}).get(str(segment))
        return str(fields.get("label", segment)) if isinstance(fields, dict) else str(segment)

    def signal_label(self, code: str) -> str:
        """A signal code's label (the code itself when the templates have none)."""
        return self._label(slack_label_key(code), code)

    def signals_text(self, codes: Iterable[str]) -> str:
        """The labels of ``codes`` joined as the language lists things."""
        separator = "、" if self.t.language == "ja" else ", "
        return separator.join(self.signal_label(c) for c in codes)

    def kpi_label(self, key: str) -> str:
        """A KPI's label (the key itself when the templates have none)."""
        return self._label(f"kpi_{key}", key)
