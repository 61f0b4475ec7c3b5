"""Text policies for preference construction: a local VLM (`hf`), an OpenAI-compatible endpoint
(`openai`), and a deterministic `scripted` policy for tests.

`hf` and `openai` reuse the judge adapters' machinery (batching, concurrency, retries, media loading)
with sampling settings: candidate j of an input is generated at `temperature` (0.7, as the released
construction scripts) with seed `seed + j`, so a construction is reproducible where the backend honours
seeds (transformers does; OpenAI-compatible servers may only approximately).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from harness.adapters import Adapter
from harness.judging import JudgeClient
from harness.records import Generation, MediaRef, Request

from .policies import Candidate, MediaStore, Policy, PolicyInput, policy


class AdapterPolicy(Policy):
    """N sampled answers per input from a judge adapter used as a generator."""

    kind = "text"
    adapter: Adapter

    def __init__(self, temperature: float = 0.7, max_new_tokens: int = 1024, frames: int = 8, root: str = ".",
                 **args: Any):
        super().__init__(temperature=temperature, max_new_tokens=max_new_tokens, frames=frames, root=root, **args)
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.frames = frames
        self.root = Path(root)
        self.errors: dict[str, str] = {}

    def identity(self) -> dict[str, Any]:
        return {"policy": self.name, **self.adapter.identity(), "temperature": self.temperature,
                "max_new_tokens": self.max_new_tokens}

    def _media(self, item: PolicyInput) -> tuple[MediaRef, ...]:
        if item.video:
            return (MediaRef("video", item.video, path=self.root / item.video, frames=self.frames,
                             sampling="linspace"),)
        return tuple(MediaRef("image", p, path=self.root / p) for p in item.images)

    def candidates(self, items: Sequence[PolicyInput], n: int, seed: int, store: MediaStore
                   ) -> list[list[Candidate]]:
        requests = [Request(f"{item.id}::cand{j}", item.id, (*self._media(item), item.prompt),
                            Generation(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                                       seed=seed + j))
                    for j in range(n) for item in items]  # grouped by seed: one batch per candidate index
        texts: dict[str, str] = {}
        for exchange in JudgeClient(self.adapter, cache=None).judge(requests):
            if exchange.reply.ok:
                texts[exchange.request.key] = exchange.reply.text or ""
            else:
                self.errors[exchange.request.sample_id] = exchange.reply.error or "generation failed"
        out = []
        for item in items:
            keys = [f"{item.id}::cand{j}" for j in range(n)]
            out.append([Candidate(j, text=texts[k], seed=seed + j) for j, k in enumerate(keys)]
                       if all(k in texts for k in keys) else [])
        return out

    def close(self) -> None:
        self.adapter.close()


@policy("hf")
class HFPolicy(AdapterPolicy):
    """A local transformers VLM sampling N answers: pretrained=DIR_OR_ID, batch_size=, temperature=0.7."""

    def __init__(self, pretrained: str, batch_size: int = 8, device: str | None = None, dtype: str = "auto",
                 temperature: float = 0.7, max_new_tokens: int = 1024, frames: int = 8, root: str = "."):
        from reward.hf import HFAdapter

        super().__init__(temperature=temperature, max_new_tokens=max_new_tokens, frames=frames, root=root,
                         pretrained=pretrained, batch_size=batch_size, device=device, dtype=dtype)
        self.adapter = HFAdapter(pretrained, batch_size=batch_size, device=device, dtype=dtype)


@policy("openai")
class OpenAIPolicy(AdapterPolicy):
    """An OpenAI-compatible endpoint sampling N answers: base_url=, model=, concurrency=, temperature=0.7."""

    def __init__(self, base_url: str, model: str = "", concurrency: int = 16, temperature: float = 0.7,
                 max_new_tokens: int = 1024, frames: int = 8, root: str = "."):
        from reward.openai_api import OpenAIAdapter

        super().__init__(temperature=temperature, max_new_tokens=max_new_tokens, frames=frames, root=root,
                         base_url=base_url, model=model, concurrency=concurrency)
        self.adapter = OpenAIAdapter(base_url=base_url, model=model, concurrency=concurrency)


@policy("scripted")
class ScriptedPolicy(Policy):
    """Deterministic text candidates for tests: "<prefix> j for <id>" (fail_ids: items that fail)."""

    kind = "text"

    def __init__(self, prefix: str = "candidate", fail_ids: str = ""):
        super().__init__(prefix=prefix, fail_ids=fail_ids)
        self.prefix = prefix
        self.fail_ids = set(filter(None, fail_ids.split("|")))
        self.errors: dict[str, str] = {}

    def identity(self) -> dict[str, Any]:
        return {"policy": "scripted", "prefix": self.prefix}

    def candidates(self, items: Sequence[PolicyInput], n: int, seed: int, store: MediaStore
                   ) -> list[list[Candidate]]:
        out = []
        for item in items:
            if item.id in self.fail_ids:
                self.errors[item.id] = "scripted generation failure"
                out.append([])
                continue
            out.append([Candidate(j, text=f"{self.prefix} {j} for {item.id}", seed=seed + j) for j in range(n)])
        return out
