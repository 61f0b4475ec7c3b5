"""What a task is: data (name, version, protocols, splits) plus small functions.

    rows(cfg)                        -> RowSource   (hub at a pinned revision, or a local copy; lazy)
    sample(row)                      -> Sample      (one row's fields checked, media placed)
    requests(sample, cfg)            -> [Request]   (prompt template, media, answer order)
    parse(sample, exchanges, cfg)    -> Parsed      (raw reply text -> verdict -> per-sample outcome)
    score(judgments, cfg)            -> Scoring     (per-sample outcomes -> metrics)

`load(cfg)` is their fixed composition: `stream(cfg)` turns rows into samples one at a time and counts
what results.json records about the data (`Tally`, `info`), and `load` collects them into a `Dataset`.
Most tasks only declare `data` (a `DataSpec`: the hub dataset and/or the `--data-dir` layout) and write
`sample`; the default `rows` reads JSONL line by line and hub datasets row by row (see harness.rows).

Protocols (`strict`, `official`, `unifiedreward`, ...) are entries in `protocols`, not forks of the
task: the functions read `cfg.protocol` where the protocols differ.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Container, Iterable, Iterator, Literal, Mapping, Sequence

from .errors import UsageError, did_you_mean
from .records import Generation, Judgment, MediaRef, Reply, Request, Sample
from .rows import (DataSpec, DatasetInfo, HubLayout, IdRule, LocalLayout, MediaRule, RawRow, Row, RowSource,
                   hub_media, hub_rows, local_rows, path_media, records_reader)

if TYPE_CHECKING:  # numpy only for annotations here: `harness list` imports every task class, never scores
    import numpy as np

    from .metrics import Compute, ComputeMany

__all__ = ["DataSpec", "Dataset", "DatasetInfo", "HubLayout", "IdRule", "LocalLayout", "Parsed", "ProtocolSpec",
           "Row", "RowSource", "SampleStream", "Scoring", "Tally", "Task", "TaskConfig"]


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
    #: The judge family (`reward.families`: "llava", "qwen", "unifiedreward-think", ...) when the adapter knows it.
    family: str | None = None
    #: A hub dataset revision overriding the task's pinned one (`--dataset-revision`); ignored with a data dir.
    revision: str | None = None
    #: The other answer order (`--orders both`): the protocol's order decision for every item, inverted.
    flip_order: bool = False


@dataclass(frozen=True)
class Dataset:
    """The samples to judge (in dataset order) plus what results.json records about their source
    (`DatasetInfo.as_dict()`; `dataset_info` reads it back as the typed record)."""

    samples: list[Sample]
    info: Mapping[str, Any]

    @property
    def dataset_info(self) -> DatasetInfo:
        return DatasetInfo.from_dict(self.info)


class Tally:
    """What results.json records about the samples beside their source, counted as they go by (so nothing
    needs all rows at once): `n_rows`, plus the counts a task adds in `Task.observe`."""

    def __init__(self) -> None:
        self.n_rows = 0
        self.counts: Counter[str] = Counter()
        self.values: dict[str, set[Any]] = {}

    def count(self, name: str, n: int | bool = 1) -> None:
        self.counts[name] += int(n)

    def distinct(self, name: str, *values: Any) -> None:
        """Count the distinct `values` seen under `name` (none given: the name is still recorded, as 0)."""
        self.values.setdefault(name, set()).update(values)

    def facts(self) -> dict[str, Any]:
        return {**self.counts, **{name: len(seen) for name, seen in self.values.items()}}


class SampleStream:
    """A task's samples in dataset order, built one row at a time. The source is opened (and a missing file
    or unreachable hub reported) when the stream is made; `info()` is complete once every sample has gone by.
    One pass only: the tally counts what it sees."""

    def __init__(self, task: "Task", cfg: TaskConfig):
        self.task, self.cfg = task, cfg
        self.rows = task.rows(cfg)
        self.tally = Tally()
        self._state = "new"

    def __iter__(self) -> Iterator[Sample]:
        return self.head(None)

    def head(self, limit: int | None) -> Iterator[Sample]:
        """The first `limit` samples (None: all); no row after them is read (`--limit`). `info()` then
        describes the rows read."""
        return (sample for _, sample in self.entries(limit) if sample is not None)

    def entries(self, limit: int | None, skip: Container[str] = ()) -> Iterator[tuple[str, Sample | None]]:
        """(id, sample) of the first `limit` rows; a row whose id is in `skip` (already judged) comes as
        (id, None), its sample not built unless the task's `observe` needs it for the dataset facts."""
        if self._state != "new":
            raise RuntimeError("a SampleStream is read once; call Task.stream again for another pass")
        self._state = "reading"
        observes = type(self.task).observe is not Task.observe
        if limit is None or limit > 0:
            for row in self.rows:
                self.tally.n_rows += 1
                if row.id in skip and not observes:
                    yield row.id, None
                else:
                    sample = self.task.to_sample(row)
                    self.task.observe(self.tally, row, sample)
                    yield row.id, None if row.id in skip else sample
                if limit is not None and self.tally.n_rows >= limit:
                    break
        self._state = "done"

    def info(self) -> DatasetInfo:
        if self._state != "done":
            raise RuntimeError("the dataset info is known once every sample has been read")
        return self.task.info(self.cfg, self.rows.info, self.tally)


