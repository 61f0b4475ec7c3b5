"""The run record: what `results.json` holds, as one typed record written and read in one place.

Writers: `harness.runner` (a judged run) and `harness.lmms.results` (an lmms-eval run collected as ours). Readers:
`reports` (report, compare), `harness.loggers`, `harness.push`. All go through `RunRecord`/`TaskRecord`, so a
field is spelled once and a new schema version is a change here.

    {"schema_version": 1, "run_id", "created", "started", "model": {adapter, args, ...identity}, "seed", "limit",
     "config_hash", "tasks": {name: TaskRecord}, "harness": {version, git}, "packages", "host", ["lmms"]}
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Mapping

from .errors import UsageError

SCHEMA_VERSION = 1


class RunRecordError(UsageError):
    """A results.json that cannot be read as a run record (named by path)."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True, eq=False)
class TaskRecord(MappingABC):
    """One task's entry: the protocol it ran under, its numbers and how many samples they rest on.

    The attributes are the typed way to read it; it also reads as the results.json mapping (`entry["metrics"]`),
    for code and notebooks written against the file."""

    protocol: str
    metrics: Mapping[str, float | None]
    ci95: Mapping[str, list[float]]
    counts: Mapping[str, int]  # n, n_invalid, n_error
    protocol_version: str | int | None = None
    protocol_deviations: tuple[str, ...] = ()
    task_version: str | int | None = None
    split: str | None = None
    dataset: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)  # "<status>/<stage>" -> count
    error_examples: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    #: sha256 over every sample's `id<TAB>prompt hash` in dataset order (`harness.judgment_table`): equal digests,
    #: the same prompts; each sample's own hash is in its samples.jsonl record.
    prompts_digest: str | None = None
    #: the protocol asked for, when the judge's family chose another (`unifiedreward` -> `unifiedreward-qwen`)
    protocol_requested: str | None = None
    protocol_chosen_for: str | None = None
    #: the second-stage judge of two-stage tasks (its `describe()`)
    judge: Mapping[str, Any] | None = None
    #: judgments per item (`harness.judged.Judged`: {"orders": 1|2, "samples": K}); empty for one of each
    judged: Mapping[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.counts.get("n", 0))

    @property
    def n_invalid(self) -> int:
        return int(self.counts.get("n_invalid", 0))

    @property
    def n_error(self) -> int:
        return int(self.counts.get("n_error", 0))

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)

    @cached_property
    def _json(self) -> dict[str, Any]:
        return self.to_json()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"protocol": self.protocol}
        if self.protocol_requested is not None:
            out["protocol_requested"] = self.protocol_requested
            out["protocol_chosen_for"] = self.protocol_chosen_for
        out.update({"protocol_version": self.protocol_version, "protocol_deviations": list(self.protocol_deviations),
                    "task_version": self.task_version, "split": self.split, "dataset": dict(self.dataset),
                    "metrics": dict(self.metrics), "ci95": {k: list(v) for k, v in self.ci95.items()},
                    "counts": dict(self.counts), "errors": dict(self.errors),
                    "error_examples": dict(self.error_examples), "details": dict(self.details),
                    "prompts_digest": self.prompts_digest})
        if self.judge is not None:
            out["judge"] = dict(self.judge)
        if self.judged:
            out["judged"] = dict(self.judged)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], where: str) -> "TaskRecord":
        missing = [k for k in ("protocol", "metrics", "counts") if k not in obj]
        if missing:
            raise RunRecordError(f"{where}: no {', '.join(missing)}")
        return cls(protocol=str(obj["protocol"]), metrics=dict(obj["metrics"]), ci95=dict(obj.get("ci95") or {}),
                   counts=dict(obj["counts"]), protocol_version=obj.get("protocol_version"),
                   protocol_deviations=tuple(obj.get("protocol_deviations") or ()),
                   task_version=obj.get("task_version"), split=obj.get("split"), dataset=dict(obj.get("dataset") or {}),
                   errors=dict(obj.get("errors") or {}), error_examples=dict(obj.get("error_examples") or {}),
                   details=dict(obj.get("details") or {}), prompts_digest=obj.get("prompts_digest"),
                   protocol_requested=obj.get("protocol_requested"),
                   protocol_chosen_for=obj.get("protocol_chosen_for"), judge=obj.get("judge"),
                   judged=dict(obj.get("judged") or {}))


@dataclass(frozen=True)
class RunRecord:
    """A finished run (results.json)."""

    run_id: str
    model: Mapping[str, Any]  # the judge's `describe()`: adapter, args (redacted), identity fields
    tasks: Mapping[str, TaskRecord]
    config_hash: str
    seed: int = 0
    limit: int | float | None = None
    started: str | None = None
    created: str = field(default_factory=_now)
    harness: Mapping[str, Any] = field(default_factory=dict)
    packages: Mapping[str, Any] = field(default_factory=dict)
    host: Mapping[str, Any] = field(default_factory=dict)
    #: an lmms-eval run collected as ours: its version, command, results file, task names
    lmms: Mapping[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def new(cls, **fields: Any) -> "RunRecord":
        """A record made now, with this process's provenance (harness version and git state, packages, host)."""
        from . import __version__, provenance

        return cls(harness={"version": __version__, "git": provenance.git_state()},
                   packages=provenance.package_versions(), host=provenance.host(), **fields)

    @property
    def model_label(self) -> str:
        """The judge's label: its model id (hf, openai, pickscore), replay/scores name, or adapter name."""
        return str(self.model.get("model") or self.model.get("adapter") or "unknown")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": self.schema_version, "run_id": self.run_id, "created": self.created,
                               "started": self.started, "model": dict(self.model), "seed": self.seed,
                               "limit": self.limit, "config_hash": self.config_hash,
                               "tasks": {name: t.to_json() for name, t in self.tasks.items()}}
        if self.lmms is not None:
            out["lmms"] = dict(self.lmms)
        out.update({"harness": dict(self.harness), "packages": dict(self.packages), "host": dict(self.host)})
        return out

    @classmethod
    def from_json(cls, obj: Any, where: str) -> "RunRecord":
        if not isinstance(obj, Mapping):
            raise RunRecordError(f"{where}: not a results object")
        version = obj.get("schema_version")
        if not isinstance(version, int):
            raise RunRecordError(f"{where}: no schema_version; not a harness results file")
        if version > SCHEMA_VERSION:
            raise RunRecordError(f"{where}: schema version {version} is newer than this harness reads "
                                 f"({SCHEMA_VERSION}); upgrade unified-reward-harness")
        tasks = obj.get("tasks")
        if not isinstance(tasks, Mapping):
            raise RunRecordError(f"{where}: no tasks")
        return cls(run_id=str(obj.get("run_id") or ""), model=dict(obj.get("model") or {}),
                   tasks={str(n): TaskRecord.from_json(t, f"{where} task {n!r}") for n, t in tasks.items()},
                   config_hash=str(obj.get("config_hash") or ""), seed=obj.get("seed", 0), limit=obj.get("limit"),
                   started=obj.get("started"), created=str(obj.get("created") or ""),
                   harness=dict(obj.get("harness") or {}), packages=dict(obj.get("packages") or {}),
                   host=dict(obj.get("host") or {}), lmms=obj.get("lmms"), schema_version=version)

    @classmethod
    def read(cls, path: Path) -> "RunRecord":
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunRecordError(f"{path}: not readable as JSON ({exc})") from None
        return cls.from_json(obj, str(path))
