"""Judges behind any OpenAI-compatible chat endpoint: vLLM, SGLang, OpenAI, Gemini gateways.

Core dependency only (aiohttp, no torch). This module is the provider half (the request body, the
reading of a completion, start-up checks); `harness.http_client.EndpointClient`, shared with the `scores`
service client, does the calling: requests run on an asyncio loop in a background thread with at most
`concurrency` in flight, and the runner keeps feeding requests and receives replies as they complete, so
media decoding, the network and the judge all overlap. The prompt becomes chat messages, and
`max_new_tokens=` caps it, in `harness.chat`, as for the local `hf` judge.

Arguments (`--model-args`):
- `base_url`: one endpoint, or several separated by `|` (data-parallel replicas), used round-robin; a
  retry goes to the next replica.
- `model`: the served model name (default: the first entry of `GET /models`).
- `concurrency` (16), `timeout` seconds per attempt (120), `max_retries` (5).
- `max_new_tokens`: a cap on the protocol's generation length (part of the cache identity).
- `temperature`: decode at this temperature instead of the protocol's (greedy); with `--samples K` each of an
  item's K requests carries its sample index as `seed` (part of the cache identity).
- `api_key_env`: the environment variable holding the key (default OPENAI_API_KEY). The key is read
  from the environment only; there is no argument for it, so it never reaches run.json, results.json
  or the logs.
- `revision`: what the cache should know about the served weights when the model name alone does not
  identify them (a server's name such as "default" says nothing about its checkpoint).
- `sglang_multi_image`: mark every image part `"modalities": "multi-images"` (SGLang's multi-image
  mode); `media_first`: send all images before the text (default: the prompt's own order, which puts
  the image first for every UnifiedReward prompt and after the text for VL-RewardBench `official`,
  as each reference script sends it).
- `price_in`, `price_out`: USD per million tokens, overriding the built-in table for cost records.
- `family`: the judge family (`reward.families`, e.g. `qwen`, `unifiedreward-think/answer`) when the served name
  does not say it (a name such as CodeGoat24/UnifiedReward-2.0-qwen-7b does); results.json records it.

Faults: 408/409/425/429/5xx, timeouts, connection errors, malformed JSON and empty content are
retried with exponential backoff and full jitter (`backoff` · 2^attempt · U[0.5, 1.5], capped at
`max_backoff`), honouring `Retry-After` (seconds or an HTTP date, capped at `max_retry_after`). Other
4xx fail at once. After the last attempt the sample's record gets the error; a resumed run retries it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any, Iterable, Iterator

from harness.adapters import check_family
from harness.chat import ChatJudge, chat_messages, check_temperature
from harness.errors import UsageError
from harness.http_client import Answer, EndpointClient, RetryableError, RetryPolicy, check_limits, get_json
from harness.http_client import retry_after_seconds as _retry_after  # noqa: F401 - the name callers imported
from harness.records import PreparedRequest, Reply
from harness.registry import model

from .families import detect

# USD per million tokens (input, output): providers' list prices when this table was written
# (2024-2025). Prices change; pass price_in/price_out to override, and treat recorded costs as estimates.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-2024-11-20": (2.50, 10.00),
    "gpt-4o-2024-08-06": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o-mini-2024-07-18": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4-0613": (30.00, 60.00),
    "gpt-3.5-turbo-1106": (1.00, 2.00),
    "gpt-3.5-turbo-0125": (0.50, 1.50),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-1.5-flash": (0.075, 0.30),
}


@model("openai")
class OpenAIAdapter(ChatJudge):
    """OpenAI-compatible endpoint(s): base_url=URL[|URL...], model=NAME, concurrency=N; key from $OPENAI_API_KEY."""

    resolved_args = ("model",)  # an empty model= is recorded as the model the endpoint serves

    def __init__(self, base_url: str = "https://api.openai.com/v1", model: str = "", concurrency: int = 16,
                 timeout: float = 120.0, max_retries: int = 5, max_new_tokens: int | None = None,
                 api_key_env: str = "OPENAI_API_KEY", revision: str = "", sglang_multi_image: bool = False,
                 media_first: bool = False, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 120.0, price_in: float | None = None, price_out: float | None = None,
                 check: bool = True, family: str | None = None, temperature: float | None = None):
        self.temperature = check_temperature("openai", temperature)
        self._family = check_family("openai", family)
        self.base_urls = [u.strip().rstrip("/") for u in base_url.replace(",", "|").split("|") if u.strip()]
        if not self.base_urls:
            raise UsageError("openai: base_url is empty")
        check_limits("openai", concurrency, max_retries, timeout)
        self.timeout = timeout
        self.max_new_tokens = max_new_tokens
        self.revision = revision or None
        self.sglang_multi_image = sglang_multi_image
        self.media_first = media_first
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env) or None
        self.model = model or (self._served_model() if check else "")
        if check and model:
            self._check_reachable()
        if not self.model:
            raise UsageError("openai: model= is required (the endpoint does not list its models)")
        # A served name such as CodeGoat24/UnifiedReward-2.0-qwen-7b names its family; "UnifiedReward" (the
        # authors' --served-model-name) does not, and then only family= tells.
        self.detection = detect(self.model, None, family=self._family)
        listed = PRICES.get(self.model)
        self.prices = (price_in, price_out) if price_in is not None and price_out is not None else listed
        self.endpoint = EndpointClient(self, self.base_urls, path="/chat/completions", concurrency=concurrency,
                                       timeout=timeout, retry=RetryPolicy(max_retries, backoff, max_backoff,
                                                                          max_retry_after),
                                       headers=self._auth(), thread_name="openai-adapter", who="openai")

    # ---- start-up checks (before any work) ---------------------------------------------------
    def _get_models(self, url: str) -> dict | None:
        status, listing = get_json(url, "/models", who="openai", server="server", timeout=min(self.timeout, 15),
                                   headers=self._auth())
        if status in (401, 403):
            raise UsageError(f"openai: {url} refused the credentials (HTTP {status}); "
                             f"set the key in ${self.api_key_env}")
        return listing if status == 200 and isinstance(listing, dict) else None  # some gateways have no /models

    def _check_reachable(self) -> None:
        for url in self.base_urls:
            self._get_models(url)

    def _served_model(self) -> str:
        names = []
        for url in self.base_urls:
            listing = self._get_models(url)
            data = (listing or {}).get("data") or []
            names.append(str(data[0]["id"]) if data and isinstance(data[0], dict) and "id" in data[0] else "")
        if names and all(n == names[0] for n in names):
            return names[0]
        raise UsageError(f"openai: replicas serve different models {names}; pass model=")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    # ---- identity and settings ---------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {"model": self.model, "revision": self.revision, "sglang_multi_image": self.sglang_multi_image,
                "media_first": self.media_first}

    def family(self) -> str | None:
        """The judge family (`reward.families`) from `family=`, else from the served model's name; None when neither
        says (a server named "UnifiedReward"): then no family protocol or template applies."""
        return self.detection.family

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.detection.record()}

    def body(self, prepared: PreparedRequest) -> dict[str, Any]:
        """The chat-completions request body: one user message, text and base64 images as parts."""
        image_fields = {"modalities": "multi-images"} if self.sglang_multi_image else None
        gen = self.generation_for(prepared.request.generation)
        messages = chat_messages(prepared, self.media_first, image_fields)
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": gen.max_new_tokens,
                                "temperature": gen.temperature}
        if gen.top_p is not None:
            body["top_p"] = gen.top_p
        if gen.seed is not None:
            body["seed"] = gen.seed
        return body

    def inspect(self, prepared: PreparedRequest) -> dict[str, Any]:
        """The request body, each image's data URL shortened to its type, size and hash."""
        body = self.body(prepared)
        for message in body["messages"]:
            for item in message["content"]:
                if item["type"] == "image_url":
                    header, data = item["image_url"]["url"].split(",", 1)
                    raw = base64.b64decode(data)
                    digest = hashlib.sha256(raw).hexdigest()[:16]
                    item["image_url"]["url"] = f"{header},<{len(raw)} bytes, sha256 {digest}>"
        return {"body": body}

    # ---- the endpoint's provider half (harness.http_client) ------------------------------------
    def payload(self, prepared: PreparedRequest) -> str:
        return json.dumps(self.body(prepared))

    def answer(self, raw: bytes, where: str) -> Answer:
        """The reply text and token usage of a chat completion; malformed or empty content is retried."""
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise RetryableError(f"malformed response from {where}: {raw[:120]!r}") from None
        if not isinstance(text, str) or not text.strip():
            raise RetryableError(f"empty content from {where}")
        usage = data.get("usage") or {}
        counts = {k: int(usage[k]) for k in ("prompt_tokens", "completion_tokens") if isinstance(usage.get(k), int)}
        return Answer(text=text, usage=counts, cost_usd=self._cost(counts))

    def _cost(self, usage: dict[str, int]) -> float | None:
        if self.prices is None or not usage:
            return None
        price_in, price_out = self.prices
        return (usage.get("prompt_tokens", 0) * price_in + usage.get("completion_tokens", 0) * price_out) / 1e6

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        return self.endpoint.generate(requests)

    def close(self) -> None:
        self.endpoint.close()
