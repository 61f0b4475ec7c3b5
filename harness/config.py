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


def resume_point(resume: str, output_dir: Path) -> str | None:
    """The checkpoint a recipe restarts from: "auto" = the newest `checkpoint-*` in `output_dir` (None when
    there is none), "never" = None, anything else = that checkpoint path."""
    if resume == "never":
        return None
    if resume != "auto":
        return resume
    if not Path(output_dir).is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir))


def load_yaml_config(path: Path, cls: type[C], overrides: dict[str, Any] | None = None) -> C:
    path = Path(path)
    raw = read_yaml_mapping(path)
    raw.update(overrides or {})
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]  (declaration order)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    return cls(**{key: _typed(path, key, value, hints[key]) for key, value in raw.items()})


def _typed(path: Path, key: str, value: Any, hint: Any) -> Any:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        base = typing.get_origin(option) or option
        if base is list and isinstance(value, (list, str)):
            return [str(v) for v in (value if isinstance(value, list) else [value])]
        if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if base is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if base in (bool, str) and isinstance(value, base):
            return value
    raise UsageError(f"{path}: key {key!r} must be {hint}, got {value!r}")
