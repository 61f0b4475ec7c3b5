"""Hand-written finished runs and table specs for report tests that must not depend on the shipped specs or on
any task's code: a report of them exercises every part of the renderers (published rows, rows of ours only,
a conflict, caveats, a null metric, a missing cell, footnotes, a chart, an unreadable run).

`tests/fixtures_report/no_reliability.*` are the four renderings of `golden_report` made by the renderers as they
were before the judge reliability section existed (paths replaced by `<tmp>`); `tests/test_report_reliability.py`
checks the renderers still produce them byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from reports.build import Report, build_report
from reports.runs import discover
from reports.spec import parse_spec

FIXTURES = Path(__file__).resolve().parent / "fixtures_report"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(32))  # not a drawable PNG: the renderers only embed or name it

SPEC_NUMBERED = {
    "id": "98", "title": "Toy Task Comparison", "source": "a hand-written spec",
    "caption": "Accuracy (%) of the toy task.",
    "columns": [
        {"id": "acc", "header": "Accuracy",
         "sources": [{"task": "toy_task", "protocol": "strict", "metric": "accuracy", "split": "test"},
                     {"task": "toy_task", "protocol": "other", "metric": "accuracy", "note": "other protocol"}]},
        {"id": "macro", "group": "Toy", "header": "macro", "decimals": 2,
         "sources": [{"task": "toy_task", "metric": "macro_accuracy"}]},
    ],
    "rows": [
        {"label": "Judge A", "match": ["^judge-a$"], "paper": {"acc": "60.1", "macro": "55.00"}},
        {"label": "Paper only", "paper": {"acc": "70.0"}},
    ],
    "notes": [{"text": "a note on the whole table"}, {"text": "a note on one cell", "row": "Judge A", "column": "acc"}],
}

SPEC_NAMED = {
    "id": "toy-board", "title": "Toy leaderboard", "source": "a hand-written leaderboard",
    "columns": [{"id": "acc", "header": "Acc | all", "sources": [{"task": "toy_task", "metric": "accuracy"}]}],
    "rows": [{"label": "Judge B", "match": ["judge-b"], "paper": {"acc": "50.5"}}],
}


def task_entry(metrics: Mapping[str, Any], ci95: Mapping[str, list[float]] | None = None, *, protocol: str = "strict",
               n: int = 20, n_invalid: int = 0, n_error: int = 0, split: str = "test",
               details: Mapping[str, Any] | None = None, judged: Mapping[str, int] | None = None) -> dict[str, Any]:
    """One task's results.json entry, as `harness.run_record.TaskRecord.to_json` writes it."""
    entry: dict[str, Any] = {
        "protocol": protocol, "protocol_version": "1", "protocol_deviations": [], "task_version": "1",
        "split": split, "dataset": {}, "metrics": dict(metrics), "ci95": dict(ci95 or {}),
        "counts": {"n": n, "n_invalid": n_invalid, "n_error": n_error}, "errors": {}, "error_examples": {},
        "details": dict(details or {}), "prompts_digest": None}
    if judged:
        entry["judged"] = dict(judged)
    return entry


def write_run(root: Path, name: str, model: str, tasks: Mapping[str, Mapping[str, Any]], *,
              created: str = "2026-01-01T00:00:00Z", limit: int | None = None) -> Path:
    """A finished run directory with only results.json (reports read no samples)."""
    directory = root / name
    directory.mkdir(parents=True)
    results = {"schema_version": 1, "run_id": name, "created": created, "started": created,
               "model": {"adapter": "scripted", "model": model}, "seed": 0, "limit": limit, "config_hash": "0" * 16,
               "tasks": dict(tasks), "harness": {}, "packages": {}, "host": {}}
    (directory / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return directory


def golden_runs(root: Path) -> Path:
    """Four readable runs and one unfinished one under `root/runs`."""
    runs = root / "runs"
    write_run(runs, "run-a", "judge-a", {"toy_task": task_entry(
        {"accuracy": 61.234, "macro_accuracy": 55.5}, {"accuracy": [58.0, 64.5], "macro_accuracy": [50.25, 60.75]})})
    write_run(runs, "run-a-other", "judge-a", {"toy_task": task_entry(
        {"accuracy": 40.0, "macro_accuracy": None}, protocol="other")})
    write_run(runs, "run-b", "judge-b", {"toy_task": task_entry(
        {"accuracy": 50.5, "macro_accuracy": 49.0}, {"accuracy": [45.0, 56.0]}, n_error=2, split="dev")},
        limit=10)
    write_run(runs, "run-c", "judge-c/checkpoint", {"toy_task": task_entry({"accuracy": 33.3333})})
    unfinished = runs / "run-unfinished"
    unfinished.mkdir()
    (unfinished / "run.json").write_text("{}", encoding="utf-8")
    return runs


def golden_report(root: Path, runs: Path | None = None) -> Report:
    """The report of `golden_runs` (or of the runs under `runs`) against the two hand-written specs."""
    found, problems = discover([runs if runs is not None else golden_runs(root)])
    specs = [parse_spec(yaml.safe_load(yaml.safe_dump(raw)), root / f"{raw['id']}.yaml")
             for raw in (SPEC_NUMBERED, SPEC_NAMED)]
    return build_report(specs, found, problems)


def golden_chart(root: Path) -> dict[str, Path]:
    """A stand-in chart file for table 98, so the renderers' chart paths (link, comment, embedded image) run."""
    path = root / "report.table98.png"
    path.write_bytes(PNG_BYTES)
    return {"98": path}


def normalised(text: str, root: Path) -> str:
    return text.replace(str(root), "<tmp>")
