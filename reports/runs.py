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
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from harness.errors import UsageError
from harness.records import Judgment
from harness.run_record import RunRecord, RunRecordError, TaskRecord
from harness.store import read_samples


if TYPE_CHECKING:
    from harness.judgment_table import JudgmentTable


class RunError(UsageError):
    """A run directory that cannot be read as a finished run."""


@dataclass(frozen=True)
class Run:
    """A finished run: its directory, its typed record, and results.json as read (`results`)."""

    dir: Path
    record: RunRecord
    results: Mapping[str, Any]

    @property
    def model(self) -> str:
        """The judge's label: its model id (hf, openai, pickscore), replay/scores name, or adapter name."""
        return self.record.model_label

    def model_for(self, task: str) -> str:
        """The model a task's numbers are about. Usually the judge; for image-generation scoring runs, where
        a scorer measures a generator's images, the generator recorded in `dataset.generation`."""
        entry = self.tasks.get(task)
        generation = entry.dataset.get("generation") if entry is not None else None
        if isinstance(generation, Mapping):
            label = (generation.get("identity") or {}).get("model") or generation.get("policy")
            if label:
                return str(label)
        return self.model

    @property
    def run_id(self) -> str:
        return self.record.run_id or self.dir.name

    @property
    def created(self) -> str:
        return self.record.created

    @property
    def tasks(self) -> Mapping[str, TaskRecord]:
        return self.record.tasks

    def samples_path(self, task: str) -> Path:
        """The task's samples file; a RunError when results.json lists the task but the file is missing."""
        path = self.dir / f"{task}.samples.jsonl"
        if not path.is_file():
            raise RunError(f"{self.dir}: results.json lists task {task!r} but {path.name} is missing")
        return path

    def samples(self, task: str) -> list[Judgment]:
        return list(read_samples(self.samples_path(task)))


    def records(self, task: str) -> tuple["JudgmentTable", dict[str, int]]:
        """The task's records as columns (harness.judgment_table), with the row of each sample id; a damaged
        line or a second record for one id is a RunError naming the file."""
        from harness.judgment_table import JudgmentTable

        path = self.samples_path(task)
        try:
            table = JudgmentTable.read_all(path)
        except ValueError as exc:  # a line that is not JSON, or not a sample record
            raise RunError(f"{path}: unreadable ({exc})") from None
        rows: dict[str, int] = {}
        for row, sample_id in enumerate(table.ids):
            if sample_id in rows:
                raise RunError(f"{path}: sample {sample_id!r} has two records")
            rows[sample_id] = row
        return table, rows


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
    try:
        record = RunRecord.from_json(results, str(path))
    except RunRecordError as exc:
        raise RunError(str(exc)) from None
    return Run(directory, record, results)


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


def newest_per_cell(runs: Iterable[Run]) -> dict[tuple[str, str, str], tuple[Run, TaskRecord]]:
    """(model, task, protocol) -> (the newest run that has it, that task's record); the model is
    `Run.model_for(task)`."""
    best: dict[tuple[str, str, str], tuple[Run, TaskRecord]] = {}
    for run in runs:
        for task, result in run.tasks.items():
            key = (run.model_for(task), task, result.protocol)
            if key not in best or (run.created, str(run.dir)) > (best[key][0].created, str(best[key][0].dir)):
                best[key] = (run, result)
    return best


def distinct_runs(runs: Sequence[Run], what: str) -> None:
    """`what` (agreement, an ensemble) compares two or more runs, each given once."""
    if len(runs) < 2:
        raise UsageError(f"{what} needs at least two runs, got {len(runs)}")
    dirs = [str(run.dir.resolve()) for run in runs]
    if len(set(dirs)) < len(dirs):
        raise UsageError("a run directory is given twice")


def judge_labels(runs: Sequence[Run]) -> list[str]:
    """Each run's judge label; a label two of `runs` share gets the run id, so every row and column is one run."""
    labels = [run.model for run in runs]
    return [f"{label} ({run.run_id})" if labels.count(label) > 1 else label for label, run in zip(labels, runs)]
