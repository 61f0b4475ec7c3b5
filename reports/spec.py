"""Table specifications: one YAML file per paper table in `reports/tables/`, read by a strict loader.

The tables are data, not code, so that correcting a published number or adding a source is a one-line
edit that a reviewer can check against the paper. The loader is strict for the same reason: an unknown
key is almost always a typo (`sorces:`) that would otherwise silently drop a column's data, so it is
rejected with the file and the key named. Published numbers are kept as the strings the paper prints
("3.90", "37.0"), because a YAML float would lose the trailing zero and with it the number of decimals
the report uses for that column. The format is described in docs/reports.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from harness.errors import UsageError

TABLES_DIR = Path(__file__).resolve().parent / "tables"
NUMBER = re.compile(r"-?\d+(?:\.(\d+))?")


class SpecError(UsageError):
    """A table specification that cannot be used as written (names the file and the key)."""


@dataclass(frozen=True)
class Source:
    """One way of filling a column: the metric of a task run under a protocol (None: any protocol).
    `split` is the split the published numbers used: a run on another split still fills the cell, with
    a caveat. `note` is attached to every cell this source fills."""

    task: str
    protocol: str | None
    metric: str
    split: str | None = None
    note: str | None = None

    @property
    def name(self) -> str:
        return f"{self.task}/{self.protocol or '*'}/{self.metric}"


@dataclass(frozen=True)
class Column:
    id: str
    header: str
    sources: tuple[Source, ...]
    group: str | None = None
    decimals: int = 1

    @property
    def title(self) -> str:
        return f"{self.group} {self.header}" if self.group else self.header


@dataclass(frozen=True)
class Row:
    """A published row: its label as printed, the paper's numbers (column id -> printed string) and the
    patterns (case-insensitive `re.search`) on run model labels that put a run beside it."""

    label: str
    paper: Mapping[str, str]
    match: tuple[re.Pattern[str], ...] = ()

    def matches(self, model: str) -> bool:
        return any(p.search(model) for p in self.match)


@dataclass(frozen=True)
class Note:
    """A note on the whole table (no row, no column), a row, a column, or one cell (both)."""

    text: str
    row: str | None = None
    column: str | None = None


@dataclass(frozen=True)
class TableSpec:
    id: str
    title: str
    source: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    notes: tuple[Note, ...]
    path: Path

    @property
    def slug(self) -> str:
        """The chart file's suffix: table3, table9, genai-leaderboard."""
        return f"table{self.id}" if self.id.isdigit() else self.id


TABLE_KEYS = {"id", "title", "source", "caption", "columns", "rows", "notes"}
COLUMN_KEYS = {"id", "header", "group", "sources", "decimals"}
SOURCE_KEYS = {"task", "protocol", "metric", "split", "note"}
ROW_KEYS = {"label", "match", "paper"}
NOTE_KEYS = {"text", "row", "column"}


def _fail(path: Path, where: str, message: str) -> SpecError:
    return SpecError(f"{path}: {where}: {message}")


