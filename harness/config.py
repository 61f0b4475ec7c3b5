"""YAML configs of the training recipes, read into dataclasses: every key checked, unknown keys refused.

Anchored on torchtune's lesson: a top-level key read with `cfg.get(key, default)` silently ignores a
typo; here a misspelt key is an error naming it and listing the valid ones.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import UsageError

C = TypeVar("C")


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file; a missing file or anything else is a UsageError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: expected a mapping of keys to values")
    return raw


def check_entry(path: Path, what: str, name: str, value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """One entry of a YAML file of named entries (a task group, a data card): a mapping of known keys."""
    if not isinstance(value, dict):
        raise UsageError(f"{path}: {what} {name!r} must be a mapping with keys {', '.join(keys)}")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise UsageError(f"{path}: {what} {name!r}: unknown key(s) {', '.join(map(str, unknown))}; "
                         f"valid keys: {', '.join(keys)}")
    return value


def load_yaml_config(path: Path, cls: type[C], overrides: dict[str, Any] | None = None) -> C:
    """`cls` (a dataclass) from a YAML file, `overrides` (CLI key=value) winning over the file."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    raw.update(overrides or {})
    return typed_config(raw, cls, str(path))


def typed_config(raw: dict[str, Any], cls: type[C], where: str) -> C:
    """`cls` from a mapping of its fields, errors prefixed with `where`: every key must be a field and every value
    of the field's type (an int where a float is declared becomes a float, a lone string where a list of strings
    is declared a one-item list)."""
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]  # in declaration order
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    return cls(**{key: _typed(where, key, value, hints[key]) for key, value in raw.items()})


def _typed(where: str, key: str, value: Any, hint: Any) -> Any:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        base = typing.get_origin(option) or option
        if base is list and isinstance(value, (list, str)):
            items = value if isinstance(value, list) else [value]
            inner = (typing.get_args(option) or (str,))[0]
            if inner is int and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
                return list(items)
            if inner is not int and all(isinstance(v, (str, int, float)) for v in items):
                return [str(v) for v in items]
        if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if base is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if base in (bool, str) and isinstance(value, base):
            return value
    raise UsageError(f"{where}: key {key!r} must be {hint}, got {value!r}")
