"""The judgment cache: SQLite in WAL mode, so several runs (or a resumed run beside a live one) can read
and write it at once.

The key is the *full identity* of a call (see `cache_key`): adapter name, the adapter's identity (model
id, revision/weights fingerprint, switches), the resolved generation settings and the exact prompt with
its media content hashes. Keying on the prompt alone serves model A's answers as model B's (lm-eval
issues #2715, #4063). Failed calls are never stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Mapping

from .records import Reply, canonical_json, sha256_text


def default_cache_path() -> Path:
    root = os.environ.get("HARNESS_CACHE_DIR")
    if root:
        return Path(root) / "judgments.sqlite"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unified-reward-harness" / "judgments.sqlite"


def cache_key(adapter: str, identity: Mapping[str, Any], generation: Mapping[str, Any], prompt_hash: str) -> str:
    return sha256_text(canonical_json({"adapter": adapter, "identity": dict(identity),
                                       "generation": dict(generation), "prompt": prompt_hash}))


class JudgmentCache:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process kills in WAL mode (only an OS crash can drop the last commits).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    def get(self, key: str, request_key: str) -> Reply | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        v = json.loads(row[0])
        return Reply(key=request_key, text=v.get("text"), score=v.get("score"), usage=v.get("usage") or {},
                     cost_usd=v.get("cost_usd"), latency_s=0.0, attempts=0, cached=True)

    def put(self, key: str, reply: Reply) -> None:
        if not reply.ok:
            return
        value = json.dumps({"text": reply.text, "score": reply.score, "usage": dict(reply.usage),
                            "cost_usd": reply.cost_usd})
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies (key, value) VALUES (?, ?)", (key, value))
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
