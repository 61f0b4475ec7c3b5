"""From table specs and finished runs to table views: which of our numbers goes in which cell.

Everything a reader must be told is decided here, once, so every output format says the same thing:
- a cell's number comes from the newest run of that (model, task, protocol) (`newest_per_cell`);
- a cell that several sources could fill for the same model (e.g. runs under two protocols) is a
  conflict: the first source in the spec's preference order is shown, marked, and every candidate is
  listed under Problems, because picking silently would hide that the numbers disagree in meaning;
- a cell with no run is "missing" and the Missing section says which run would fill it;
- caveats that change what a number means (another split than the paper's, `--limit`, failed samples)
  follow the number.
The renderers only lay these views out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from harness.run_record import TaskRecord

from .runs import Run, newest_per_cell
from .spec import Column, Row, Source, TableSpec

if TYPE_CHECKING:
    from .reliability_table import ReliabilitySection


@dataclass(frozen=True)
class Value:
    """One of our numbers for a cell, with where it came from."""

    value: float
    ci: tuple[float, float] | None
    source: Source
    protocol: str
    run: Run
    caveats: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        return f"{self.source.task}/{self.protocol}/{self.source.metric}"


@dataclass(frozen=True)
class Cell:
    column: Column
    paper: str | None
    ours: Value | None
    alternatives: tuple[Value, ...] = ()
    notes: tuple[int, ...] = ()  # footnotes on the paper number (cell notes)
    ours_notes: tuple[int, ...] = ()  # footnotes on our number (the source's note)

    @property
    def conflict(self) -> bool:
        return bool(self.alternatives)

    @property
    def missing(self) -> bool:
        return self.ours is None

    @property
    def delta(self) -> float | None:
        """ours - paper in points, with ours rounded as printed so the three printed numbers add up."""
        if self.ours is None or self.paper is None:
            return None
        return round(self.ours.value, self.column.decimals) - float(self.paper)


@dataclass(frozen=True)
class ViewRow:
    """A published row (label set, `model` the run beside it or None) or a row of ours only (label "")."""

    label: str
    model: str | None
    cells: tuple[Cell, ...]
    notes: tuple[int, ...] = ()

    @property
    def published(self) -> bool:
        return bool(self.label)

    @property
    def name(self) -> str:
        return self.label + (f" ({self.model})" if self.model and self.label else self.model or "")


@dataclass(frozen=True)
class Missing:
    """The cells of one column that no run fills, and the runs that would fill them."""

    column: Column
    rows: tuple[str, ...]
    fills: tuple[tuple[str, str], ...]  # (harness run command, metric) per source, in preference order


@dataclass(frozen=True)
class TableView:
    spec: TableSpec
    rows: tuple[ViewRow, ...]
    column_notes: Mapping[str, tuple[int, ...]]
    table_notes: tuple[int, ...]
    footnotes: tuple[str, ...]  # footnote n is footnotes[n - 1]
    missing: tuple[Missing, ...]
    problems: tuple[str, ...]

    @property
    def has_ours(self) -> bool:
        return any(c.ours is not None for r in self.rows for c in r.cells)

    @property
    def runs(self) -> list[Run]:
        """The runs whose numbers appear in this table (ours or conflicting alternatives)."""
        seen: dict[str, Run] = {}
        for row in self.rows:
            for cell in row.cells:
                for value in ([cell.ours] if cell.ours else []) + list(cell.alternatives):
                    seen.setdefault(str(value.run.dir), value.run)
        return list(seen.values())


@dataclass(frozen=True)
class Report:
    tables: tuple[TableView, ...]
    read_problems: tuple[str, ...]
    runs: tuple[Run, ...] = field(default=())
    #: the judge reliability section of `runs` (`reports.reliability_table`); None when no run measures any
    reliability: "ReliabilitySection | None" = None

    def runs_shown(self) -> list[Run]:
        """The runs whose numbers the report shows, in the tables' order, then those only in the reliability
        section."""
        used = {str(r.dir): r for view in self.tables for r in view.runs}
        for row in self.reliability.rows if self.reliability is not None else ():
            used.setdefault(str(row.run.dir), row.run)
        return list(used.values())


def run_command(source: Source) -> str:
    """The command that produces a source's metric (the model is left to the user): `harness run`, or
    `harness lmms-eval` for the benchmarks that run through lmms-eval under a mapped name."""
    from harness.lmms.names import LIVEBENCH, MAPPINGS

    lmms_task = next((name for name, m in MAPPINGS.items() if m.task == source.task), None)
    if lmms_task is None and source.task == LIVEBENCH.task:
        lmms_task = "live_bench_YYMM"
    if lmms_task is not None:
        return f"harness lmms-eval --tasks {lmms_task} --lmms-python ... --model ..."
    parts = [f"harness run --tasks {source.task}"]
    if source.protocol:
        parts.append(f"--protocol {source.protocol}")
    if source.split:
        parts.append(f"--split {source.split}")
    return " ".join(parts) + " --model ..."


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _ci(result: TaskRecord, metric: str) -> tuple[float, float] | None:
    pair = result.ci95.get(metric)
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        lo, hi = _number(pair[0]), _number(pair[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def _caveats(source: Source, run: Run, result: TaskRecord) -> tuple[str, ...]:
    """What changes the meaning of a number against the paper's."""
    found = []
    split = result.split
    if source.split and split and split != source.split:
        found.append(f"run on split {split}, the published numbers use split {source.split}")
    limit = run.record.limit
    if limit is not None:
        found.append(f"run with --limit {limit}: a subset of the benchmark")
    errors = result.n_error
    if errors:
        found.append(f"{errors} samples failed and are excluded from the metric")
    n, invalid = result.n, result.n_invalid
    from_records = not result.details.get("lmms_task")  # lmms-eval's own aggregates are not
    if from_records and n and invalid == n - errors and invalid:
        found.append(f"every judged reply ({invalid}) was invalid: no verdict could be read, so the number measures "
                     f"the parser, not the judge")
    return tuple(found)


