"""Reading JSONL inputs (replay files, construction inputs, preference pairs): every malformed line is an
error naming the file and the line, never a silent skip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

from .errors import UsageError


class JsonlRow(NamedTuple):
    lineno: int
    where: str  # "<name> line <n>", the prefix of every message about this row
    row: dict[str, Any] | None  # None when the line is not a JSON object
    problem: str | None  # why `row` is None


def parse_jsonl(lines: Iterable[str], name: str) -> Iterator[JsonlRow]:
    """Every non-blank line, parsed. A line that is not a JSON object comes back with a problem instead of
    raising, so a task can count it as a bad sample and go on (`--strict` makes it fatal downstream)."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name} line {lineno}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            yield JsonlRow(lineno, where, None, f"{where}: malformed JSON ({exc})")
            continue
        if isinstance(row, dict):
            yield JsonlRow(lineno, where, row, None)
        else:
            yield JsonlRow(lineno, where, None, f"{where}: expected a JSON object")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of `path`; the first bad line is an error."""
    with open(path, encoding="utf-8") as f:
        for parsed in parse_jsonl(f, str(path)):
            if parsed.row is None:
                raise UsageError(parsed.problem)
            yield parsed.lineno, parsed.row
