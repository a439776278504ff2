"""The wording of score explanations, from the template set of one language.

Sentence shapes and the vocabulary the engine itself defines (band names, yes/no, benchmark
comparisons, data-quality flags) live in ``mappings/templates/<lang>/explanation.yaml``;
category, measure and bin labels live in the scorecard (``labels: {ja: …, en: …}``). Every
template is checked once, when the wording is built: a missing template or an unknown
placeholder is a ConfigError naming the template file and key, before any account is scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from sfsync.errors import ConfigError, ConfigProblem
from sfsync.templates import TemplateSet, placeholders

#: section -> key -> field -> placeholders that field may use
REQUIRED: dict[str, dict[str, dict[str, frozenset[str]]]] = {
    "explanation": {
        "header": {"text": frozenset({"score", "band"})},
        "no_score": {"text": frozenset()},
        "category": {"text": frozenset({"category", "points", "max_points", "measures"})},
        "category_not_applicable": {"text": frozenset({"category", "max_points", "measures"})},
        "measure": {"text": frozenset({"measure", "bin", "points", "max_points"})},
        "measure_missing": {"text": frozenset({"measure", "max_points"})},
        "measure_not_applicable": {"text": frozenset({"measure", "max_points"})},
        "data_quality": {"text": frozenset({"flags"})},
        "renormalised": {"text": frozenset({"possible", "total"})},
        "next_action": {"text": frozenset({"action"})},
        "separators": {"part": frozenset(), "measure": frozenset(), "flag": frozenset()},
    },
    "explanation_values": {
        key: {"label": frozenset()}
        for key in (
            "boolean_true",
            "boolean_false",
            "below_benchmark",
            "average",
            "above_benchmark",
        )
    },
    "explanation_data_quality": {
        key: {"label": frozenset()}
        for key in ("unlinked_tenant", "no_contract_start", "no_usage_rows")
    },
    "explain_report": {
        "title": {"text": frozenset({"account_id", "scorecard"})},
        "score": {"text": frozenset({"score", "band", "trend"})},
        "segment": {"text": frozenset({"segment", "phase"})},
        "signals": {"text": frozenset({"signals"})},
        "data_quality": {"text": frozenset({"flags"})},
        "category": {"text": frozenset({"category", "points", "max_points"})},
        "measure": {"text": frozenset({"measure", "value", "bin", "points", "max_points"})},
        "measure_missing": {"text": frozenset({"measure", "value", "max_points"})},
        "measure_not_applicable": {"text": frozenset({"measure", "value"})},
        "missing_measures": {"text": frozenset({"measures"})},
        "next_action": {"text": frozenset({"action"})},
        "words": {
            "none": frozenset(),
            "ok": frozenset(),
            "not_available": frozenset(),
            "missing_value": frozenset(),
        },
    },
}
#: optional: band labels (a band without one is shown by its scorecard name)
BANDS_SECTION = "explanation_bands"
#: optional: the next action per band (seed 001 §2.3); a band without one gets no action line
ACTIONS_SECTION = "explanation_actions"
#: optional: segment and lifecycle-phase labels (``sfsync explain``; the code when missing)
SEGMENTS_SECTION = "explanation_segments"
PHASES_SECTION = "explanation_phases"
#: the signal labels people already see in Slack (``slack.signal_<code>.label``)
SIGNALS_SECTION = "slack"


def template_file(templates: TemplateSet, section: str) -> str:
    """The file of ``templates`` that defines ``section`` (its language folder if none does)."""
    found = templates.file_of(section)
    return found if found != templates.file else str(Path(templates.file) / "explanation.yaml")


def _problems(templates: TemplateSet) -> list[ConfigProblem]:
    problems = []
    for section, keys in REQUIRED.items():
        for key, fields in keys.items():
            given = templates.sections.get(section, {}).get(key)
            for field, allowed in fields.items():
                where = f"{section}.{key}.{field}"
                if given is None or field not in given:
                    what = "template is not defined" if given is None else "field is missing"
                    problems.append(ConfigProblem(template_file(templates, section), where, what))
                    continue
                unknown = placeholders(given[field]) - allowed
                if unknown:
                    problems.append(
                        ConfigProblem(
                            template_file(templates, section),
                            where,
                            f"unknown placeholder(s) {', '.join(sorted(unknown))}; available: "
                            f"{', '.join(sorted(allowed)) or 'none'}",
                        )
                    )
            if given is not None:
                for extra in sorted(set(given) - set(fields)):
                    problems.append(
                        ConfigProblem(
                            template_file(templates, section),
                            f"{section}.{key}.{extra}",
                            f"unknown field; expected: {', '.join(fields)}",
                        )
                    )
    return problems


@dataclass(frozen=True)
class Wording:
    """Checked explanation templates of one language (``text(section, key, field)``)."""

    language: str
    texts: dict[tuple[str, str, str], str]
    bands: dict[str, str]
    actions: dict[str, str] = dataclass_field(default_factory=dict)
    segments: dict[str, str] = dataclass_field(default_factory=dict)
    phases: dict[str, str] = dataclass_field(default_factory=dict)
    signals: dict[str, str] = dataclass_field(default_factory=dict)

    def text(self, section: str, key: str, field: str = "text") -> str:
        return self.texts[section, key, field]

    def label(self, section: str, key: str) -> str:
        return self.texts[section, key, "label"]

    def band(self, name: str | None) -> str:
        return "" if name is None else self.bands.get(name, name)

    def action(self, band: str | None) -> str | None:
        """The next action for ``band`` (None when the templates give none)."""
        return None if band is None else self.actions.get(band)

    def segment(self, code: str) -> str:
        return self.segments.get(code, code)

    def phase(self, code: str) -> str:
        return self.phases.get(code, code)

    def signal(self, code: str) -> str:
        return self.signals.get(code, code)


def wording_from_templates(templates: TemplateSet) -> Wording:
    """Check the explanation templates of ``templates`` and return them as a :class:`Wording`."""
    problems = _problems(templates)
    if problems:
        raise ConfigError(problems, hint="compare with mappings/templates/ja/explanation.yaml")
    texts = {
        (section, key, field): templates.sections[section][key][field]
        for section, keys in REQUIRED.items()
        for key, fields in keys.items()
        for field in fields
    }

    def labels(section: str) -> dict[str, str]:
        return {
            name: str(fields.get("label", name))
            for name, fields in templates.sections.get(section, {}).items()
            if isinstance(fields, dict)
        }

    signals = {
        key.removeprefix("signal_"): label
        for key, label in labels(SIGNALS_SECTION).items()
        if key.startswith("signal_")
    }
    return Wording(
        language=templates.language,
        texts=texts,
        bands=labels(BANDS_SECTION),
        actions=labels(ACTIONS_SECTION),
        segments=labels(SEGMENTS_SECTION),
        phases=labels(PHASES_SECTION),
        signals=signals,
    )


def resolve_wording(templates: TemplateSet | None, language: str | None = None) -> Wording:
    """The wording of ``templates`` (which must define the ``explanation`` section); the
    caller loads them (``sfsync.project.JobBundle.templates``): nothing is read here."""
    if templates is None or "explanation" not in templates.sections:
        where = templates.file if templates is not None else "templates"
        raise ConfigError(
            [ConfigProblem(str(where), "explanation", "no explanation templates to word scores")],
            hint="pass the template set of mappings/templates/<language> "
            "(sfsync.templates.load_templates)",
        )
    return wording_from_templates(templates)
