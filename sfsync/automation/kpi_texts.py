"""Texts of the KPI report: one field of a ``kpi_report`` template, rendered (shared by the
report, its sections and the CLI table)."""

from __future__ import annotations

from sfsync.errors import ConfigError, ConfigProblem
from sfsync.templates import TemplateSet, placeholders


def kpi_text(templates: TemplateSet, key: str, field: str, **values) -> str:
    """Field ``field`` of template ``kpi_report.key`` rendered with ``values``; a missing field
    or placeholder is a ConfigError naming the template file and key."""
    where = f"kpi_report.{key}.{field}"
    text = templates.fields("kpi_report", key).get(field)
    if text is None:
        raise ConfigError(
            [ConfigProblem(templates.file_of("kpi_report", key), where, "text is not defined")],
            hint=f"add it to a file in {templates.file}",
        )
    missing = placeholders(text) - values.keys()
    if missing:
        raise ConfigError(
            [
                ConfigProblem(
                    templates.file_of("kpi_report", key),
                    where,
                    f"unknown placeholder(s) {', '.join(sorted(missing))}; "
                    f"available: {', '.join(sorted(values)) or 'none'}",
                )
            ]
        )
    return text.format_map(values)
