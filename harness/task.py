"""What a task is: data (name, version, protocols, splits) plus four small functions.

    load(cfg)                        -> Dataset     (hub at a pinned revision, or a local copy)
    requests(sample, cfg)            -> [Request]   (prompt template, media, answer order)
    parse(sample, exchanges, cfg)    -> Parsed      (raw reply text -> verdict -> per-sample outcome)
    score(judgments, cfg)            -> Scoring     (per-sample outcomes -> metrics)

Protocols (`strict`, `official`, `unifiedreward`, ...) are entries in `protocols`, not forks of the
task: the four functions read `cfg.protocol` where the protocols differ.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from .errors import UsageError, did_you_mean
from .metrics import Compute
from .records import Judgment, Reply, Request, Sample


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    version: str
    summary: str
    #: Known, named differences from the paper or the benchmark's own code.
    deviations: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskConfig:
    protocol: str
    seed: int = 0
    split: str | None = None
    data_dir: Path | None = None
    #: True when the adapter is a scalar scorer: requests are one candidate each, replies are numbers.
    scorer: bool = False
    #: The protocol asked for, when the judge's family chose another (see `Task.family_protocols`).
    requested_protocol: str | None = None
    #: The judge's script family ("llava", "qwen") when the adapter knows it.
    family: str | None = None
    #: A hub dataset revision overriding the task's pinned one (`--dataset-revision`); ignored with a data dir.
    revision: str | None = None


@dataclass(frozen=True)
class Dataset:
    """The samples to judge (in dataset order) plus what results.json records about their source."""

    samples: list[Sample]
    info: Mapping[str, Any]


@dataclass(frozen=True)
class Parsed:
    status: str  # "ok" or "invalid"
    outcome: Mapping[str, Any]
    reason: str | None = None


@dataclass(frozen=True)
class Scoring:
    """`compute(idx)` returns every metric over the scored rows `idx` (see harness.metrics); row i is the
    sample `ids[i]`, which is how two runs are paired when they are compared.

    For a metric that is the share of rows judged right (an accuracy), `accuracy_rows[metric]` marks
    the rows it averages and `correct` says which rows were right: enough for an exact McNemar test
    between two runs. Other metrics (macro averages, tie-calibrated accuracy) are compared by the
    paired bootstrap only.
    """

    compute: Compute
    ids: Sequence[str]
    #: Extra facts for results.json (e.g. category sizes), not metrics.
    details: Mapping[str, Any] = field(default_factory=dict)
    correct: np.ndarray | None = None
    accuracy_rows: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    def point(self) -> dict[str, float]:
        return dict(self.compute(np.arange(self.n)))


class Task(ABC):
    name: ClassVar[str]
    version: ClassVar[str]
    protocols: ClassVar[Mapping[str, ProtocolSpec]]
    default_protocol: ClassVar[str] = "strict"
    #: The protocol used when a scalar scorer judges the task (None: the task needs a generative judge).
    scorer_protocol: ClassVar[str | None] = None
    splits: ClassVar[tuple[str, ...]] = ("test",)
    #: judge family -> {asked protocol: protocol run}: where the authors wrote one script per checkpoint
    #: family (LLaVA and Qwen), `unifiedreward` with a Qwen-family judge runs the Qwen script's protocol.
    family_protocols: ClassVar[Mapping[str, Mapping[str, str]]] = {}

    def for_family(self, cfg: TaskConfig, family: str | None) -> TaskConfig:
        """`cfg` for a judge of `family`: the family's protocol where the task has one (recorded)."""
        chosen = self.family_protocols.get(family or "", {}).get(cfg.protocol)
        if chosen is None:
            return replace(cfg, family=family)
        return replace(cfg, protocol=chosen, requested_protocol=cfg.protocol, family=family)

    def config(self, protocol: str | None, seed: int, split: str | None, data_dir: Path | None,
               scorer: bool = False, revision: str | None = None) -> TaskConfig:
        if scorer:
            if self.scorer_protocol is None:
                raise UsageError(f"task {self.name!r} needs a generative judge; the model given is a scalar scorer")
            if protocol not in (None, self.scorer_protocol):
                raise UsageError(f"task {self.name!r} judged by a scalar scorer runs protocol "
                                 f"{self.scorer_protocol!r}, not {protocol!r}")
            protocol = self.scorer_protocol
        protocol = protocol or self.default_protocol
        if protocol not in self.protocols:
            raise UsageError(f"task {self.name!r} has no protocol {did_you_mean(protocol, list(self.protocols))}")
        if not scorer and protocol == self.scorer_protocol:
            raise UsageError(f"protocol {protocol!r} of task {self.name!r} is for scalar scorers; "
                             f"the model given is a generative judge")
        return TaskConfig(protocol=protocol, seed=seed, split=self.resolve_split(split), data_dir=data_dir,
                          scorer=scorer, revision=revision)

    def resolve_split(self, split: str | None) -> str:
        """`split`, or the first one when none is given; an unknown name is an error listing the valid ones."""
        split = split or self.splits[0]
        if split not in self.splits:
            raise UsageError(f"task {self.name!r} has no split {did_you_mean(split, list(self.splits))}")
        return split

    @abstractmethod
    def load(self, cfg: TaskConfig) -> Dataset: ...

    @abstractmethod
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]: ...

    @abstractmethod
    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed: ...

    @abstractmethod
    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring: ...

    #: Two-stage tasks (a policy answers, a judge grades the answer) set this and implement
    #: `judge_requests`; their `parse` then receives the model's exchanges followed by the judge's
    #: (judge requests carry meta["stage"] = "judge").
    needs_judge: ClassVar[bool] = False
    #: The judge a two-stage task uses unless --judge names another: (adapter name, adapter args).
    default_judge: ClassVar[tuple[str, Mapping[str, str]]] = ("openai", {})

    def judge_requests(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]],
                       cfg: TaskConfig) -> list[Request]:
        raise NotImplementedError(f"task {self.name!r} is not a two-stage task")
