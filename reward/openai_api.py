"""Judges behind any OpenAI-compatible chat endpoint: vLLM, SGLang, OpenAI, Gemini gateways.

Core dependency only (aiohttp, no torch). Requests run on an asyncio loop in a background thread with
at most `concurrency` in flight; the runner keeps feeding requests and receives replies as they
complete, so media decoding, the network and the judge all overlap.

Arguments (`--model-args`):
- `base_url`: one endpoint, or several separated by `|` (data-parallel replicas), used round-robin; a
  retry goes to the next replica.
- `model`: the served model name (default: the first entry of `GET /models`).
- `concurrency` (16), `timeout` seconds per attempt (120), `max_retries` (5).
- `max_new_tokens`: a cap on the protocol's generation length (part of the cache identity).
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

Faults: 408/409/425/429/5xx, timeouts, connection errors, malformed JSON and empty content are
retried with exponential backoff and full jitter (`backoff` · 2^attempt · U[0.5, 1.5], capped at
`max_backoff`), honouring `Retry-After` (seconds or an HTTP date, capped at `max_retry_after`). Other
4xx fail at once. After the last attempt the sample's record gets the error; a resumed run retries it.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import json
import os
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Any, Iterable, Iterator

import aiohttp

from harness.adapters import Adapter, check_family
from harness.errors import UsageError
from harness.records import Generation, PreparedRequest, Reply
from harness.registry import model

RETRY_STATUS = {408, 409, 425, 429}

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


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@model("openai")
class OpenAIAdapter(Adapter):
    """OpenAI-compatible endpoint(s): base_url=URL[|URL...], model=NAME, concurrency=N; key from $OPENAI_API_KEY."""

    def __init__(self, base_url: str = "https://api.openai.com/v1", model: str = "", concurrency: int = 16,
                 timeout: float = 120.0, max_retries: int = 5, max_new_tokens: int | None = None,
                 api_key_env: str = "OPENAI_API_KEY", revision: str = "", sglang_multi_image: bool = False,
                 media_first: bool = False, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 120.0, price_in: float | None = None, price_out: float | None = None,
                 check: bool = True, family: str | None = None):
        super().__init__(base_url=base_url, model=model, concurrency=concurrency, timeout=timeout,
                         max_retries=max_retries, max_new_tokens=max_new_tokens, api_key_env=api_key_env,
                         revision=revision, sglang_multi_image=sglang_multi_image, media_first=media_first,
                         family=family)
        self._family = check_family("openai", family)
        self.base_urls = [u.strip().rstrip("/") for u in base_url.replace(",", "|").split("|") if u.strip()]
        if not self.base_urls:
            raise UsageError("openai: base_url is empty")
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise UsageError("openai: concurrency must be >= 1, max_retries >= 0 and timeout > 0")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_new_tokens = max_new_tokens
        self.revision = revision or None
        self.sglang_multi_image = sglang_multi_image
        self.media_first = media_first
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._api_key = os.environ.get(api_key_env) or None
        self.model = model or (self._served_model() if check else "")
        if check and model:
            self._check_reachable()
        if not self.model:
            raise UsageError("openai: model= is required (the endpoint does not list its models)")
        self.args["model"] = self.model
        listed = PRICES.get(self.model)
        self.prices = (price_in, price_out) if price_in is not None and price_out is not None else listed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._rng = random.Random()

    # ---- start-up checks (before any work) ---------------------------------------------------
    def _get_models(self, url: str) -> dict | None:
        request = urllib.request.Request(f"{url}/models", headers=self._headers())
        try:
            with urllib.request.urlopen(request, timeout=min(self.timeout, 15)) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise UsageError(f"openai: {url} refused the credentials (HTTP {exc.code}); "
                                 f"set the key in ${self.args['api_key_env']}") from None
            return None  # reachable; some gateways have no /models
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UsageError(f"openai: cannot reach {url} ({reason}); is the server running?") from None
        except ValueError:
            return None

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

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    # ---- identity and settings ---------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {"model": self.model, "revision": self.revision, "sglang_multi_image": self.sglang_multi_image,
                "media_first": self.media_first}

    def family(self) -> str | None:
        """Unknown for a served model unless `family=llava|qwen` says which authors' scripts it follows."""
        return self._family

    def generation_for(self, requested: Generation) -> Generation:
        if self.max_new_tokens is not None and requested.max_new_tokens > self.max_new_tokens:
            return replace(requested, max_new_tokens=self.max_new_tokens)
        return requested

    def body(self, prepared: PreparedRequest) -> dict[str, Any]:
        """The chat-completions request body: one user message, text and base64 images as parts."""
        texts: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        for part in prepared.parts():  # a video travels as its frames (portable across servers)
            if not isinstance(part, str):
                url = f"data:{part.mime};base64,{base64.b64encode(part.data).decode('ascii')}"
                item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
                if self.sglang_multi_image:
                    item["modalities"] = "multi-images"
                (images if self.media_first else parts).append(item)
            elif parts and parts[-1]["type"] == "text" and not self.media_first:
                parts[-1]["text"] += part
            elif self.media_first and texts:
                texts[-1]["text"] += part
            else:
                (texts if self.media_first else parts).append({"type": "text", "text": part})
        content = images + texts if self.media_first else parts
        gen = self.generation_for(prepared.request.generation)
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": content}],
                                "max_tokens": gen.max_new_tokens, "temperature": gen.temperature}
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
                    item["image_url"]["url"] = f"{header},<{len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()[:16]}>"
        return {"body": body}

    # ---- the event loop ------------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="openai-adapter", daemon=True)
            self._thread.start()
        return self._loop

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=self.concurrency)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers())
        return self._session

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        loop = self._ensure_loop()
        done: queue.Queue = queue.Queue()
        in_flight = 0
        index = 0
        pending = iter(requests)
        exhausted = False
        while True:
            while not exhausted and in_flight < self.concurrency:
                try:
                    prepared = next(pending)
                except StopIteration:
                    exhausted = True
                    break
                future = asyncio.run_coroutine_threadsafe(self._call(prepared, index), loop)
                future.add_done_callback(done.put)
                index += 1
                in_flight += 1
            if in_flight == 0:
                return
            finished = done.get()
            in_flight -= 1
            yield finished.result()

    async def _call(self, prepared: PreparedRequest, index: int) -> Reply:
        """One request with its retries. Never raises: failures become `Reply.error`."""
        try:
            payload = json.dumps(self.body(prepared))
        except Exception as exc:  # noqa: BLE001 - a bad request is that sample's error
            return Reply(prepared.key, error=f"cannot build the request: {exc}", attempts=0)
        start = time.perf_counter()
        error = "no attempt made"
        for attempt in range(self.max_retries + 1):
            url = self.base_urls[(index + attempt) % len(self.base_urls)]
            try:
                text, usage = await self._post(url, payload)
                return Reply(prepared.key, text=text, latency_s=time.perf_counter() - start, attempts=attempt + 1,
                             usage=usage, cost_usd=self._cost(usage))
            except _RetryableError as exc:
                error = str(exc)
                if attempt == self.max_retries:
                    break
                await asyncio.sleep(self._delay(attempt, exc.retry_after))
            except _FatalError as exc:
                return Reply(prepared.key, error=str(exc), latency_s=time.perf_counter() - start,
                             attempts=attempt + 1)
        return Reply(prepared.key, error=f"{error} (gave up after {self.max_retries + 1} attempts)",
                     latency_s=time.perf_counter() - start, attempts=self.max_retries + 1)

    async def _post(self, url: str, payload: str) -> tuple[str, dict[str, int]]:
        session = await self._get_session()
        try:
            async with session.post(f"{url}/chat/completions", data=payload,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    message = _error_message(raw)
                    if resp.status in RETRY_STATUS or resp.status >= 500:
                        raise _RetryableError(f"HTTP {resp.status} from {url}: {message}",
                                              _retry_after(resp.headers.get("Retry-After")))
                    raise _FatalError(f"HTTP {resp.status} from {url}: {message}")
        except asyncio.TimeoutError:
            raise _RetryableError(f"timeout after {self.timeout:g} s from {url}") from None
        except aiohttp.ClientError as exc:
            raise _RetryableError(f"connection error with {url}: {type(exc).__name__}: {exc}") from None
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _RetryableError(f"malformed response from {url}: {raw[:120]!r}") from None
        if not isinstance(text, str) or not text.strip():
            raise _RetryableError(f"empty content from {url}")
        usage = data.get("usage") or {}
        return text, {k: int(usage[k]) for k in ("prompt_tokens", "completion_tokens") if isinstance(usage.get(k), int)}

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return min(self.backoff * (2 ** attempt) * self._rng.uniform(0.5, 1.5), self.max_backoff)

    def _cost(self, usage: dict[str, int]) -> float | None:
        if self.prices is None or not usage:
            return None
        price_in, price_out = self.prices
        return (usage.get("prompt_tokens", 0) * price_in + usage.get("completion_tokens", 0) * price_out) / 1e6

    async def _shutdown(self) -> None:
        """Cancel requests still in flight (a run stopped by Ctrl-C or an error) and wait for them, so no task is
        destroyed pending, then close the HTTP session."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def close(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None


class _FatalError(Exception):
    pass


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds, possibly fractional, or an HTTP date)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        message = data.get("error", {}).get("message") if isinstance(data.get("error"), dict) else data.get("error")
        if message:
            return str(message)[:300]
    except (ValueError, AttributeError):
        pass
    return raw[:300].decode("utf-8", "replace")
