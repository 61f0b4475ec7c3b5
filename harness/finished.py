"""`--resume` of a run that has already finished: its results, in O(1) of the data.

A run directory's `run.json` records two hashes: `config_hash` (what was judged: tasks, protocols as the
judge's family chose them, the model's resolved arguments; it needs the adapter built) and
`invocation_hash` (the command as given: task and model names, model arguments with secrets redacted,
data directory, split, limit, seed, dataset revision, the harness version; known before anything is
built). A finished run (its `results.json` has every task) whose invocation matches and whose data are
still the data it judged (each task's source identity: the local file's sha256, the hub revision) is
the answer to `--resume` as it stands: the judge is not built, no row is read, nothing is scored again.
Anything else goes the normal way (unfinished work is judged, then everything scored).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .adapters import redact
from .records import canonical_json, sha256_text

if TYPE_CHECKING:
    from .runner import RunOptions, TaskInput
    from .task import Task, TaskConfig


def invocation(opts: "RunOptions", resolved: Sequence[tuple["Task", "TaskConfig"]]) -> dict[str, Any]:
    """The command as given, in a stable form (secret values redacted: a rotated API key resumes its run)."""
    try:
        version = metadata.version("unified-reward-harness")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        version = None
    return {
        "tasks": [{"name": t.name, "protocol": opts.protocol, "split": c.split} for t, c in resolved],
        "model": opts.model, "model_args": redact(dict(opts.model_args)),
        "judge": opts.judge, "judge_args": redact(dict(opts.judge_args)),
        "data_dir": str(Path(opts.data_dir).resolve()) if opts.data_dir else None,
        "limit": opts.limit, "seed": opts.seed, "dataset_revision": opts.dataset_revision, "orders": opts.orders,
        **({"samples": opts.samples} if opts.samples != 1 else {}), "harness": version,
    }


def invocation_hash(opts: "RunOptions", resolved: Sequence[tuple["Task", "TaskConfig"]]) -> str:
    return sha256_text(canonical_json(invocation(opts, resolved)))


def finished_results(run_dir: Path, resolved: Sequence[tuple["Task", "TaskConfig"]],
                     inputs: Sequence["TaskInput"]) -> dict[str, Any] | None:
    """`run_dir`'s results.json when it holds every task of `resolved` judged on the data `inputs` open now;
    else None."""
    try:
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    tasks = results.get("tasks") if isinstance(results, Mapping) else None
    if not isinstance(tasks, Mapping):
        return None
    for (task, _), data in zip(resolved, inputs):
        recorded = tasks.get(task.name)
        if not isinstance(recorded, Mapping):
            return None
        now = data.stream.rows.info.identity()
        then = recorded.get("dataset") or {}
        if any(then.get(name) != value for name, value in now.items()):
            return None
    return results


def find_finished(output: Path, wanted_hash: str, resolved: Sequence[tuple["Task", "TaskConfig"]],
                  inputs: Sequence["TaskInput"]) -> tuple[Path, dict[str, Any]] | None:
    """The newest finished run in `output` whose `invocation_hash` is `wanted_hash` (see the module doc)."""
    found = []
    for header_path in output.glob("*/run.json") if output.is_dir() else ():
        try:
            header = json.loads(header_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if header.get("invocation_hash") == wanted_hash:
            found.append((str(header.get("started", "")), header_path.parent.name, header_path.parent))
    if not found:
        return None
    newest = max(found)[2]  # unfinished, or its data changed: resumed the normal way
    results = finished_results(newest, resolved, inputs)
    return (newest, results) if results is not None else None