class _Index:
    """Our results by (model, task): the newest run of each protocol."""

    def __init__(self, runs: Sequence[Run]):
        self.by_model_task: dict[tuple[str, str], list[tuple[str, Run, TaskRecord]]] = {}
        for (model, task, protocol), (run, result) in sorted(newest_per_cell(runs).items()):
            self.by_model_task.setdefault((model, task), []).append((protocol, run, result))
        self.models = sorted({model for model, _ in self.by_model_task})
        self.null_metrics: list[str] = []

    def candidates(self, model: str, column: Column) -> list[Value]:
        """Every value that could fill `column` for `model`, in the spec's preference order."""
        found: list[Value] = []
        seen: set[tuple[str, str, str]] = set()
        for source in column.sources:
            for protocol, run, result in self.by_model_task.get((model, source.task), []):
                key = (source.task, protocol, source.metric)
                if (source.protocol is not None and protocol != source.protocol) or key in seen:
                    continue
                seen.add(key)
                metrics = result.metrics
                if source.metric not in metrics:
                    continue
                value = _number(metrics[source.metric])
                if value is None:
                    self.null_metrics.append(f"{model}: {source.task} [{protocol}] {source.metric} is null in run "
                                             f"{run.dir.name} (no counted sample); the cell stays empty")
                    continue
                found.append(Value(value, _ci(result, source.metric), source, protocol, run,
                                   _caveats(source, run, result)))
        return found


