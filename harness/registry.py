"""Registries of tasks and models (judge adapters).

Names come from two places, and a name may be claimed once:
- decorators (`@task("name")`, `@model("name")`) on classes in imported modules;
- entry points in the groups `harness.tasks` and `harness.models`, which is how built-ins and
  third-party packages declare theirs without editing this code. Entry points are only imported when
  their name is looked up, so `harness list` or a run of one task never imports another task's
  dependencies.

Two different objects under one name is an error naming both sources, never a silent override
(lm-eval's include_path shadowing is the counter-example).
"""

from __future__ import annotations

import ast
import importlib.util
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from .errors import UsageError, did_you_mean

T = TypeVar("T")


class DuplicateNameError(UsageError):
    pass


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._objects: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._lock = threading.RLock()

    def register(self, name: str, obj: T, source: str) -> T:
        with self._lock:
            if name in self._objects and self._objects[name] is not obj:
                raise DuplicateNameError(
                    f"{self.kind} name {name!r} is registered twice: by {self._sources[name]} and by {source}")
            self._objects[name] = obj
            self._sources.setdefault(name, source)
            return obj

    def _scan(self) -> dict[str, metadata.EntryPoint]:
        with self._lock:
            if self._entry_points is None:
                found: dict[str, metadata.EntryPoint] = {}
                for ep in metadata.entry_points(group=self.group):
                    # The same distribution can be visible twice (e.g. an editable install on sys.path);
                    # only a different target is a real clash.
                    if ep.name in found and found[ep.name].value != ep.value:
                        raise DuplicateNameError(
                            f"{self.kind} name {ep.name!r} is declared by two entry points: "
                            f"{found[ep.name].value} and {ep.value} (group {self.group})")
                    found[ep.name] = ep
                self._entry_points = found
            return self._entry_points

    def get(self, name: str) -> T:
        with self._lock:
            if name in self._objects:
                return self._objects[name]
            ep = self._scan().get(name)
            if ep is None:
                raise UsageError(f"unknown {self.kind} {did_you_mean(name, self.names())}")
            obj = ep.load()
            # Loading usually ran the module's decorator, which registered the same object.
            return self.register(name, obj, source=f"entry point {ep.value}")

    def summary(self, name: str) -> str:
        """First line of the object's docstring. An entry point not yet loaded is read from its source
        file, so listing models does not import torch or transformers (3.7 s) for a one-line description."""
        with self._lock:
            if name in self._objects:
                return _first_line(self._objects[name].__doc__)
            ep = self._scan().get(name)
        if ep is None:
            raise UsageError(f"unknown {self.kind} {did_you_mean(name, self.names())}")
        module_name, _, attr = ep.value.partition(":")
        spec = importlib.util.find_spec(module_name)
        if spec is not None and spec.origin and spec.origin.endswith(".py") and "." not in attr:
            tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"), filename=spec.origin)
            for node in tree.body:
                if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == attr:
                    return _first_line(ast.get_docstring(node))
        return _first_line(self.get(name).__doc__)  # not found statically (re-export, compiled module): load it

    def names(self) -> list[str]:
        with self._lock:
            return sorted(set(self._objects) | set(self._scan()))


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


TASKS: Registry[Any] = Registry("task", "harness.tasks")
MODELS: Registry[Any] = Registry("model", "harness.models")


def task(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: register a task class under `name`."""

    def deco(cls: type[T]) -> type[T]:
        cls.name = name  # type: ignore[attr-defined]
        return TASKS.register(name, cls, source=f"{cls.__module__}.{cls.__qualname__}")

    return deco


def model(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: register a judge/scorer adapter class under `name`."""

    def deco(cls: type[T]) -> type[T]:
        cls.name = name  # type: ignore[attr-defined]
        return MODELS.register(name, cls, source=f"{cls.__module__}.{cls.__qualname__}")

    return deco