def _mapping(path: Path, where: str, value: Any, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, where, f"expected a mapping, got {type(value).__name__}")
    unknown = sorted(set(map(str, value)) - allowed)
    if unknown:
        raise _fail(path, where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    absent = sorted(required - set(value))
    if absent:
        raise _fail(path, where, f"missing key {absent[0]!r}")
    return value


def _text(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, "expected a non-empty string")
    return value.strip()


def _optional_text(path: Path, where: str, value: Any) -> str | None:
    return None if value is None else _text(path, where, value)


def _list(path: Path, where: str, value: Any) -> Sequence[Any]:
    if not isinstance(value, list) or not value:
        raise _fail(path, where, "expected a non-empty list")
    return value


def _source(path: Path, where: str, raw: Any) -> Source:
    data = _mapping(path, where, raw, SOURCE_KEYS, {"task", "metric"})
    return Source(task=_text(path, f"{where}.task", data["task"]),
                  protocol=_optional_text(path, f"{where}.protocol", data.get("protocol")),
                  metric=_text(path, f"{where}.metric", data["metric"]),
                  split=_optional_text(path, f"{where}.split", data.get("split")),
                  note=_optional_text(path, f"{where}.note", data.get("note")))


def _printed(path: Path, where: str, value: Any) -> str:
    """A published number exactly as printed; a bare YAML number is refused (it would lose its zeros)."""
    if not isinstance(value, str):
        raise _fail(path, where, f"quote published numbers ({value!r} -> \"{value}\") so they stay exactly "
                                 f"as printed")
    if not NUMBER.fullmatch(value.strip()):
        raise _fail(path, where, f"{value!r} is not a number as printed")
    return value.strip()


def _row(path: Path, where: str, raw: Any, columns: Mapping[str, Column]) -> Row:
    data = _mapping(path, where, raw, ROW_KEYS, {"label"})
    paper_raw = data.get("paper") or {}
    if not isinstance(paper_raw, dict):
        raise _fail(path, f"{where}.paper", "expected a mapping of column id -> printed number")
    paper: dict[str, str] = {}
    for key, value in paper_raw.items():
        if key not in columns:
            raise _fail(path, f"{where}.paper", f"unknown column {key!r} (columns: {', '.join(columns)})")
        paper[key] = _printed(path, f"{where}.paper.{key}", value)
    patterns = []
    for i, pattern in enumerate(data.get("match") or []):
        try:
            patterns.append(re.compile(_text(path, f"{where}.match[{i}]", pattern), re.IGNORECASE))
        except re.error as exc:
            raise _fail(path, f"{where}.match[{i}]", f"bad regular expression ({exc})") from None
    return Row(label=_text(path, f"{where}.label", data["label"]), paper=paper, match=tuple(patterns))


def _decimals(printed: Sequence[str]) -> int:
    """The most decimals any published number of the column shows (1 when it has none)."""
    places = [len(m.group(1) or "") for m in (NUMBER.fullmatch(p) for p in printed) if m]
    return max(places, default=1)


def _columns(path: Path, raw: Any) -> list[tuple[Column, Any]]:
    columns: list[tuple[Column, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(path, "columns", raw)):
        where = f"columns[{i}]"
        data = _mapping(path, where, item, COLUMN_KEYS, {"id", "header", "sources"})
        cid = _text(path, f"{where}.id", data["id"])
        if cid in seen:
            raise _fail(path, f"{where}.id", f"column id {cid!r} appears twice")
        seen.add(cid)
        sources = tuple(_source(path, f"{where}.sources[{j}]", s)
                        for j, s in enumerate(_list(path, f"{where}.sources", data["sources"])))
        decimals = data.get("decimals")
        if decimals is not None and (not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0):
            raise _fail(path, f"{where}.decimals", "expected a non-negative integer")
        columns.append((Column(id=cid, header=_text(path, f"{where}.header", data["header"]), sources=sources,
                               group=_optional_text(path, f"{where}.group", data.get("group"))), decimals))
    return columns


def _notes(path: Path, raw: Any, rows: Sequence[Row], columns: Mapping[str, Column]) -> tuple[Note, ...]:
    labels = {r.label for r in rows}
    notes = []
    for i, item in enumerate(raw or []):
        where = f"notes[{i}]"
        data = _mapping(path, where, item, NOTE_KEYS, {"text"})
        note = Note(text=_text(path, f"{where}.text", data["text"]),
                    row=_optional_text(path, f"{where}.row", data.get("row")),
                    column=_optional_text(path, f"{where}.column", data.get("column")))
        if note.row is not None and note.row not in labels:
            raise _fail(path, f"{where}.row", f"no row labelled {note.row!r}")
        if note.column is not None and note.column not in columns:
            raise _fail(path, f"{where}.column", f"no column {note.column!r}")
        notes.append(note)
    return tuple(notes)


def parse_spec(raw: Any, path: Path) -> TableSpec:
    data = _mapping(path, "top level", raw, TABLE_KEYS, {"id", "title", "source", "columns", "rows"})
    raw_columns = _columns(path, data["columns"])
    provisional = {c.id: c for c, _ in raw_columns}
    rows = tuple(_row(path, f"rows[{i}]", r, provisional) for i, r in enumerate(_list(path, "rows", data["rows"])))
    labels = [r.label for r in rows]
    if len(set(labels)) != len(labels):
        twice = next(label for label in labels if labels.count(label) > 1)
        raise _fail(path, "rows", f"row label {twice!r} appears twice")
    columns = tuple(Column(id=c.id, header=c.header, sources=c.sources, group=c.group,
                           decimals=d if d is not None else _decimals([r.paper[c.id] for r in rows if c.id in r.paper]))
                    for c, d in raw_columns)
    table_id = data["id"]
    return TableSpec(id=_text(path, "id", str(table_id) if isinstance(table_id, int) else table_id),
                     title=_text(path, "title", data["title"]), source=_text(path, "source", data["source"]),
                     caption=_optional_text(path, "caption", data.get("caption")) or "",
                     columns=columns, rows=rows, notes=_notes(path, data.get("notes"), rows, provisional), path=path)


def load_spec(path: Path) -> TableSpec:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read ({exc})") from None
    return parse_spec(raw, path)


ORDER = ("3", "4", "5", "6", "7", "8", "9", "genai-leaderboard")  # then the later benchmarks, by id


def load_specs(directory: Path = TABLES_DIR) -> dict[str, TableSpec]:
    """Every spec in `directory`, keyed by id, paper tables first (3..9, then the others by id)."""
    specs: dict[str, TableSpec] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        spec = load_spec(path)
        if spec.id in specs:
            raise SpecError(f"{path}: id {spec.id!r} is also used by {specs[spec.id].path}")
        specs[spec.id] = spec
    rank = {table_id: i for i, table_id in enumerate(ORDER)}
    return dict(sorted(specs.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def select(specs: Mapping[str, TableSpec], table: str) -> list[TableSpec]:
    """The specs `--table` names ("all" or one id)."""
    if table == "all":
        return list(specs.values())
    if table not in specs:
        raise UsageError(f"unknown table {table!r}; known: {', '.join(specs)} or all")
    return [specs[table]]
