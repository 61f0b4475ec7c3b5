"""Task groups: named lists of tasks (`paper-table5`, `all-reward`, ...) that `--tasks` accepts beside task
names, read from a data file shipped with the tasks (`tasks/groups.yaml`).

Groups are data, not code, so adding one is a YAML edit. A group names tasks only (no nesting), and
expansion keeps the order written, dropping repeats: `--tasks paper-table5,genai_bench_image` runs the three
Table 5 tasks once each. A name that is both a group and a registered task (a plugin could register one) is
refused when used, never silently resolved to one of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from .config import check_entry, read_yaml_mapping
from .errors import UsageError
from .registry import TASKS

GROUP_KEYS = ("description", "tasks")


@dataclass(frozen=True)
class TaskGroup:
    name: str
    description: str
    tasks: tuple[str, ...]


def groups_file() -> Path:
    """The shipped groups file (`tasks/groups.yaml`, package data of `tasks`)."""
    return Path(str(resources.files("tasks").joinpath("groups.yaml")))


@lru_cache(maxsize=4)
def load_groups(path: Path | None = None) -> Mapping[str, TaskGroup]:
    """Every group of `path` (default: the shipped file), checked for shape; names are checked when used."""
    path = Path(path) if path is not None else groups_file()
    raw = read_yaml_mapping(path)
    return {str(name): _group(path, str(name), value) for name, value in raw.items()}


def _group(path: Path, name: str, value: Any) -> TaskGroup:
    check_entry(path, "group", name, value, GROUP_KEYS)
    description, tasks = value.get("description"), value.get("tasks")
    if not isinstance(description, str) or not description.strip():
        raise UsageError(f"{path}: group {name!r}: 'description' must be a non-empty string")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and t.strip() for t in tasks):
        raise UsageError(f"{path}: group {name!r}: 'tasks' must be a non-empty list of task names")
    return TaskGroup(name, description.strip(), tuple(t.strip() for t in tasks))


def expand_tasks(names: Iterable[str], groups: Mapping[str, TaskGroup] | None = None) -> list[str]:
    """Task and group names -> task names: groups expanded in place, in order, each task kept once.
    Names that are neither are passed on unchanged (the task registry reports them, with the valid names)."""
    groups = load_groups() if groups is None else groups
    out: list[str] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name in groups:
            if name in TASKS.names():
                raise UsageError(f"{name!r} is both a task and a task group ({groups_file()}); rename one")
            members: Iterable[str] = groups[name].tasks
        else:
            members = (name,)
        out.extend(m for m in members if m not in out)
    return out


def split_task_list(text: str) -> list[str]:
    """`--tasks a,paper-table5,b` -> the task names it stands for (see `expand_tasks`)."""
    return expand_tasks(text.split(","))
