"""`harness list TASK`: one task's details, gathered without loading its data or downloading anything.

Each fact comes from where it is decided, so the description cannot drift from what a run does:
- protocols, their versions, summaries and named deviations, the family-based protocol choice, splits and
  the two-stage judge: the task class;
- the metrics of each protocol: the task's own `score` run on no samples (metrics that depend on the
  data's categories cannot be found that way; a data card names them in `metrics_note`);
- the hub dataset and its pinned revision: the task module's `HF_DATASET` / `HF_REVISION` constants (the
  convention of tasks/), looked up along the class's bases so a subclass in another module inherits them;
- what `--data-dir` holds and row counts known without loading: the task's data card (`tasks/data_cards.yaml`).
"""

from __future__ import annotations

import sys
import warnings
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from .config import check_entry, read_yaml_mapping
from .errors import UsageError
from .groups import load_groups
from .registry import TASKS
from .task import Task, TaskConfig

CARD_KEYS = ("like", "data_dir", "hub_config", "rows", "rows_note", "metrics_note")
UNKNOWN_ROWS = "known after loading"


def data_cards_file() -> Path:
    return Path(str(resources.files("tasks").joinpath("data_cards.yaml")))


@lru_cache(maxsize=4)
def load_data_cards(path: Path | None = None) -> Mapping[str, Mapping[str, Any]]:
    """Every card of `path` (default: the shipped file), checked for shape, `like:` resolved."""
    path = Path(path) if path is not None else data_cards_file()
    raw = read_yaml_mapping(path)
    for name, card in raw.items():
        check_entry(path, "card", name, card, CARD_KEYS)
        rows = card.get("rows") or {}
        if not isinstance(rows, dict) or not all(v is None or isinstance(v, int) and not isinstance(v, bool)
                                                 for v in rows.values()):
            raise UsageError(f"{path}: card {name!r}: 'rows' must map splits to row counts")
        if "like" in card and card["like"] not in raw:
            raise UsageError(f"{path}: card {name!r}: like: {card['like']!r} names no card")
    resolved = {}
    for name, card in raw.items():
        base = raw[card["like"]] if "like" in card else {}
        resolved[str(name)] = {k: v for k, v in {**base, **card}.items() if k != "like"}
    return resolved


def describe_task(name: str) -> dict[str, Any]:
    """Everything `harness list NAME` prints, as a dict (JSON-ready). An unknown name is the registry's
    UsageError listing the valid names."""
    cls = TASKS.get(name)
    task: Task = cls()
    card = load_data_cards().get(name, {})
    return {
        "name": name,
        "version": task.version,
        "description": _first_line(sys.modules[cls.__module__].__doc__),
        "summary": _first_line(cls.__dict__.get("__doc__")),  # the class's own docstring, not a base's
        "splits": list(task.splits),
        "default_split": task.splits[0],
        "default_protocol": task.default_protocol,
        "protocols": {p: {"version": spec.version, "summary": spec.summary, "deviations": list(spec.deviations),
                          "metrics": _metrics(task, p)} for p, spec in task.protocols.items()},
        "family_protocols": _family_protocols(task),
        "scorer_protocol": task.scorer_protocol,
        "two_stage": bool(task.needs_judge),
        "default_judge": {"name": task.default_judge[0], "args": dict(task.default_judge[1])}
        if task.needs_judge else None,
        "metrics_note": card.get("metrics_note"),
        "data": _data(cls, task, card),
        "groups": [g.name for g in load_groups().values() if name in g.tasks],
    }


def _first_line(doc: str | None) -> str | None:
    lines = (doc or "").strip().splitlines()
    return lines[0].strip() if lines else None


def _metrics(task: Task, protocol: str) -> list[str] | None:
    """The metric names `task.score` reports under `protocol`, from scoring no samples (None: it cannot)."""
    import numpy as np  # scoring needs it anyway; a plain `harness list` never gets here

    cfg = TaskConfig(protocol=protocol, scorer=protocol == task.scorer_protocol, split=task.splits[0])
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # means of empty arrays: the values are not wanted, only the names
            return list(task.score([], cfg).point())
    except Exception:  # a task whose scoring needs samples: its metrics are known after a run
        return None


