"""The console summary of a finished run (what `harness run`, `demo` and `lmms-eval` print and `push` describes
a commit with): the judge, each task's counts, errors by stage with an example, warnings, metrics with CIs."""

from __future__ import annotations

from typing import Any, Mapping

from .run_record import RunRecord, TaskRecord


def format_summary(record: RunRecord) -> str:
    model = record.model
    args = model.get("args") or {}
    label = model.get("model") or args.get("name") or args.get("path")
    lines = [f"judge: {model.get('adapter', '?')}" + (f" ({label})" if label else "")]
    for name, task in record.tasks.items():
        lines.append(f"{name} [{task.protocol}] n={task.n} invalid={task.n_invalid} error={task.n_error}")
        for key, count in sorted(task.errors.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {key:<28} {count}  e.g. {task.error_examples.get(key, '')}"[:220])
        lines.extend(f"  warning: {w}" for w in _warnings(model, task))
        for metric, value in task.metrics.items():
            ci = task.ci95.get(metric)
            shown = "n/a" if value is None else f"{value:.2f}"
            ci_text = f"  [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
            lines.append(f"  {metric:<28} {shown}{ci_text}")
    return "\n".join(lines)


def _warnings(model: Mapping[str, Any], task: TaskRecord) -> list[str]:
    """What a run's numbers should not be read without."""
    out = []
    n, invalid, errors = task.n, task.n_invalid, task.n_error
    missing = task.errors.get("error/adapter", 0)
    example = task.error_examples.get("error/adapter", "")
    if model.get("adapter") == "replay" and missing and "no reply for id" in example:
        out.append(f"the replay file has no reply for {missing} of {n} samples (is it this task's and split's file?)")
    if n and invalid and invalid == n - errors:
        out.append("every judged reply was invalid: no verdict could be read (check the protocol and the judge)")
    return out
