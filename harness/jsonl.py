"""Reading JSONL inputs (replay files, construction inputs, preference pairs): every malformed line is an
error naming the file and the line, never a silent skip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from .errors import UsageError


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of `path`."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise UsageError(f"{path} line {lineno}: malformed JSON ({exc})") from None
            if not isinstance(row, dict):
                raise UsageError(f"{path} line {lineno}: expected a JSON object")
            yield lineno, row
