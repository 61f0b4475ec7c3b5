"""A deterministic judge for tests, smoke runs and benchmarks of the harness itself."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from typing import Any, Callable

from harness.adapters import SequentialAdapter
from harness.records import Generation, PreparedRequest, Reply
from harness.registry import model


@model("scripted")
class ScriptedAdapter(SequentialAdapter):
    """Deterministic test judge: a fixed reply, or one of `replies` picked by a hash of the prompt."""

    def __init__(self, reply: str = "",
                 replies: str = "Overall Judgment: Answer 1 is better.|Overall Judgment: Answer 2 is better.",
                 model_id: str = "scripted-v1", fail_rate: float = 0.0, delay: float = 0.0,
                 needs_media: bool = True, fn: Callable[[PreparedRequest], str] | None = None,
                 temperature: float = 0.0):
        """reply: fixed text; replies: '|'-separated candidates chosen by prompt hash; model_id: stands
        for the model's identity (the cache key); fail_rate: share of prompts (by hash) that fail;
        delay: seconds per call; needs_media: read and check media like a real VLM; fn: Python-only
        hook computing the reply; temperature: the decoding it stands for (`--samples K` needs one above 0; with
        `replies`, each sample index then picks its own candidate)."""
        self.reply = reply
        self.candidates = replies.split("|")
        self.model_id = model_id
        self.fail_rate = fail_rate
        self.delay = delay
        self.needs_media = needs_media
        self.fn = fn
        self.temperature = temperature
        self.calls = 0

    def generation_for(self, requested: Generation) -> Generation:
        return replace(requested, temperature=self.temperature) if self.temperature else requested

    def identity(self) -> dict[str, Any]:
        ident: dict[str, Any] = {"model": self.model_id}
        if self.fn is not None:
            ident["fn"] = f"{self.fn.__module__}.{getattr(self.fn, '__qualname__', repr(self.fn))}"
        elif self.reply:
            ident["reply"] = self.reply
        else:
            ident["replies"] = self.candidates
        return ident

    def judge_one(self, request: PreparedRequest) -> Reply:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        seed = request.request.generation.seed if self.temperature else None  # a sampled judge varies by sample
        salt = "" if seed is None else f"\x00{seed}"
        digest = hashlib.sha256(f"{self.model_id}\x00{request.prompt_hash}{salt}".encode()).digest()
        if self.fail_rate and int.from_bytes(digest[4:8], "big") / 2**32 < self.fail_rate:
            return Reply(request.key, error="scripted failure (fail_rate)")
        if self.fn is not None:
            return Reply(request.key, text=self.fn(request))
        if self.reply:
            return Reply(request.key, text=self.reply)
        return Reply(request.key, text=self.candidates[digest[0] % len(self.candidates)])
