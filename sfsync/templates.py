"""User-facing text (Task subjects and descriptions, Slack messages) from YAML templates.

Template sets live in ``mappings/templates/<language>/*.yaml`` (``ja`` is the default, ``en``
ships too); the files of one language are merged, and a key defined twice is an error. Each file
is a two-level mapping ``section -> key -> {field: text}``; texts use
``str.format`` placeholders such as ``{account_name}``. Rendering with a placeholder the caller
did not supply is a ConfigError naming the file and the template key, never a half-rendered text.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfsync.configfile import read_yaml
from sfsync.errors import ConfigError, ConfigProblem

DEFAULT_LANGUAGE = "ja"


def placeholders(text: str) -> set[str]:
    """The placeholder names used in a format string (``"{a} {b.c}"`` -> ``{"a", "b"}``)."""
    names = set()
    for _, name, _, _ in string.Formatter().parse(text):
        if name:
            names.add(name.split(".")[0].split("[")[0])
    return names


@dataclass(frozen=True)
class TemplateSet:
    """All templates of one language, loaded from one YAML file."""

    file: str  # the language folder
    language: str
    sections: dict[str, dict[str, dict[str, str]]]
    origin: dict[tuple[str, str], str] = field(default_factory=dict)  # (section, key) -> file

    def file_of(self, section: str, key: str | None = None) -> str:
        """The YAML file defining ``section.key`` (or any key of ``section``); else the folder."""
        for (sec, k), path in self.origin.items():
            if sec == section and (key is None or k == key):
                return path
        return self.file

    def has(self, section: str, key: str) -> bool:
        return key in self.sections.get(section, {})

    def fields(self, section: str, key: str) -> dict[str, str]:
        try:
            return self.sections[section][key]
        except KeyError:
            raise ConfigError(
                [ConfigProblem(self.file, f"{section}.{key}", "template is not defined")],
                hint=f"add it to a file in {self.file}",
            ) from None

    def render(self, section: str, key: str, values: dict[str, Any]) -> dict[str, str]:
        """Render every field of template ``section.key`` with ``values``."""
        out = {}
        for name, text in self.fields(section, key).items():
            missing = placeholders(text) - values.keys()
            if missing:
                raise ConfigError(
                    [
                        ConfigProblem(
                            self.file_of(section, key),
                            f"{section}.{key}.{name}",
                            f"unknown placeholder(s) {', '.join(sorted(missing))}; "
                            f"available: {', '.join(sorted(values))}",
                        )
                    ]
                )
            out[name] = text.format_map(values)
        return out


def load_templates(directory: str | Path, language: str = DEFAULT_LANGUAGE) -> TemplateSet:
    """Load and merge every ``<directory>/<language>/*.yaml`` file."""
    lang_dir = Path(directory) / language
    files = sorted(lang_dir.glob("*.yaml"))
    if not files:
        raise ConfigError(
            [ConfigProblem(str(lang_dir), "", f"no template files for language {language!r}")],
            hint="use a language that has a folder under mappings/templates/, e.g. ja or en",
        )
    problems: list[ConfigProblem] = []
    sections: dict[str, dict[str, dict[str, str]]] = {}
    origin: dict[tuple[str, str], str] = {}
    for path in files:
        data = read_yaml(path)
        if not isinstance(data, dict):
            problems.append(ConfigProblem(str(path), "", "expected a mapping of sections"))
            continue
        for section, entries in data.items():
            if not isinstance(entries, dict):
                problems.append(ConfigProblem(str(path), str(section), "expected a mapping"))
                continue
            for key, fields in entries.items():
                where = f"{section}.{key}"
                if not isinstance(fields, dict) or not all(
                    isinstance(v, str) for v in fields.values()
                ):
                    problems.append(ConfigProblem(str(path), where, "expected field: text pairs"))
                    continue
                if (section, key) in origin:
                    problems.append(
                        ConfigProblem(str(path), where, f"also defined in {origin[section, key]}")
                    )
                    continue
                origin[section, key] = str(path)
                sections.setdefault(section, {})[key] = dict(fields)
    if problems:
        raise ConfigError(problems)
    return TemplateSet(file=str(lang_dir), language=language, sections=sections, origin=origin)
