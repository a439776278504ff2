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
    """Parse one YAML file; a missing or unreadable file, text that is not UTF-8, a syntax error
    or a key written twice in the same mapping becomes a ConfigError naming file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), "", "file not found")]) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            [ConfigProblem(str(path), "", f"cannot read the file: {reason}")]
        ) from None
    text = decode_utf8(path, raw)
    try:
        return _parse(path, text, _SafeLoader)
    except ConfigError:
        if _SafeLoader is yaml.SafeLoader:
            raise
        # the pure-Python parser words its errors as the messages and docs say
        return _parse(path, text, yaml.SafeLoader)


def _parse(path: Path, text: str, loader_class: Any) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        problems = duplicate_key_problems(str(path), node)
        if problems:
            raise ConfigError(problems)
        return loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(str(path), where, f"invalid YAML: {problem}")]) from None
    finally:
        loader.dispose()


#: libyaml's parser when PyYAML was built with it (the same documents, nodes and marks, about
#: ten times less CPU: a run loads some forty mapping and template files)
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def decode_utf8(path: Path, raw: bytes) -> str:
    """``raw`` as UTF-8 text (a byte-order mark is dropped); other encodings are a ConfigError
    naming the line of the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    f"line {line}",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
                )
            ]
        ) from None


def duplicate_key_problems(
    file: str, node: yaml.Node | None, path: str = "", _seen: set[int] | None = None
) -> list[ConfigProblem]:
    """Every key written twice in one mapping of the YAML node tree, with its dotted path and
    both line numbers (YAML would silently keep the last value)."""
    seen_nodes = set() if _seen is None else _seen
    if node is None or id(node) in seen_nodes:  # an alias repeats a node already checked
        return []
    seen_nodes.add(id(node))
    problems: list[ConfigProblem] = []
    if isinstance(node, yaml.MappingNode):
        first_line: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            dotted = f"{path}.{key}" if path and key is not None else (key or path)
            if key is not None and key_node.tag != "tag:yaml.org,2002:merge":
                line = key_node.start_mark.line + 1
                if (key_node.tag, key) in first_line:
                    first = first_line[key_node.tag, key]
                    problems.append(
                        ConfigProblem(
                            file,
                            dotted,
                            f"duplicate key (lines {first} and {line}); YAML would silently "
                            "use the last one, so remove one of them",
                        )
                    )
                first_line.setdefault((key_node.tag, key), line)
            problems.extend(duplicate_key_problems(file, value_node, dotted, seen_nodes))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            where = f"{path}.{index}" if path else str(index)
            problems.extend(duplicate_key_problems(file, item, where, seen_nodes))
    return problems


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
        elif err["type"] == "value_error":  # our own validators' text, without pydantic's prefix
            msg = msg.removeprefix("Value error, ")
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
