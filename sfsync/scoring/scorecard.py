"""Scorecard YAML: pydantic models and the checks that run before any scoring.

A scorecard is a set of categories, each with a maximum and measures. A measure reads one
input column (a built-in feature of :mod:`sfsync.scoring.features` or an extra column declared
under ``inputs``) and turns it into points:

- ``bins``: numeric bins; each bound says whether it is inclusive (``ge``/``gt`` below,
  ``le``/``lt`` above). Bins must not overlap or leave gaps.
- ``lookup``: categorical groups (value lists -> points), optional ``other`` for the rest.
- ``boolean``: points for true and for false.
- ``checklist``: the number of completed steps (boolean columns), scored by ``bins``.
- ``benchmark``: a rate compared with an industry benchmark within a relative tolerance.

Every measure says what missing data means (``missing: zero`` or ``not_applicable``) and may
carry a ``weight``. Categories, measures, bins and lookup groups may carry ``labels``, a
per-language map (``{ja: 配信数, en: deliveries}``) used by explanations in that language;
without it the single ``label`` (else the key) is used. ``load_scorecard`` reports every problem at once, with file and key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from sfsync.configfile import StrictModel, load_model, read_yaml, validate_data
from sfsync.errors import ConfigError, ConfigProblem, InputDataError
from sfsync.scoring.csv_inputs import read_benchmarks
from sfsync.scoring.features import FEATURES
from sfsync.scoring.rules import Rules

MissingPolicy = Literal["zero", "not_applicable"]


Labels = dict[str, str]  # language code -> label, e.g. {ja: 配信数, en: deliveries}


def localized(labels: Labels, language: str | None, fallback: str) -> str:
    """The label for ``language`` from a ``labels`` map, else ``fallback``."""
    return labels.get(language or "", fallback) or fallback


class Bin(StrictModel):
    """One numeric bin; omitted lower/upper bound = unbounded on that side."""

    label: str | None = None
    labels: Labels = {}  # per-language labels for explanations; fall back to ``label``
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    points: float = Field(ge=0)

    @model_validator(mode="after")
    def _one_bound_per_side(self) -> Bin:
        if self.ge is not None and self.gt is not None:
            raise ValueError("give either ge or gt as the lower bound, not both")
        if self.le is not None and self.lt is not None:
            raise ValueError("give either le or lt as the upper bound, not both")
        low, high = self.lower, self.upper
        closed = self.ge is not None and self.le is not None
        if low is not None and high is not None and (low > high or (low == high and not closed)):
            raise ValueError("the bin is empty: its lower bound is above its upper bound")
        return self

    @property
    def lower(self) -> float | None:
        return self.ge if self.ge is not None else self.gt

    @property
    def upper(self) -> float | None:
        return self.le if self.le is not None else self.lt

    def describe(self) -> str:
        """Human label: the explicit ``label`` or one built from the bounds."""
        if self.label:
            return self.label

        def fmt(x: float) -> str:
            return f"{x:g}"

        parts = []
        if self.lower is not None:
            parts.append(("≥ " if self.ge is not None else "> ") + fmt(self.lower))
        if self.upper is not None:
            parts.append(("≤ " if self.le is not None else "< ") + fmt(self.upper))
        return " and ".join(parts) or "any"


class _Measure(StrictModel):
    label: str | None = None
    labels: Labels = {}
    description: str | None = None
    weight: float = Field(default=1.0, gt=0)
    missing: MissingPolicy


class BinsMeasure(_Measure):
    type: Literal["bins"]
    input: str
    bins: list[Bin] = Field(min_length=1)


class LookupGroup(StrictModel):
    label: str
    labels: Labels = {}
    points: float = Field(ge=0)
    values: list[str] = Field(min_length=1)


class OtherGroup(StrictModel):
    label: str = "other"
    labels: Labels = {}
    points: float = Field(ge=0)


class LookupMeasure(_Measure):
    type: Literal["lookup"]
    input: str
    groups: list[LookupGroup] = Field(min_length=1)
    other: OtherGroup | None = None  # values in no group; absent -> treated as missing


class BooleanMeasure(_Measure):
    type: Literal["boolean"]
    input: str
    points_true: float = Field(ge=0)
    points_false: float = Field(ge=0)


class ChecklistMeasure(_Measure):
    type: Literal["checklist"]
    steps: list[str] = Field(min_length=1)
    bins: list[Bin] = Field(min_length=1)


class BenchmarkPoints(StrictModel):
    below: float = Field(ge=0)
    average: float = Field(ge=0)
    above: float = Field(ge=0)


class BenchmarkMeasure(_Measure):
    type: Literal["benchmark"]
    input: str
    benchmark_key: str = "industry"
    tolerance: float = Field(default=0.10, ge=0, lt=1)
    points: BenchmarkPoints


Measure = Annotated[
    BinsMeasure | LookupMeasure | BooleanMeasure | ChecklistMeasure | BenchmarkMeasure,
    Field(discriminator="type"),
]


class Category(StrictModel):
    label: str | None = None
    labels: Labels = {}
    max_points: float = Field(gt=0)
    cap: bool = False  # true: measure maxima may exceed max_points; earned points are capped
    measures: dict[str, Measure] = Field(min_length=1)


class Band(StrictModel):
    name: str
    min: int = Field(ge=0, le=100)
    max: int = Field(ge=0, le=100)


class InputColumn(StrictModel):
    source: Literal["accounts", "usage"]
    kind: Literal["number", "boolean", "category"]
    description: str | None = None


class Scorecard(StrictModel):
    """A validated scorecard (see the module docstring). ``rules`` is resolved by the loader."""

    name: str
    description: str | None = None
    inputs: dict[str, InputColumn] = {}
    categories: dict[str, Category] = Field(min_length=1)
    bands: list[Band] = Field(min_length=1)
    rules_file: str | None = None  # path relative to this file; absent -> SPEC defaults
    rules: Rules = Rules()
    benchmarks_file: str | None = None  # CSV ``industry,rate`` relative to this file
    benchmark_table: dict[str, float] = {}
    source: str = "<memory>"

    def measures(self):
        """Yield ``(category_name, measure_name, measure)`` in file order."""
        for cat_name, category in self.categories.items():
            for name, measure in category.measures.items():
                yield cat_name, name, measure

    def measure_max(self, measure) -> float:
        """The most points a measure can earn (weight applied)."""
        return max_points(measure) * measure.weight

    def category_max(self, name: str) -> float:
        return self.categories[name].max_points

    @property
    def integral_points(self) -> bool:
        """True when every weighted point value is a whole number (integer output columns)."""
        return all(float(p).is_integer() for p in _all_points(self))


def max_points(measure) -> float:
    return max(_points_of(measure))


def bin_points(measure) -> list[float]:
    """Weighted points of each bin (group, yes/no, below/average/above), in engine order."""
    return [p * measure.weight for p in _points_of(measure)]


def _points_of(measure) -> list[float]:
    if isinstance(measure, BinsMeasure | ChecklistMeasure):
        return [b.points for b in measure.bins]
    if isinstance(measure, LookupMeasure):
        extra = [measure.other.points] if measure.other else []
        return [g.points for g in measure.groups] + extra
    if isinstance(measure, BooleanMeasure):
        return [measure.points_true, measure.points_false]
    return [measure.points.below, measure.points.average, measure.points.above]


def _all_points(card: Scorecard):
    for _, _, measure in card.measures():
        for p in _points_of(measure):
            yield p * measure.weight


def measure_inputs(measure) -> list[str]:
    """Every input column a measure reads."""
    if isinstance(measure, ChecklistMeasure):
        return list(measure.steps)
    if isinstance(measure, BenchmarkMeasure):
        return [measure.input, measure.benchmark_key]
    return [measure.input]


def _bin_problems(bins: list[Bin], file: str, path: str) -> list[ConfigProblem]:
    """Bins sorted by lower bound must touch exactly: no overlap, no gap."""
    problems = []

    def low_key(b: Bin):
        return (float("-inf") if b.lower is None else b.lower, 0 if b.ge is not None else 1)

    ordered = sorted(enumerate(bins), key=lambda item: low_key(item[1]))
    for (i, a), (j, b) in zip(ordered, ordered[1:], strict=False):
        where = f"{path}.bins.{j}"
        if a.upper is None or b.lower is None:
            problems.append(ConfigProblem(file, where, f"overlaps bin {i} (unbounded side)"))
            continue
        if a.upper > b.lower or (a.upper == b.lower and a.le is not None and b.ge is not None):
            problems.append(ConfigProblem(file, where, f"overlaps bin {i} at {b.lower:g}"))
        elif a.upper < b.lower or (a.upper == b.lower and a.lt is not None and b.gt is not None):
            problems.append(
                ConfigProblem(
                    file, where, f"leaves a gap after bin {i} ({a.upper:g} .. {b.lower:g})"
                )
            )
    return problems


def check_scorecard(card: Scorecard, file: str) -> list[ConfigProblem]:
    """Cross-field checks that pydantic cannot express, each with file and key path."""
    problems: list[ConfigProblem] = []
    known = set(FEATURES) | set(card.inputs)
    for name in card.inputs:
        if name in FEATURES:
            problems.append(
                ConfigProblem(file, f"inputs.{name}", "is a built-in input; do not declare it")
            )
    seen: dict[str, str] = {}
    for cat_name, category in card.categories.items():
        total = 0.0
        for name, measure in category.measures.items():
            path = f"categories.{cat_name}.measures.{name}"
            if name in seen:
                problems.append(
                    ConfigProblem(file, path, f"measure name also used in {seen[name]}")
                )
            seen[name] = cat_name
            for column in measure_inputs(measure):
                if column not in known:
                    problems.append(
                        ConfigProblem(
                            file,
                            f"{path}.input",
                            f"unknown input column '{column}' (built-in: "
                            f"{', '.join(sorted(FEATURES))}; or declare it under 'inputs')",
                        )
                    )
            if isinstance(measure, BinsMeasure | ChecklistMeasure):
                problems += _bin_problems(measure.bins, file, path)
            if isinstance(measure, LookupMeasure):
                owner: dict[str, int] = {}
                for g, group in enumerate(measure.groups):
                    for value in group.values:
                        key = value.strip().casefold()
                        if key in owner and owner[key] != g:
                            problems.append(
                                ConfigProblem(
                                    file,
                                    f"{path}.groups.{g}",
                                    f"value '{value}' is also in group {owner[key]}",
                                )
                            )
                        owner[key] = g
            total += card.measure_max(measure)
        path = f"categories.{cat_name}.max_points"
        if total > category.max_points + 1e-9 and not category.cap:
            problems.append(
                ConfigProblem(
                    file,
                    path,
                    f"measures can earn {total:g} points, above the category maximum "
                    f"{category.max_points:g} (lower the points, or set cap: true)",
                )
            )
        elif total < category.max_points - 1e-9:
            problems.append(
                ConfigProblem(
                    file,
                    path,
                    f"measures can earn at most {total:g} points, so the category can never "
                    f"reach its maximum {category.max_points:g}",
                )
            )
    problems += _band_problems(card.bands, file)
    return problems


def _band_problems(bands: list[Band], file: str) -> list[ConfigProblem]:
    problems = []
    names = [b.name for b in bands]
    if len(set(names)) != len(names):
        problems.append(ConfigProblem(file, "bands", "band names must be unique"))
    ordered = sorted(enumerate(bands), key=lambda item: item[1].min)
    expected = 0
    for i, band in ordered:
        if band.min > band.max:
            problems.append(ConfigProblem(file, f"bands.{i}", "min is above max"))
        elif band.min != expected:
            kind = "overlaps the band below" if band.min < expected else "leaves a gap below"
            problems.append(ConfigProblem(file, f"bands.{i}", f"{kind} (starts at {band.min})"))
        expected = band.max + 1
    if expected != 101:
        problems.append(ConfigProblem(file, "bands", "bands must cover scores 0 to 100"))
    return problems


def load_rules(path: str | Path) -> Rules:
    """Load segment, phase and signal thresholds (``mappings/rules.yaml``)."""
    return load_model(path, Rules)


def load_scorecard(path: str | Path) -> Scorecard:
    """Load and check a scorecard YAML file; every problem is reported at once.

    ``rules_file`` inside the scorecard is resolved relative to the scorecard's directory.
    """
    path = Path(path)
    data = read_yaml(path)
    card = validate_data(path, data, Scorecard)
    problems = check_scorecard(card, str(path))
    rules = card.rules
    if card.rules_file and "rules" in data:
        problems.append(ConfigProblem(str(path), "rules", "give rules or rules_file, not both"))
    elif card.rules_file:
        rules_path = path.parent / card.rules_file
        try:
            rules = load_rules(rules_path)
        except ConfigError as exc:
            problems += exc.problems
    table = card.benchmark_table
    if card.benchmarks_file:
        try:
            table = read_benchmarks(path.parent / card.benchmarks_file)
        except (ConfigError, InputDataError) as exc:
            problems.append(ConfigProblem(str(path), "benchmarks_file", str(exc)))
    if problems:
        raise ConfigError(problems)
    update = {"rules": rules, "benchmark_table": table, "source": str(path)}
    return card.model_copy(update=update)


def scorecard_from_dict(data: dict, *, file: str = "<memory>") -> Scorecard:
    """Validate an in-memory scorecard (tests, generated cards); same checks as the loader."""
    card = validate_data(file, data, Scorecard)
    problems = check_scorecard(card, file)
    if problems:
        raise ConfigError(problems)
    return card.model_copy(update={"source": file})
