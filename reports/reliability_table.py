"""The "Judge reliability" section of `harness report`: which reliability numbers of which runs it shows.

A task entry of a run belongs here when its metrics hold any reliability metric (docs/reliability.md): the
both-orders ones (`swap_consistency`, ...), the vote ones (`--samples K`), accuracy per difficulty bucket, or
calibration against humans. Everything a reader must be told is decided here, once, so that every format shows
the same numbers (the renderers only lay the section out):

- one row per (judge, task, protocol, orders x samples), from the newest run that has it: runs of one judge and
  task judged differently (both orders; K samples) are rows of their own, their numbers answer other questions;
- the headline accuracy beside them is the task's overall accuracy (`HEADLINE`), else its first metric that is
  not a reliability metric, and the metric used is named under the table: the tasks spell it differently;
- a metric a run does not have, or has as null (no item to compute it on), is None and prints "—", never 0;
- `<family>/<part>` metrics (accuracy per margin bucket, vote entropy quantiles, per-dimension correlations)
  are small tables of their own, one per family and set of parts (run x bucket);
- reliability diagrams are found under `details.calibration` (any dict with the four keys of
  `harness.calibration.ReliabilityDiagram.as_dict`, up to two levels down); a malformed one is a problem
  listed in the section, not a chart drawn from half its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from harness.run_record import TaskRecord

from .build import _ci, _number
from .runs import Run

#: the task's overall accuracy under the names tasks use for it, in this order of preference
HEADLINE = ("overall_accuracy", "accuracy", "accuracy_with_ties")
DIAGRAM_KEYS = ("edges", "mean_predicted", "observed", "count")


@dataclass(frozen=True)
class Column:
    """A number of the main table: `key` the metric in results.json (`ACCURACY`: the headline metric)."""

    key: str
    title: str
    decimals: int = 1
    with_ci: bool = False  # the text formats print its 95% CI after it

    @property
    def heading(self) -> str:
        return self.title + (" [95% CI]" if self.with_ci else "")


ACCURACY = "accuracy (headline)"
#: the main table's columns of numbers, in order; Accuracy always, the others when any row's task reports them
COLUMNS = (
    Column(ACCURACY, "Accuracy"),
    Column("swap_consistency", "Swap consistency"),
    Column("first_position_rate", "First position", with_ci=True),
    Column("accuracy/both_orders", "Right in both orders"),
    Column("accuracy/either_order", "Right in either order"),
    Column("accuracy/majority_vote", "Majority vote"),
    Column("vote_agreement", "Vote agreement"),
    Column("vote_tie_rate", "Vote ties"),
    Column("ece", "ECE"),
    Column("spearman", "Spearman rho", decimals=3),
    Column("kendall_tau", "Kendall tau", decimals=3),
)


@dataclass(frozen=True)
class Family:
    """Metrics `<prefix>/<part>` shown as a table of their own, one column per part."""

    prefix: str
    title: str
    decimals: int = 1


FAMILIES = (
    Family("accuracy/margin", "Accuracy by human margin (%)"),
    Family("accuracy/abs_margin", "Accuracy by quantile of the absolute score margin (%)"),
    Family("vote_entropy", "Vote entropy over items (bits)", decimals=2),
    Family("ece", "ECE by part (%)"),
    Family("spearman", "Spearman rho by part", decimals=3),
    Family("kendall_tau", "Kendall tau by part", decimals=3),
)


def is_reliability_metric(name: str) -> bool:
    """A metric of docs/reliability.md: a main-table one, or `<family>/<part>` of a family."""
    return any(name == c.key for c in COLUMNS) or any(name.startswith(f.prefix + "/") for f in FAMILIES)


def has_reliability(entry: TaskRecord) -> bool:
    return any(is_reliability_metric(name) for name in entry.metrics)


@dataclass(frozen=True)
class Number:
    """A value of results.json; None where the run has none (absent or null)."""

    value: float | None
    ci: tuple[float, float] | None = None


MISSING = Number(None)


@dataclass(frozen=True)
class Row:
    """One (judge, task, protocol, orders x samples): its numbers by `Column.key`, from one run."""

    model: str
    task: str
    protocol: str
    orders: int
    samples: int
    headline: str | None  # the metric shown as Accuracy
    numbers: Mapping[str, Number]
    n_items: int | None
    run: Run
    entry: TaskRecord  # the task's entry in the run's results.json

    def number(self, key: str) -> Number:
        return self.numbers.get(key, MISSING)

    @property
    def judged(self) -> str:
        return f"{self.orders} × {self.samples}"

    @property
    def label(self) -> str:
        return f"{self.model} / {self.task} [{self.protocol}, {self.judged}]"


@dataclass(frozen=True)
class Breakdown:
    """One family's table: every row that has this family's parts `parts` (in the run's order)."""

    family: Family
    parts: tuple[str, ...]
    rows: tuple[tuple[Row, tuple[Number, ...]], ...]

    def metric(self, part: str) -> str:
        return f"{self.family.prefix}/{part}"


@dataclass(frozen=True)
class Diagram:
    """A reliability diagram of one row: per bin its edges, mean predicted probability, observed frequency
    (None: an empty bin) and count; `where` is its path under the task's details."""

    row: Row
    where: str
    edges: tuple[float, ...]
    mean_predicted: tuple[float | None, ...]
    observed: tuple[float | None, ...]
    count: tuple[int, ...]


@dataclass(frozen=True)
class ReliabilitySection:
    columns: tuple[Column, ...]  # the COLUMNS some row has
    rows: tuple[Row, ...]
    breakdowns: tuple[Breakdown, ...]
    diagrams: tuple[Diagram, ...]
    problems: tuple[str, ...]

    @property
    def headlines(self) -> dict[str, tuple[str, ...]]:
        """task -> the metrics shown as its Accuracy (one, unless its runs differ)."""
        found: dict[str, dict[str, None]] = {}
        for row in self.rows:
            found.setdefault(row.task, {}).update({row.headline: None} if row.headline else {})
        return {task: tuple(metrics) for task, metrics in found.items()}


def _metric(entry: TaskRecord, name: str) -> Number:
    value = _number(entry.metrics.get(name))
    return Number(value, _ci(entry, name) if value is not None else None)


def headline_metric(entry: TaskRecord) -> str | None:
    """The task's overall accuracy (`HEADLINE`), else its first metric that is not a reliability one."""
    return next((m for m in HEADLINE if m in entry.metrics),
                next((m for m in entry.metrics if not is_reliability_metric(m)), None))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _judged(entry: TaskRecord) -> tuple[int, int]:
    orders, samples = _int(entry.judged.get("orders", 1)), _int(entry.judged.get("samples", 1))
    return orders or 1, samples or 1


def n_items(entry: TaskRecord) -> int | None:
    """The items the both-orders or vote metrics rest on (details.reliability: complete items only); otherwise
    the task's records over its judgments per item (None when they do not divide)."""
    reliability = entry.details.get("reliability")
    if isinstance(reliability, Mapping):
        for part in ("both_orders", "votes"):
            counts = reliability.get(part)
            if isinstance(counts, Mapping) and _int(counts.get("items")) is not None:
                return int(counts["items"])
    orders, samples = _judged(entry)
    return entry.n // (orders * samples) if entry.n % (orders * samples) == 0 else None


def _row(run: Run, task: str, entry: TaskRecord) -> Row:
    headline = headline_metric(entry)
    numbers = {c.key: _metric(entry, c.key) for c in COLUMNS if c.key != ACCURACY}
    numbers[ACCURACY] = _metric(entry, headline) if headline else MISSING
    orders, samples = _judged(entry)
    return Row(run.model, task, entry.protocol, orders, samples, headline, numbers, n_items(entry), run, entry)


def _newest_rows(runs: Sequence[Run]) -> list[Row]:
    best: dict[tuple[str, str, str, int, int], Row] = {}
    for run in runs:
        for task, entry in run.tasks.items():
            if not has_reliability(entry):
                continue
            row = _row(run, task, entry)
            key = (row.model, task, row.protocol, row.orders, row.samples)
            held = best.get(key)
            if held is None or (run.created, str(run.dir)) > (held.run.created, str(held.run.dir)):
                best[key] = row
    return [best[k] for k in sorted(best)]


def _breakdowns(rows: Sequence[Row]) -> list[Breakdown]:
    out = []
    for family in FAMILIES:
        groups: dict[tuple[str, ...], list[tuple[Row, tuple[Number, ...]]]] = {}
        for row in rows:
            names = [m for m in row.entry.metrics if m.startswith(family.prefix + "/")]
            if names:
                parts = tuple(m[len(family.prefix) + 1:] for m in names)
                groups.setdefault(parts, []).append((row, tuple(_metric(row.entry, m) for m in names)))
        out += [Breakdown(family, parts, tuple(members)) for parts, members in groups.items()]
    return out


def _found_diagrams(value: Any, where: str, depth: int) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(value, Mapping):
        return
    if all(k in value for k in DIAGRAM_KEYS):
        yield where, value
    elif depth > 0:
        for key, inner in value.items():
            yield from _found_diagrams(inner, f"{where}.{key}", depth - 1)


def _diagram(row: Row, where: str, raw: Mapping[str, Any]) -> Diagram:
    """The diagram as numbers; ValueError saying what is wrong with it."""
    def floats(name: str, empty_ok: bool) -> tuple[float | None, ...]:
        values = raw[name]
        if not isinstance(values, list):
            raise ValueError(f"{name} is not a list")
        out = tuple(_number(v) for v in values)
        if any(o is None and not (empty_ok and v is None) for o, v in zip(out, values)):
            raise ValueError(f"{name} holds a value that is not a finite number" + (" or null" if empty_ok else ""))
        return out

    edges = tuple(float(e) for e in floats("edges", False) if e is not None)
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError("edges are not increasing")
    mean, observed = floats("mean_predicted", True), floats("observed", True)
    count = raw["count"]
    if not isinstance(count, list) or any(_int(c) is None for c in count):
        raise ValueError("count is not a list of counts")
    if not (len(mean) == len(observed) == len(count) == len(edges) - 1) or not count:
        raise ValueError(f"{len(edges)} edges, {len(mean)} mean_predicted, {len(observed)} observed and "
                         f"{len(count)} count values: a diagram has one more edge than bins")
    if any(c and (m is None or o is None) for c, m, o in zip(count, mean, observed)):
        raise ValueError("a bin with items has no mean_predicted or observed value")
    return Diagram(row, where, edges, mean, observed, tuple(count))


def _diagrams(rows: Sequence[Row]) -> tuple[list[Diagram], list[str]]:
    diagrams, problems = [], []
    for row in rows:
        calibration = row.entry.details.get("calibration")
        for where, raw in _found_diagrams(calibration, "details.calibration", 2):
            try:
                diagrams.append(_diagram(row, where, raw))
            except ValueError as exc:
                problems.append(f"{row.label}: {where} in run {row.run.dir.name} is not a reliability diagram "
                                f"({exc}); not drawn")
    return diagrams, problems


def reliability_section(runs: Sequence[Run]) -> ReliabilitySection | None:
    """The section of `runs`' reliability numbers; None when no run has any (the report is then as before)."""
    rows = _newest_rows(runs)
    if not rows:
        return None
    columns = tuple(c for c in COLUMNS if c.key == ACCURACY or any(c.key in r.entry.metrics for r in rows))
    diagrams, problems = _diagrams(rows)
    return ReliabilitySection(columns, tuple(rows), tuple(_breakdowns(rows)), tuple(diagrams), tuple(problems))
