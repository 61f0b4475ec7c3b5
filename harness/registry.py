"""Registries of tasks, models (judge adapters) and policies: entry points are the registry.

A name is registered in one place, an entry point: `harness.tasks`, `harness.models` or `harness.policies`
in a distribution's `pyproject.toml`, read from the installed metadata. The built-ins are declared in ours
exactly as a third-party package declares its own, so a new built-in is one line there. An entry point is
imported only when its name is looked up, so `harness list` or a run of one task never imports another
task's dependencies. `register()` adds a name in-process (tests, notebooks) without a package.

The decorators (`@task("name")`, `@model("name")`) only name the class (`cls.name`); they register nothing.
The name is kept on the class, rather than set from the entry point when it is loaded, because a class is
also reached without the registry (imported by a test, subclassed, built into a plugin task) and must carry
the same name in its records then. Loading an entry point checks that the class's own name is the entry
point's name (a class that names none takes the entry point's), and a test walks every module's classes
for a task or model that no entry point names, so the two cannot drift apart.

Editable installs record entry points when installed: a line added to `pyproject.toml` afterwards is
invisible to `importlib.metadata` until a reinstall. So when this package is imported from a source checkout
(a `pyproject.toml` of our distribution next to it), that file's `[project.entry-points]` group replaces
the installed one of our distribution; other distributions' entry points always come from the metadata.

Two different objects under one name is an error naming both sources, never a silent override
(lm-eval's include_path shadowing is the counter-example).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from .errors import UsageError, did_you_mean

T = TypeVar("T")

#: The distribution that declares the built-ins (`[project] name` in pyproject.toml).
DISTRIBUTION = "unified-reward-harness"


class DuplicateNameError(UsageError):
    pass


def _normalized(name: str) -> str:
    """Distribution names compare as PEP 503 normalises them (`unified_reward_harness` is ours too)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_ours(ep: metadata.EntryPoint) -> bool:
    dist = getattr(ep, "dist", None)
    return dist is not None and _normalized(dist.name) == _normalized(DISTRIBUTION)


def checkout_pyproject() -> Path | None:
    """The `pyproject.toml` beside the package directory this module was imported from, if there is one: the
    source checkout's (an installed copy in site-packages has none next to it)."""
    path = Path(__file__).resolve().parents[1] / "pyproject.toml"
    return path if path.is_file() else None


def declared_entry_points(pyproject: Path, group: str) -> list[metadata.EntryPoint] | None:
    """The entry points `pyproject` declares in `group`, or None when the file is not our distribution's (a
    checkout of another project that happens to contain ours). Python 3.10 has no tomllib: there the
    installed entry points are used as they are (reinstall after adding a line)."""
    try:
        import tomllib
    except ImportError:
        return None
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{pyproject}: cannot read its entry points: {exc}") from None
    project = data.get("project", {})
    if _normalized(str(project.get("name", ""))) != _normalized(DISTRIBUTION):
        return None
    table = project.get("entry-points", {}).get(group, {})
    return [metadata.EntryPoint(name, str(value), group) for name, value in table.items()]


class Registry(Generic[T]):
    """Names of one kind (`kind`, for messages) read from the entry-point `group`; `pyproject` is the source
    checkout's file that overrides our installed entry points (default: the one next to this package)."""

    def __init__(self, kind: str, group: str, pyproject: Path | None = None):
        self.kind = kind
        self.group = group
        self.pyproject = pyproject if pyproject is not None else checkout_pyproject()
        self._objects: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._lock = threading.RLock()

    def register(self, name: str, obj: T, source: str) -> T:
        """Register `obj` under `name` in this process; a class without a name of its own takes `name`."""
        with self._lock:
            if name in self._objects and self._objects[name] is not obj:
                raise DuplicateNameError(
                    f"{self.kind} name {name!r} is registered twice: by {self._sources[name]} and by {source}")
            _give_name(obj, name, f"{self.kind} {name!r} ({source})")
            self._objects[name] = obj
            self._sources.setdefault(name, source)
            return obj

    def _installed(self) -> list[metadata.EntryPoint]:
        """The group's entry points; ours from the checkout's pyproject.toml when imported from a checkout
        (editable installs go stale when a line is added), but only where our distribution is installed and
        lists the group, so a registry given other entry points (tests, another environment) keeps them."""
        found = list(metadata.entry_points(group=self.group))
        if self.pyproject is not None and any(_is_ours(ep) for ep in found):
            declared = declared_entry_points(self.pyproject, self.group)
            if declared is not None:
                found = [ep for ep in found if not _is_ours(ep)] + declared
        return found

    def _scan(self) -> dict[str, metadata.EntryPoint]:
        with self._lock:
            if self._entry_points is None:
                found: dict[str, metadata.EntryPoint] = {}
                for ep in self._installed():
                    # The same distribution can be visible twice (e.g. an editable install on sys.path);
                    # only a different target is a real clash.
                    if ep.name in found and found[ep.name].value != ep.value:
                        raise DuplicateNameError(
                            f"{self.kind} name {ep.name!r} is declared by two entry points: "
                            f"{found[ep.name].value} and {ep.value} (group {self.group})")
                    found[ep.name] = ep
                self._entry_points = found
            return self._entry_points

    def entry_points(self) -> dict[str, metadata.EntryPoint]:
        """Every entry point of the group by name, as the registry reads them (none imported)."""
        return dict(self._scan())

    def get(self, name: str) -> T:
        with self._lock:
            if name in self._objects:
                return self._objects[name]
            ep = self._scan().get(name)
            if ep is None:
                raise UsageError(f"unknown {self.kind} {did_you_mean(name, self.names())}")
            return self.register(name, ep.load(), source=f"entry point {ep.value}")

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


def _give_name(obj: object, name: str, where: str) -> None:
    """Check that a class naming itself (`name` in its own body, set by `named`) is registered under that
    name; a class that names none takes `name`. Objects that cannot hold attributes (builtins) are left."""
    own = vars(obj).get("name") if isinstance(obj, type) else getattr(obj, "name", None)
    if isinstance(own, str):
        if own != name:
            raise UsageError(f"{where}: the class names itself {own!r}; register it as {own!r} or rename it")
        return
    try:
        setattr(obj, "name", name)
    except (AttributeError, TypeError):
        pass


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


TASKS: Registry[Any] = Registry("task", "harness.tasks")
MODELS: Registry[Any] = Registry("model", "harness.models")


def named(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: the class's registry name (`cls.name`). It registers nothing: the entry point of
    that name does (module docstring)."""

    def deco(cls: type[T]) -> type[T]:
        setattr(cls, "name", name)
        return cls

    return deco


#: `@task("vlrewardbench")`: names a task class (entry-point group `harness.tasks`).
task = named
#: `@model("scripted")`: names a judge/scorer adapter class (entry-point group `harness.models`).
model = named
