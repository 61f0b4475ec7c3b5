"""Reading finished runs for reports and comparisons (neither runs a model).

A run is a directory with `results.json` (see README, "Run directory and results format") and one
`<task>.samples.jsonl` per task. Anything else is said plainly: a directory without results.json is an
unfinished run, a results file of a newer schema cannot be read by this version, a file that is not
valid JSON is named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness.errors import UsageError
from harness.records import Judgment
from harness.runner import SCHEMA_VERSION
from harness.store import read_samples


class RunError(UsageError):
    """A run directory that cannot be read as a finished run."""


@dataclass(frozen=True)
class Run:
    dir: Path
    results: Mapping[str, Any]

    @property
    def model(self) -> str:
        """The judge's label: its model id (hf, openai, pickscore), replay/scores name, or adapter name."""
        model = self.results.get("model") or {}
        return str(model.get("model") or model.get("adapter") or "unknown")

    def model_for(self, task: str) -> str:
        """The model a task's numbers are about. Usually the judge; for image-generation scoring runs, where
        a scorer measures a generator's images, the generator recorded in `dataset.generation`."""
        generation = ((self.tasks.get(task) or {}).get("dataset") or {}).get("generation")
        if isinstance(generation, Mapping):
            label = (generation.get("identity") or {}).get("model") or generation.get("policy")
            if label:
                return str(label)
        return self.model

    @property
    def created(self) -> str:
        return str(self.results.get("created") or "")

    @property
    def tasks(self) -> Mapping[str, Mapping[str, Any]]:
        return self.results.get("tasks") or {}

    def samples(self, task: str) -> list[Judgment]:
        path = self.dir / f"{task}.samples.jsonl"
        if not path.is_file():
            raise RunError(f"{self.dir}: results.json lists task {task!r} but {path.name} is missing")
        return list(read_samples(path))


def load_run(directory: Path) -> Run:
    directory = Path(directory)
    path = directory / "results.json"
    if not directory.is_dir():
        raise RunError(f"{directory}: no such run directory")
    if not path.is_file():
        hint = " (an unfinished run: finish it with `harness run ... --resume`)" if (directory / "run.json").is_file() \
            else ""
        raise RunError(f"{directory}: no results.json{hint}")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: not readable as JSON ({exc})") from None
    version = results.get("schema_version")
    if not isinstance(version, int):
        raise RunError(f"{path}: no schema_version; not a harness results file")
    if version > SCHEMA_VERSION:
        raise RunError(f"{path}: schema version {version} is newer than this harness reads ({SCHEMA_VERSION}); "
                       f"upgrade unified-reward-harness")
    return Run(directory, results)


def discover(paths: Iterable[Path]) -> tuple[list[Run], list[str]]:
    """Runs under `paths` (each a run directory, or a directory of run directories such as `runs/`) and
    the problems met on the way (unfinished runs, unreadable files), so a report can list them."""
    runs: list[Run] = []
    problems: list[str] = []
    for path in paths:
        path = Path(path)
        if (path / "results.json").exists() or (path / "run.json").exists():
            candidates = [path]
        elif path.is_dir():
            candidates = sorted(p for p in path.iterdir() if (p / "results.json").exists() or (p / "run.json").exists())
            if not candidates:
                problems.append(f"{path}: no run directories inside")
        else:
            problems.append(f"{path}: no such directory")
            continue
        for candidate in candidates:
            try:
                runs.append(load_run(candidate))
            except RunError as exc:
                problems.append(str(exc))
    return runs, problems


def newest_per_cell(runs: Iterable[Run]) -> dict[tuple[str, str, str], tuple[Run, Mapping[str, Any]]]:
    """(model, task, protocol) -> (the newest run that has it, that task's results); the model is
    `Run.model_for(task)`."""
    best: dict[tuple[str, str, str], tuple[Run, Mapping[str, Any]]] = {}
    for run in runs:
        for task, result in run.tasks.items():
            key = (run.model_for(task), task, str(result.get("protocol")))
            if key not in best or (run.created, str(run.dir)) > (best[key][0].created, str(best[key][0].dir)):
                best[key] = (run, result)
    return best