@dataclass(frozen=True)
class Parsed:
    status: Literal["ok", "invalid"]
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
    #: Optional: every metric over many index rows at once (`idx2d`: replicates x rows -> metric -> values), for
    #: the bootstrap; it must equal `compute` row by row (harness.metrics.bootstrap_ci).
    compute_many: ComputeMany | None = None

    @property
    def n(self) -> int:
        return len(self.ids)

    def point(self) -> dict[str, float]:
        import numpy as np

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
    #: family (LLaVA and Qwen), `unifiedreward` with a Qwen-family judge runs the Qwen script's protocol. Keys are
    #: judge family names (`reward.families`: "unifiedreward-think", ...) or the script families "llava" / "qwen"
    #: that every judge family names; the most specific key that lists the asked protocol wins.
    family_protocols: ClassVar[Mapping[str, Mapping[str, str]]] = {}
    #: Pairwise tasks whose `requests` honour `TaskConfig.flip_order` and which implement `order_verdict` can be
    #: judged in both orders (`--orders both`: swap consistency and position bias, harness.reliability).
    both_orders: ClassVar[bool] = False

    def order_verdict(self, outcome: Mapping[str, Any]) -> Any:
        """One record's outcome as the response it picked, whatever order it was shown in
        (`harness.reliability.positional_view` / `signed_view`); only for tasks with `both_orders`."""
        raise NotImplementedError(f"task {self.name!r} is not judged in both orders")

    def both_orders_refusal(self, cfg: TaskConfig) -> str | None:
        """Why `cfg.protocol` cannot be judged in both orders or sampled for votes (a protocol that scores each
        candidate alone has no order to swap), None where it can; the runner refuses it before any work."""
        return None

    def both_orders_deviation(self, cfg: TaskConfig) -> str | None:
        """What `--orders both` changes in `cfg.protocol` when its reference shows one fixed order (a deviation the
        run records), None where the protocol already shows either order."""
        return None

    def for_family(self, cfg: TaskConfig, family: str | None) -> TaskConfig:
        """`cfg` for a judge of `family`: the family's protocol where the task has one (recorded), looked up under
        the family's name, then its script family (`reward.families.protocol_keys`)."""
        from reward.families import protocol_keys  # data only (no torch); harness list never needs it

        for key in protocol_keys(family):
            chosen = self.family_protocols.get(key, {}).get(cfg.protocol)
            if chosen is not None:
                return replace(cfg, protocol=chosen, requested_protocol=cfg.protocol, family=family)
        return replace(cfg, family=family)

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

    # ---- rows -> samples (the seam) ------------------------------------------------------------------
    #: Where the rows come from; the default `rows` reads it. None: the task implements `rows` itself.
    data: ClassVar[DataSpec | None] = None

    def rows(self, cfg: TaskConfig) -> RowSource:
        """The task's rows, lazily: `--data-dir` through `data.local`, else the hub dataset `data.hub` at
        `cfg.revision` or the pinned revision. Opening checks what can be checked before any row is read (the
        file is there, the hub answers)."""
        spec = self.data
        if spec is None:
            raise NotImplementedError(f"task {self.name!r} declares no `data`; it must implement rows()")
        root = cfg.data_dir
        if root is not None:
            if spec.local is None:
                raise UsageError(f"task {self.name!r} reads its data from the hub only; --data-dir does not apply")
            rows = local_rows(spec.local, root, cfg.split, spec.hub,
                              media=lambda raw, uid: self.local_media(raw.fields or {}, root, raw.where))
        elif spec.hub is not None:
            rows = hub_rows(spec.hub, cfg.split or self.splits[0], cfg.revision,
                            spec.local.file + " + media" if spec.local else "")
        else:
            raise UsageError(f"{self.name} needs --data-dir {spec.needs_data_dir}".rstrip())
        return rows.with_facts(**spec.facts) if spec.facts else rows

    def local_media(self, fields: Mapping[str, Any], root: Path, where: str) -> dict[str, MediaRef]:
        """A local row's media references; the default reads `data.local.media` (paths relative to `root`)."""
        columns = self.data.local.media if self.data and self.data.local else {}
        return dict(path_media(root, columns)(RawRow(0, where, fields), ""))

    def rows_from(self, records: Iterable[Mapping[str, Any]], media: MediaRule | None = None) -> RowSource:
        """Rows of the task's hub dataset that were read elsewhere (e.g. lmms-eval's copy), under the hub's id
        rule, so their samples are the ones a hub run builds. `media` replaces the hub's media rule (embedded
        bytes); `records` must be iterable more than once."""
        layout = self.data.hub if self.data else None
        if layout is None:
            raise UsageError(f"task {self.name!r} has no hub dataset")
        info = DatasetInfo(source="hub", id=layout.dataset, config=layout.config, revision=layout.revision)
        return RowSource(info, records_reader(records, layout.dataset), layout.ids, media or hub_media(layout),
                         layout.dataset)

    @abstractmethod
    def sample(self, row: Row) -> Sample:
        """One readable row as a Sample: its fields checked (a bad row is a Sample with a `problem` naming
        `row.where`, the id and the field), `data` holding what requests and parse read, media in order."""

    def to_sample(self, row: Row) -> Sample:
        """`sample(row)`, or for a row that could not be read at all, a Sample carrying why."""
        if row.problem is not None:
            return Sample(row.id, row.index, {}, problem=row.problem)
        return self.sample(row)

    def observe(self, tally: Tally, row: Row, sample: Sample) -> None:
        """Count what results.json should record about the samples (`tally.count`, `tally.distinct`)."""

    def info(self, cfg: TaskConfig, source: DatasetInfo, tally: Tally) -> DatasetInfo:
        """results.json `dataset`: the source's identity, the row count and the tally's facts."""
        return replace(source, n_rows=tally.n_rows, extra={**source.extra, **tally.facts()})

    def stream(self, cfg: TaskConfig) -> SampleStream:
        return SampleStream(self, cfg)

    def load(self, cfg: TaskConfig) -> Dataset:
        """Every sample, in dataset order, and the dataset info (the fixed composition of the seam)."""
        stream = self.stream(cfg)
        samples = list(stream)
        return Dataset(samples, stream.info().as_dict())

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
    #: Protocol -> the generation settings every request of it carries, where they are fixed: the lmms-eval
    #: bridge writes them into a plugin task's YAML for models other than ours (`harness.lmms.bridge`).
    generation: ClassVar[Mapping[str, Generation]] = {}
    #: The judge a two-stage task uses unless --judge names another: (adapter name, adapter args).
    default_judge: ClassVar[tuple[str, Mapping[str, str]]] = ("openai", {})

    def judge_requests(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]],
                       cfg: TaskConfig) -> list[Request]:
        raise NotImplementedError(f"task {self.name!r} is not a two-stage task")