class _Footnotes:
    """Numbered footnotes of one table; the same text gets the same number."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, texts: Iterable[str | None]) -> tuple[int, ...]:
        numbers = []
        for text in texts:
            if not text:
                continue
            if text not in self.texts:
                self.texts.append(text)
            numbers.append(self.texts.index(text) + 1)
        return tuple(dict.fromkeys(numbers))


def _cell(spec: TableSpec, row: Row | None, column: Column, values: list[Value], notes: _Footnotes) -> Cell:
    paper = row.paper.get(column.id) if row else None
    cell_notes = notes.add(n.text for n in spec.notes if row and n.row == row.label and n.column == column.id)
    ours = values[0] if values else None
    return Cell(column, paper, ours, tuple(values[1:]), cell_notes,
                notes.add([ours.source.note]) if ours else ())


def _problems_for(view_rows: Sequence[ViewRow]) -> list[str]:
    problems: list[str] = []
    for row in view_rows:
        for cell in row.cells:
            if cell.conflict:
                assert cell.ours is not None
                options = "; ".join(f"{v.origin} = {v.value:.2f} (run {v.run.dir.name})"
                                    for v in (cell.ours, *cell.alternatives))
                problems.append(f"CONFLICT {row.name or row.model} / {cell.column.title}: {len(cell.alternatives) + 1} "
                                f"runs fill this cell: {options}. Shown: the first, by the spec's preference "
                                f"order; keep one protocol per model in --runs to resolve it")
    caveats: dict[tuple[str, str, str], list[str]] = {}
    for row in view_rows:
        for cell in row.cells:
            for caveat in cell.ours.caveats if cell.ours else ():
                key = (str(row.model), f"{cell.ours.source.task} [{cell.ours.protocol}] in run "
                                       f"{cell.ours.run.dir.name}", caveat)
                caveats.setdefault(key, []).append(cell.column.title)
    for (model, where, caveat), columns in caveats.items():
        problems.append(f"CAVEAT {model}: {where}: {caveat} (cells: {', '.join(columns)})")
    return problems


def _missing(spec: TableSpec, view_rows: Sequence[ViewRow]) -> tuple[Missing, ...]:
    """Per column, the rows without our number that could have one: a published number to compare
    with, or a row of ours only."""
    out = []
    for i, column in enumerate(spec.columns):
        rows = tuple(row.name for row in view_rows
                     if row.cells[i].ours is None and (row.cells[i].paper is not None or not row.published))
        if rows:
            out.append(Missing(column, rows, tuple((run_command(s), s.metric) for s in column.sources)))
    return tuple(out)


def build_table(spec: TableSpec, runs: Sequence[Run]) -> TableView:
    index = _Index(runs)
    notes = _Footnotes()
    table_notes = notes.add(n.text for n in spec.notes if n.row is None and n.column is None)
    column_notes = {c.id: notes.add(n.text for n in spec.notes if n.column == c.id and n.row is None)
                    for c in spec.columns}
    values = {(m, c.id): index.candidates(m, c) for m in index.models for c in spec.columns}
    present = [m for m in index.models if any(values[(m, c.id)] for c in spec.columns)]
    homes = {m: [r for r in spec.rows if r.matches(m)] for m in present}

    view_rows: list[ViewRow] = []
    for row in spec.rows:
        row_notes = notes.add(n.text for n in spec.notes if n.row == row.label and n.column is None)
        models = [m for m in present if row in homes[m]] or [None]
        for model in models:
            cells = tuple(_cell(spec, row, c, values[(model, c.id)] if model else [], notes) for c in spec.columns)
            view_rows.append(ViewRow(row.label, model, cells, row_notes))
    for model in present:
        if not homes[model]:
            view_rows.append(ViewRow("", model, tuple(_cell(spec, None, c, values[(model, c.id)], notes)
                                                      for c in spec.columns)))

    problems = [f"{m} matches {len(homes[m])} published rows ({', '.join(r.label for r in homes[m])}) and is "
                f"shown beside each; make the rows' `match` patterns more specific" for m in present
                if len(homes[m]) > 1]
    problems += _problems_for(view_rows) + sorted(set(index.null_metrics))
    return TableView(spec, tuple(view_rows), column_notes, table_notes, tuple(notes.texts),
                     _missing(spec, view_rows), tuple(problems))


def build_report(specs: Sequence[TableSpec], runs: Sequence[Run], read_problems: Sequence[str]) -> Report:
    from .reliability_table import reliability_section  # it reads numbers as the tables do (_number, _ci)

    return Report(tuple(build_table(s, runs) for s in specs), tuple(read_problems), tuple(runs),
                  reliability_section(runs))
