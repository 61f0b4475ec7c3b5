"""The Python API: the same code path as `python -m harness run`, for notebooks and scripts.

    import harness
    outcome = harness.evaluate(tasks=["vlrewardbench"], model="hf",
                               model_args={"pretrained": "CodeGoat24/UnifiedReward-qwen-7b", "batch_size": 8},
                               data_dir="data/vlrewardbench", limit=100)
    outcome.results["tasks"]["vlrewardbench"]["metrics"]     # results.json as a dict
    outcome.dir                                              # the run directory
    harness.list_tasks(), harness.list_models()
    harness.api.describe_task("vlrewardbench")               # what `harness list vlrewardbench` prints
    harness.api.list_groups()                                # task groups: `tasks=["paper-table5"]` runs three
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from .groups import expand_tasks, load_groups
from .registry import MODELS, TASKS
from .run_config import arg_strings


def evaluate(tasks: Sequence[str] | str, model: str, model_args: Mapping[str, Any] | None = None, *,
             protocol: str | None = None, data_dir: str | Path | None = None, split: str | None = None,
             dataset_revision: str | None = None, limit: int | None = None, seed: int = 0,
             output: str | Path = "runs", resume: bool = False, use_cache: bool = True, strict: bool = False,
             cache_path: str | Path | None = None, judge: str | None = None,
             judge_args: Mapping[str, Any] | None = None, bootstrap_resamples: int = 1000,
             progress: str = "auto", verbose: bool = False, adapter: Any = None) -> Any:
    """Run `tasks` with `model` exactly as the CLI does and return its `RunOutcome` (`.results`: the
    results.json dict, `.dir`: the run directory, `.adapter_calls`, `.cache_hits`, `.resumed_samples`).

    `tasks` may name task groups (`"paper-table5"`, see `list_groups`), expanded in order, each task once.

    `model_args` values may be typed (`{"batch_size": 8}`) or strings, as on the command line; `adapter` may
    be an adapter already built (then `model` only names it). Usage errors raise `harness.errors.UsageError`;
    `strict=True` raises `harness.errors.StrictFailure` at the first failed sample.
    """
    from .runner import RunOptions, run

    names = expand_tasks(tasks.split(",") if isinstance(tasks, str) else tasks)
    opts = RunOptions(tasks=names, model=model, model_args=arg_strings(model_args), protocol=protocol,
                      data_dir=Path(data_dir) if data_dir is not None else None, split=split,
                      dataset_revision=dataset_revision, limit=limit, seed=seed, output=Path(output), resume=resume,
                      use_cache=use_cache, strict=strict, cache_path=Path(cache_path) if cache_path else None,
                      judge=judge, judge_args=arg_strings(judge_args), bootstrap_resamples=bootstrap_resamples,
                      progress=progress, verbose=verbose)
    return run(opts, adapter=adapter)


def list_tasks() -> dict[str, dict[str, Any]]:
    """Every registered task: its protocols (the default first), splits and default protocol."""
    out = {}
    for name in TASKS.names():
        task = TASKS.get(name)
        out[name] = {"protocols": list(task.protocols), "default_protocol": task.default_protocol,
                     "splits": list(task.splits)}
    return out


def list_models() -> dict[str, str]:
    """Every registered model adapter with its one-line description (no adapter is imported)."""
    return {name: MODELS.summary(name) for name in MODELS.names()}


def list_groups() -> dict[str, dict[str, Any]]:
    """Every task group (`tasks/groups.yaml`): its description and tasks, in the order a run takes them."""
    return {g.name: {"description": g.description, "tasks": list(g.tasks)} for g in load_groups().values()}


def describe_task(name: str) -> dict[str, Any]:
    """One task's details, as `harness list NAME --json` prints them: description, splits, protocols (each
    with its version, summary, deviations and metrics), family-based protocol choice, the two-stage judge,
    the data source (hub id, pinned revision, `--data-dir` layout) and the rows known without loading (None:
    known after loading). Nothing is loaded or downloaded; an unknown name raises `UsageError`."""
    from .describe import describe_task as describe

    return describe(name)
