"""harness.jsonl: the lenient parser tasks use (bad lines become problems) and the strict reader."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.jsonl import JsonlRow, parse_jsonl, read_jsonl


def test_parse_jsonl_keeps_line_numbers_and_reports_each_bad_line():
    lines = ['{"id": 1}', "", "   ", "{broken", "[1, 2]", '{"id": 2}']
    parsed = list(parse_jsonl(lines, "data.jsonl"))
    assert [p.lineno for p in parsed] == [1, 4, 5, 6]  # blank lines skipped, numbering kept
    assert parsed[0] == JsonlRow(1, "data.jsonl line 1", {"id": 1}, None)
    assert parsed[1].row is None and parsed[1].problem.startswith("data.jsonl line 4: malformed JSON (")
    assert parsed[2] == JsonlRow(5, "data.jsonl line 5", None, "data.jsonl line 5: expected a JSON object")
    assert parsed[3].row == {"id": 2}


def test_read_jsonl_stops_at_the_first_bad_line_naming_file_and_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"a": 1}\n\n"just a string"\n{"a": 2}\n', encoding="utf-8")
    rows = read_jsonl(path)
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(UsageError, match=r"pairs\.jsonl line 3: expected a JSON object"):
        next(rows)
