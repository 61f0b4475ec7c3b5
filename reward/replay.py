"""Replay recorded judge replies from a JSONL file, matched to sample ids."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from harness.adapters import Adapter
from harness.errors import UsageError
from harness.jsonl import read_jsonl
from harness.records import PreparedRequest, Reply
from harness.registry import model


@model("replay")
class ReplayAdapter(Adapter):
    """Replays recorded replies: path=JSONL of {"id" or "idx", "response"} matched to sample ids."""

    needs_media = False  # recorded text needs no pixels: media are never opened
    cacheable = False  # a dictionary lookup is cheaper than the cache

    def __init__(self, path: str, field: str = "response", name: str = ""):
        """path: the replies; field: the key holding each reply; name: the judge that wrote them (the
        model label in results and reports; default: the file's stem)."""
        self.label = name or Path(path).stem
        self.path = Path(path)
        if not self.path.is_file():
            raise UsageError(f"replay file {self.path} does not exist")
        raw = self.path.read_bytes()
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.replies: dict[str, str] = {}
        for lineno, row in read_jsonl(self.path):
            key = row.get("id", row.get("idx"))
            if key is None or field not in row:
                raise UsageError(f"{self.path} line {lineno}: needs an 'id' (or 'idx') and a {field!r} field")
            key = str(key)
            value = row[field]
            text = value if isinstance(value, str) or value is None else json.dumps(value)
            if key in self.replies and self.replies[key] != text:
                raise UsageError(f"{self.path} line {lineno}: id {key!r} appears twice with different replies")
            self.replies[key] = text

    def identity(self) -> dict[str, Any]:
        return {"model": self.label, "replay_sha256": self.sha256}

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        for prepared in requests:
            sample_id = prepared.request.sample_id
            if sample_id not in self.replies:
                yield Reply(prepared.key, error=f"no reply for id {sample_id!r} in {self.path.name}", attempts=0)
            else:
                yield Reply(prepared.key, text=self.replies[sample_id] or "", latency_s=0.0)