def _family_protocols(task: Task) -> dict[str, dict[str, str]]:
    """judge family -> {asked: run}, only where this task has both protocols (a base class may declare
    choices that a subclass without those protocols never makes)."""
    out = {}
    for family, choice in task.family_protocols.items():
        kept = {asked: run for asked, run in choice.items() if asked in task.protocols and run in task.protocols}
        if kept:
            out[family] = kept
    return out


def _module_constant(cls: type, name: str) -> Any:
    """`name` in the module of `cls` or of its nearest base whose module defines it (None: none does)."""
    for base in cls.__mro__:
        module = sys.modules.get(base.__module__)
        if module is not None and hasattr(module, name):
            return getattr(module, name)
    return None


def _data(cls: type, task: Task, card: Mapping[str, Any]) -> dict[str, Any]:
    dataset = _module_constant(cls, "HF_DATASET")
    hub = None
    if dataset:
        revision = _module_constant(cls, "HF_REVISION")
        layout = task.data.hub if task.data is not None else None
        hub = {"id": dataset, "config": card.get("hub_config"), "revision": revision, "pinned": bool(revision),
               "needs_revision": bool(layout is not None and layout.needs_revision)}
    rows = card.get("rows") or {}
    return {
        "hub": hub,
        "data_dir": card.get("data_dir"),
        "described": bool(card),
        "rows": {split: rows.get(split) for split in task.splits},
        "rows_note": card.get("rows_note"),
    }


def format_description(info: Mapping[str, Any]) -> str:
    """The text `harness list NAME` prints for one `describe_task` dict."""
    lines = [f"{info['name']} (version {info['version']})"]
    lines.extend(f"  {text}" for text in (info["description"], info["summary"]) if text)
    splits = ", ".join(s + (" (default)" if s == info["default_split"] else "") for s in info["splits"])
    lines.append(f"  splits: {splits}")
    lines.extend(_data_lines(info["data"]))
    lines.append("  protocols:")
    for name, spec in info["protocols"].items():
        default = " (default)" if name == info["default_protocol"] else ""
        lines.append(f"    {name}{default}, version {spec['version']}: {spec['summary']}")
        metrics = ", ".join(spec["metrics"]) if spec["metrics"] is not None else "known after a run"
        lines.append(f"      metrics: {metrics}")
        lines.extend(f"      deviation: {d}" for d in spec["deviations"])
    if info["metrics_note"]:
        lines.append(f"  metrics also: {info['metrics_note']}")
    for family, choice in info["family_protocols"].items():
        for asked, chosen in choice.items():
            lines.append(f"  family protocol: a {family}-family judge asked for {asked} runs {chosen}")
    lines.append("  scalar scorers: " + (f"protocol {info['scorer_protocol']} (default)" if info["scorer_protocol"]
                                        else "not accepted (the task needs a generative judge)"))
    if info["two_stage"]:
        judge = info["default_judge"]
        args = ",".join(f"{k}={v}" for k, v in judge["args"].items())
        lines.append(f"  two-stage: --model answers, a judge grades (default --judge {judge['name']}"
                     + (f" --judge-args {args}" if args else "") + ")")
    if info["groups"]:
        lines.append(f"  groups: {', '.join(info['groups'])}")
    return "\n".join(lines)


def _data_lines(data: Mapping[str, Any]) -> list[str]:
    hub = data["hub"]
    if hub is None:
        lines = ["  hub: none (nothing is downloaded)"]
    else:
        where = hub["id"] + (f" (config {hub['config']})" if hub["config"] else "")
        revision = f"pinned revision {hub['revision']}" if hub["pinned"] else \
            "no verified commit: a hub run needs --dataset-revision" if hub.get("needs_revision") else \
            "no pinned revision (the commit resolved at load time is recorded in results.json)"
        lines = [f"  hub: {where}, {revision}"]
    if not data["described"]:
        lines.append("  --data-dir: not described (the task has no data card)")
    else:
        lines.append("  --data-dir: " + (data["data_dir"] or "none (the task takes no data directory)"))
    sizes = "; ".join(f"{split} {n:,}" if n is not None else f"{split} {UNKNOWN_ROWS}"
                      for split, n in data["rows"].items())
    lines.append(f"  rows: {sizes}")
    if data["rows_note"]:
        lines.append(f"    {data['rows_note']}")
    return lines
