"""Load YAML files into pydantic models, reporting every problem with file and key path.

Every configuration loader in sfsync goes through :func:`load_model` (or
:func:`validate_data`), so that all configuration errors look the same and name the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sfsync.errors import ConfigError, ConfigProblem

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for configuration models: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; a missing file or a syntax error becomes a ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), "", "file not found")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(str(path), where, f"invalid YAML: {problem}")]) from None


def pydantic_problems(file: str, exc: ValidationError) -> list[ConfigProblem]:
    """Turn a pydantic ValidationError into one ConfigProblem per error, with dotted paths."""
    problems = []
    for err in exc.errors():
        path = ".".join(str(part) for part in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the documented keys)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        problems.append(ConfigProblem(file, path, msg))
    return problems


def validate_data(file: str | Path, data: Any, model: type[M], *, context: dict | None = None) -> M:
    """Validate already-parsed data against ``model``; raise ConfigError naming ``file``."""
    if data is None:
        data = {}
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(pydantic_problems(str(file), exc)) from None


def load_model(path: str | Path, model: type[M], *, context: dict | None = None) -> M:
    """Read ``path`` as YAML and validate it into ``model``."""
    return validate_data(path, read_yaml(Path(path)), model, context=context)
