"""The judgment cache: SQLite in WAL mode, so several runs (or a resumed run beside a live one) can read
and write it at once.

The key is the *full identity* of a call (see `cache_key`): adapter name, the adapter's identity (model
id, revision/weights fingerprint, switches), the resolved generation settings and the exact prompt with
its media content hashes. Keying on the prompt alone serves model A's answers as model B's (lm-eval
issues #2715, #4063). Failed calls are never stored.

Writes are batched: `put` holds new entries in memory and writes them in one transaction when
`batch_size` entries are waiting or `max_delay_s` has passed since the last write, on `flush()` and on
`close()`. One commit per sample cost more than the scripted judge itself; a batch costs one commit.
A transaction is all or nothing, so a process killed mid-batch loses only the entries not yet committed
(they are judged again next time) and never leaves a partial entry. The buffer is written in one short
transaction rather than by keeping a transaction open across puts, so another process's writes wait
for a flush, never for a slow judge. `get` reads the buffer first: this process sees what it wrote.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from .records import Reply, canonical_json, sha256_text

#: Entries written per transaction, and the longest a finished judgment waits in memory (a slow judge
#: therefore still commits about every answer, a fast one every `BATCH_SIZE`).
BATCH_SIZE = 2048  # 512 -> 2048: a cold 100k run spent 2.7 s in 197 commits (checkpoint fsyncs)
MAX_DELAY_S = 1.0


def default_cache_path() -> Path:
    root = os.environ.get("HARNESS_CACHE_DIR")
    if root:
        return Path(root) / "judgments.sqlite"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unified-reward-harness" / "judgments.sqlite"


def cache_key(adapter: str, identity: Mapping[str, Any], generation: Mapping[str, Any], prompt_hash: str) -> str:
    return sha256_text(canonical_json({"adapter": adapter, "identity": dict(identity),
                                       "generation": dict(generation), "prompt": prompt_hash}))


def cache_key_prefix(adapter: str, identity: Mapping[str, Any], generation: Mapping[str, Any]) -> str:
    """What `cache_key` hashes before the prompt: "prompt" sorts last among the four keys, so the canonical
    JSON is this prefix, then the prompt hash and '"}' (`key_with_prompt`): the same keys, the
    identity and settings encoded once per run instead of once per request."""
    head = canonical_json({"adapter": adapter, "identity": dict(identity), "generation": dict(generation)})
    return head[:-1] + ',"prompt":"'


def key_with_prompt(prefix: str, prompt_hash: str) -> str:
    """`cache_key(...)` from its `cache_key_prefix` (a prompt hash is hex: nothing in it needs escaping)."""
    return sha256_text(prefix + prompt_hash + '"}')


class JudgmentCache:
    def __init__(self, path: Path | None = None, *, batch_size: int = BATCH_SIZE,
                 max_delay_s: float = MAX_DELAY_S):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self.max_delay_s = max_delay_s
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}  # key -> value JSON, not yet committed
        self._last_flush = time.monotonic()
        self._closed = False
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process kills in WAL mode (only an OS crash can drop the last commits).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    @property
    def pending(self) -> int:
        """Entries put but not yet committed (lost, and so re-judged, if the process is killed now)."""
        return len(self._pending)

    def get(self, key: str, request_key: str) -> Reply | None:
        with self._lock:
            value = self._pending.get(key)
            if value is None:
                row = self._db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
                value = row[0] if row is not None else None
        return None if value is None else _reply(value, request_key)

    def get_many(self, keys: Sequence[str]) -> dict[str, Reply]:
        """The cached replies of `keys` (key -> reply, `Reply.key` left empty: the caller names it), in one
        query: a warm 100k run costs a query per window of requests, not per request."""
        found: dict[str, str] = {}
        with self._lock:
            rest = []
            for key in keys:
                value = self._pending.get(key)
                if value is None:
                    rest.append(key)
                else:
                    found[key] = value
            for start in range(0, len(rest), 500):  # well under SQLite's bound on a statement's parameters
                chunk = rest[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(f"SELECT key, value FROM replies WHERE key IN ({marks})", chunk))
        return {key: _reply(value, "") for key, value in found.items()}

    def put(self, key: str, reply: Reply) -> None:
        if not reply.ok:
            return
        value = json.dumps({"text": reply.text, "score": reply.score, "usage": dict(reply.usage),
                            "cost_usd": reply.cost_usd})
        with self._lock:
            self._pending[key] = value
            if len(self._pending) >= self.batch_size or time.monotonic() - self._last_flush >= self.max_delay_s:
                self._flush_locked()

    def flush(self) -> None:
        """Commit every pending entry now (the end of a batch of judgments, or before handing off)."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        # `with connection` commits the whole batch or rolls it back; on an error the entries stay pending.
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO replies (key, value) VALUES (?, ?)",
                                 self._pending.items())
        self._pending.clear()

    def close(self) -> None:
        """Flush, then close; closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            try:
                self._flush_locked()
            finally:
                self._closed = True
                self._db.close()


def _reply(value: str, request_key: str) -> Reply:
    v = json.loads(value)
    return Reply(key=request_key, text=v.get("text"), score=v.get("score"), usage=v.get("usage") or {},
                 cost_usd=v.get("cost_usd"), latency_s=0.0, attempts=0, cached=True)
