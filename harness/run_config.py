"""`harness run --config run.yaml`: a YAML file holding any of `run`'s flags by their long names.

    tasks: [paper-table5, vlrewardbench]     # a list, or "a,b" as on the command line
    model: hf
    model_args: {pretrained: CodeGoat24/UnifiedReward-qwen-7b, batch_size: 8}   # or "k=v,k=v"
    limit: 100
    no_cache: true

Keys are the flags' long names with `_` or `-` (`model_args`, `model-args`); each value is checked as
argparse checks the flag (same types and choices), and the result becomes the run parser's defaults, so
a flag given on the command line overrides the file's value for that flag (a whole `--model-args`
replaces the file's mapping). Paths are read as on the command line, relative to the working directory.
An unknown key is an error naming the file and the key and listing the valid ones. Nothing about the
file itself is recorded: run.json holds the resolved options, as for a run without one.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping

from .config import read_yaml_mapping
from .errors import UsageError

#: Flags whose value is adapter arguments: a YAML mapping or a `k=v,k=v` string.
ARGUMENT_MAPPINGS = ("model_args", "judge_args")
#: Flags of `run` that a config file cannot set.
NOT_IN_FILE = ("help", "config")


def arg_strings(args: Mapping[str, Any] | None) -> dict[str, str]:
    """Typed adapter arguments as the command line spells them (booleans lowercase, None as none), so a
    mapping from Python or YAML and a `k=v` string are coerced alike by the adapter."""
    out = {}
    for key, value in (args or {}).items():
        out[str(key)] = str(value).lower() if isinstance(value, bool) else "none" if value is None else str(value)
    return out


def file_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """dest -> action of every flag of `parser` a config file may set."""
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in NOT_IN_FILE}


def read_run_config(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The file's values, typed as argparse would type the flags of `parser` (the `run` subparser)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--config {path} does not exist or is not a file")
    raw = read_yaml_mapping(path)
    options = file_options(parser)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        dest = str(key).replace("-", "_")
        if dest not in options:
            raise UsageError(f"{path}: unknown key {key!r}; valid keys: {', '.join(options)}")
        if dest in values:
            raise UsageError(f"{path}: key {key!r} is given twice (as {dest} and {dest.replace('_', '-')})")
        if value is None:  # `protocol: null`: the flag's default, as if the key were absent
            continue
        values[dest] = _typed(path, str(key), value, options[dest])
    return values


def _typed(path: Path, key: str, value: Any, action: argparse.Action) -> Any:
    where = f"{path}: key {key!r}"
    if action.nargs == 0:  # store_true flags
        if not isinstance(value, bool):
            raise UsageError(f"{where} must be true or false, got {value!r}")
        return value
    if action.dest in ARGUMENT_MAPPINGS:
        if isinstance(value, dict):
            if not all(v is None or isinstance(v, (str, int, float, bool)) for v in value.values()):
                raise UsageError(f"{where}: every argument value must be a string, number or boolean")
            return arg_strings(value)
        if isinstance(value, str):
            return value
        raise UsageError(f"{where} must be a mapping of arguments or a k=v,k=v string, got {value!r}")
    if action.dest == "tasks" and isinstance(value, list):
        if not value or not all(isinstance(t, str) and t.strip() for t in value):
            raise UsageError(f"{where} must be a non-empty list of task or group names")
        return ",".join(t.strip() for t in value)
    if isinstance(value, (bool, list, dict)):
        raise UsageError(f"{where} must be a single value, got {value!r}")
    try:
        typed = action.type(str(value)) if callable(action.type) else str(value)
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise UsageError(f"{where}: {value!r} is not valid for {action.option_strings[-1]} ({exc})") from None
    if action.choices is not None and typed not in action.choices:
        raise UsageError(f"{where}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return typed
