"""A local OpenAI-compatible chat-completions server for the harness's own tests and benchmarks.

It speaks real HTTP on 127.0.0.1 (never another interface: it is a test double, not a service), so
an HTTP judge can be exercised end to end -- connection pooling, timeouts, retries, concurrency --
without a GPU or network. Built on ``aiohttp.web`` with ``AppRunner``/``TCPSite`` and no access log
by default, so one core answers thousands of requests per second and the server is not what a
benchmark measures.

Endpoints
---------
``GET /v1/models``
    ``{"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "testserver"}]}``.
``POST /v1/chat/completions``
    The OpenAI request body: ``model``, ``messages`` (``content`` a string, or a list of
    ``{"type": "text", "text": ...}`` and ``{"type": "image_url", "image_url": {"url": ...}}`` parts;
    extra keys such as ``"modalities": "multi-images"`` are accepted), ``max_tokens`` /
    ``max_completion_tokens``, ``temperature``, ``top_p``, ``seed``. Answers the standard
    ``chat.completion`` object. Errors use OpenAI's shape ``{"error": {"message", "type", "param",
    "code"}}``: 400 for a body that is not JSON, lacks ``messages``, has a malformed message/part or
    parameter, or carries a ``data:`` image URL whose payload is not valid base64; 401 for a missing
    or wrong API key; 413 for a body over ``max_body_mb``; 500 when the responder raises; 503 for
    requests still waiting when the server stops.
``GET /stats``, ``POST /stats/reset``
    Counters as JSON (see :class:`Stats`); not behind the API key, as they exist only for tests.

Usage is approximate -- there is no tokenizer: ``prompt_tokens`` counts whitespace-separated words
of every text content/part plus ``image_tokens`` (default 256) per image; ``completion_tokens``
counts the words of the reply. When ``max_completion_tokens`` (or ``max_tokens``) is smaller than
the reply's word count, the reply is cut to that many words and ``finish_reason`` is ``"length"``.

Reply text comes from a *responder*. The default, :class:`HashResponder`, is deterministic: the
SHA-256 of the canonical JSON of ``messages`` picks one of ``replies`` (default ``"Overall
Judgment: Answer 1 is better."`` / ``"Overall Judgment: Answer 2 is better."``). In-process a
callable ``responder(body: dict) -> str`` (or an ``async`` one) can replace it, e.g. to back the
server with a real model: a plain callable runs on a ``responder_workers``-thread pool (default 1,
so a model is never called concurrently and never blocks the event loop); a coroutine function is
awaited on the loop (where it may batch). A responder that raises, or returns a non-string, makes
that request a 500.

Options (keyword arguments of :class:`ServerOptions` / :class:`FakeOpenAIServer` /
:func:`start_server_process`; the CLI flag is the name with dashes)
--------------------------------------------------------------------------------------------------
``model`` (``"testserver-judge"``)
    The id listed by ``/v1/models``; replies echo the request's ``model`` when it names one.
``replies`` (the two verdicts above; CLI: ``--reply TEXT``, repeatable)
    Candidates of the default responder.
``api_key`` (none)
    When set, chat and models requests need ``Authorization: Bearer KEY``, else 401.
``latency`` (0 s) and ``jitter`` (0 s)
    Every validated chat request sleeps ``latency + uniform(0, jitter)`` before it is answered,
    injected faults included (except a hang, which sleeps ``hang_seconds`` instead).
``seed`` (0)
    Seeds the fault RNG (and, separately, the jitter RNG). One draw per validated request, in
    arrival order, so a run is reproducible for sequential clients and each retry draws afresh.
``rate_429``, ``rate_500``, ``rate_hang``, ``rate_malformed``, ``rate_empty``, ``rate_disconnect`` (0)
    Probability of each fault, decided per request independently of other requests; the kinds are
    exclusive for one request, so the rates must sum to at most 1. ``429``: status 429, an OpenAI
    rate-limit error, ``Retry-After: retry_after`` and ``retry-after-ms``. ``500``: status 500 with
    an error JSON. ``hang``: sleep ``hang_seconds`` (longer than any client timeout), then answer
    normally if the client is still there. ``malformed``: status 200 whose body is truncated JSON.
    ``empty``: status 200, valid JSON, ``message.content == ""``. ``disconnect``: the connection is
    closed without any response.
``fault_rate`` (0)
    Convenience: adds ``fault_rate / 5`` to each of the five main kinds (not ``disconnect``).
``retry_after`` (``"0.05"``)
    The ``Retry-After`` value of a 429: seconds, fractional (``"0.05"``) or integer (``"1"``).
``hang_seconds`` (30)
    How long a hung request sleeps.
``image_tokens`` (256)
    Prompt tokens counted per image.
``max_body_mb`` (64)
    Largest accepted request body (data-URL images are big; aiohttp's own default is 1 MiB).
``access_log`` (false)
    Log every request to stderr (costly at thousands of requests per second).
``responder_workers`` (1)
    Threads running a plain-callable responder (in-process only).

Running it
----------
In-process (tests)::

    with FakeOpenAIServer(latency=0.05, rate_429=0.2, seed=1) as server:
        post(server.base_url + "/chat/completions", ...)   # base_url = http://127.0.0.1:PORT/v1
        assert server.stats()["max_attempts"] <= 3

As a separate process (benchmarks: client and server must not share a GIL)::

    python -m reward.testserver --port 0 --latency 0.1 --rate-429 0.05

prints ``listening on http://127.0.0.1:PORT/v1`` (flushed) once ready and runs until SIGTERM or
SIGINT (or ``--max-lifetime`` seconds, or EOF on stdin with ``--exit-on-stdin-eof``).
:func:`start_server_process` launches it that way (so an orphaned server dies with its parent)
and returns ``(Popen, base_url)``; :func:`stop_server_process` ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import dataclasses
import hashlib
import inspect
import itertools
import json
import os
import random
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web

DEFAULT_REPLIES: tuple[str, ...] = ("Overall Judgment: Answer 1 is better.", "Overall Judgment: Answer 2 is better.")
FAULT_KINDS: tuple[str, ...] = ("429", "500", "hang", "malformed", "empty", "disconnect")
MAIN_FAULT_KINDS: tuple[str, ...] = FAULT_KINDS[:5]  # the kinds `fault_rate` is split over
READY_PREFIX = "listening on "

Responder = Callable[[dict], str | Awaitable[str]]


# ---------------------------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class ServerOptions:
    """Everything that shapes the server's behaviour; see the module docstring for each option."""

    model: str = "testserver-judge"
    replies: tuple[str, ...] = DEFAULT_REPLIES
    api_key: str | None = None
    latency: float = 0.0
    jitter: float = 0.0
    seed: int = 0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_hang: float = 0.0
    rate_malformed: float = 0.0
    rate_empty: float = 0.0
    rate_disconnect: float = 0.0
    fault_rate: float = 0.0
    retry_after: str = "0.05"
    hang_seconds: float = 30.0
    image_tokens: int = 256
    max_body_mb: float = 64.0
    access_log: bool = False
    responder_workers: int = 1

    def __post_init__(self) -> None:
        # Fail at construction, not on the first request: a typo'd rate should not look like a flaky client.
        object.__setattr__(self, "replies", tuple(self.replies))
        object.__setattr__(self, "retry_after", str(self.retry_after))
        if not self.replies:
            raise ValueError("replies must not be empty")
        for name in ("latency", "jitter", "hang_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("fault_rate", *(f"rate_{kind}" for kind in FAULT_KINDS)):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        total = sum(rate for _, rate in self.fault_table())
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates sum to {total:.3f} > 1 (one request gets at most one fault)")
        try:
            if float(self.retry_after) < 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"retry_after must be a non-negative number of seconds: {self.retry_after!r}") from None
        if self.image_tokens < 0 or self.max_body_mb <= 0 or self.responder_workers < 1:
            raise ValueError("image_tokens >= 0, max_body_mb > 0 and responder_workers >= 1 are required")

    def fault_table(self) -> list[tuple[str, float]]:
        """(kind, probability) for every fault kind, `fault_rate` already spread over the main kinds."""
        share = self.fault_rate / len(MAIN_FAULT_KINDS)
        return [(kind, getattr(self, f"rate_{kind}") + (share if kind in MAIN_FAULT_KINDS else 0.0))
                for kind in FAULT_KINDS]


class FaultPicker:
    """Seeded per-request fault decision: one uniform draw walks the cumulative rate table."""

    def __init__(self, options: ServerOptions):
        self._table = [(kind, rate) for kind, rate in options.fault_table() if rate > 0]
        self._rng = random.Random(options.seed)

    def draw(self) -> str | None:
        if not self._table:
            return None  # no draw at all: fault-free servers stay cheap
        u = self._rng.random()
        for kind, rate in self._table:
            if u < rate:
                return kind
            u -= rate
        return None


# ---------------------------------------------------------------------------------------------------------------
# Request inspection


class BadRequest(Exception):
    """A request OpenAI would refuse with 400; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ChatRequestInfo:
    """What the server needs from a validated body: approximate prompt size and the reply cap."""

    prompt_words: int
    images: int
    max_tokens: int | None


def canonical_json(value: Any) -> bytes:
    """Key-order- and whitespace-independent serialisation, so equal bodies hash equally whichever client sent them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_key(body: Any) -> str:
    """The key of `Stats.attempts` for a parsed request body (how tests find a request's attempt count)."""
    return hashlib.sha256(canonical_json(body)).hexdigest()[:16]


def _raw_key(raw: bytes) -> str:
    """Attempt key of a body that is not JSON: its bytes are all there is."""
    return "raw:" + hashlib.sha256(raw).hexdigest()[:16]


def _check_image_url(url: Any, param: str) -> None:
    if not isinstance(url, str) or not url:
        raise BadRequest("image_url.url must be a non-empty string", param)
    if url.startswith(("http://", "https://")):
        return  # accepted but never fetched: the server has no network and needs no pixels
    header, comma, payload = url.partition(",")
    if not url.startswith("data:image/") or not comma or not header.endswith(";base64"):
        raise BadRequest("image URL must be http(s) or data:image/<type>;base64,<payload>", param)
    try:
        if not base64.b64decode(payload, validate=True):
            raise BadRequest("image data URL has an empty payload", param)
    except (binascii.Error, ValueError):
        raise BadRequest("image data URL payload is not valid base64", param) from None


def _count_content(content: Any, param: str) -> tuple[int, int]:
    """(words, images) of one message's content; raises BadRequest on a shape OpenAI would refuse."""
    if content is None:
        return 0, 0  # e.g. an assistant turn that only carried tool calls
    if isinstance(content, str):
        return len(content.split()), 0
    if not isinstance(content, list):
        raise BadRequest("content must be a string or a list of parts", param)
    words = images = 0
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise BadRequest("content part must be an object", where)
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise BadRequest("text part needs a string 'text'", where)
            words += len(part["text"].split())
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image  # a bare string is tolerated
            _check_image_url(url, f"{where}.image_url.url")
            images += 1
        else:
            raise BadRequest(f"unsupported content part type {kind!r}", f"{where}.type")
    return words, images


def _optional_number(body: dict, name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise BadRequest(f"{name} must be a number in [{low}, {high}]", name)


def inspect_chat_body(body: Any) -> ChatRequestInfo:
    """Validate an OpenAI chat-completions body the way the real API would, cheaply (no image decoding beyond
    base64), and measure it for `usage`."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' is required and must be a non-empty list", "messages")
    words = images = 0
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest("each message must be an object with a string 'role'", f"messages[{i}]")
        w, n = _count_content(message.get("content"), f"messages[{i}].content")
        words, images = words + w, images + n
    if body.get("stream"):
        raise BadRequest("stream=true is not supported by the test server", "stream")
    if body.get("n", 1) != 1:
        raise BadRequest("only n=1 is supported", "n")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("model must be a string", "model")
    _optional_number(body, "temperature", 0.0, 2.0)
    _optional_number(body, "top_p", 0.0, 1.0)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequest("seed must be an integer", "seed")
    cap = None
    for name in ("max_completion_tokens", "max_tokens"):  # the newer name wins, as in OpenAI's API
        value = body.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadRequest(f"{name} must be a positive integer", name)
            cap = value if cap is None else cap
    return ChatRequestInfo(prompt_words=words, images=images, max_tokens=cap)


# ---------------------------------------------------------------------------------------------------------------
# Responders


class HashResponder:
    """Default reply: a candidate picked by the hash of `messages`, so the same conversation always gets the same
    verdict while different conversations spread over the candidates."""

    def __init__(self, replies: tuple[str, ...] = DEFAULT_REPLIES):
        self.replies = tuple(replies)

    def __call__(self, body: dict) -> str:
        digest = hashlib.sha256(canonical_json(body.get("messages"))).digest()
        return self.replies[int.from_bytes(digest[:8], "big") % len(self.replies)]


# ---------------------------------------------------------------------------------------------------------------
# Counters


@dataclass
class Stats:
    """Counters of chat-completion requests (models/stats requests are not counted).

    `requests`: chat requests received; `statuses`: responses sent, by status code (a malformed or empty reply is
    a 200); `faults`: injected faults by kind; `attempts`: requests per body (`request_key`), so a test can bound
    retries; `in_flight` / `max_in_flight`: concurrent chat requests now / at most since the last reset;
    `client_disconnects`: handlers cancelled because the client went away; `responder_errors`: responder raised.
    Mutated on the server's loop and read from test threads, hence the lock (uncontended: ~100 ns per update).
    """

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    client_disconnects: int = 0
    responder_errors: int = 0
    statuses: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self) -> None:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def count(self, counter: str, key: Any = None) -> None:
        """Increment `statuses`/`faults`/`attempts` at `key`, or a plain integer counter when `key` is None."""
        with self._lock:
            if key is None:
                setattr(self, counter, getattr(self, counter) + 1)
            else:
                getattr(self, counter)[key] += 1

    def reset(self) -> None:
        # `in_flight` is live state, not a counter: requests still running keep it honest after a reset.
        with self._lock:
            self.requests = self.client_disconnects = self.responder_errors = 0
            self.max_in_flight = self.in_flight
            self.statuses.clear()
            self.faults.clear()
            self.attempts.clear()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy (status codes become string keys, as JSON requires)."""
        with self._lock:
            return {
                "requests": self.requests,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "client_disconnects": self.client_disconnects,
                "responder_errors": self.responder_errors,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "faults": dict(self.faults),
                "attempts": dict(self.attempts),
                "max_attempts": max(self.attempts.values(), default=0),
            }


# ---------------------------------------------------------------------------------------------------------------
# The HTTP service


class _Dropped(Exception):
    """Raised by the handler after it aborted the connection for an injected `disconnect` fault."""


def error_response(status: int, message: str, kind: str, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


class ChatService:
    """The aiohttp application and its state, independent of how it is hosted (thread or process)."""

    def __init__(self, options: ServerOptions, responder: Responder | None = None):
        self.options = options
        self.stats = Stats()
        self._faults = FaultPicker(options)
        self._jitter_rng = random.Random(f"{options.seed}-jitter")
        self._responder: Responder = responder if responder is not None else HashResponder(options.replies)
        # An object whose __call__ is async counts as async too (iscoroutinefunction misses those).
        self._responder_is_async = responder is not None and (
            inspect.iscoroutinefunction(responder) or inspect.iscoroutinefunction(getattr(responder, "__call__", None)))
        # The built-in responder is a hash: cheaper to run inline than to hop to a thread.
        self._responder_inline = responder is None
        self._executor: ThreadPoolExecutor | None = None
        self._ids = itertools.count(1)
        self._auth = f"Bearer {options.api_key}" if options.api_key else None
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=int(self.options.max_body_mb * 2**20))
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_get("/stats", self.get_stats)
        app.router.add_post("/stats/reset", self.reset_stats)
        return app

    async def start(self, port: int = 0) -> int:
        """Bind 127.0.0.1:`port` (0: a free one) and return the port actually bound."""
        self._closing = asyncio.Event()
        if not self._responder_inline and not self._responder_is_async:
            self._executor = ThreadPoolExecutor(self.options.responder_workers, thread_name_prefix="testserver-model")
        # handler_cancellation: a client that gives up (e.g. on a hang) frees its handler and its in-flight slot.
        # access_log=None skips aiohttp's per-request log formatting entirely (measurable at >1000 requests/s).
        logging_kwargs: dict[str, Any] = {} if self.options.access_log else {"access_log": None}
        runner = web.AppRunner(self.make_app(), shutdown_timeout=2.0, handler_cancellation=True, **logging_kwargs)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        """Wake every sleeping handler (they answer 503), close the listener and connections, free the pool."""
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            # cancel_futures drops queued calls; a call already running in a thread is waited for.
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server stops, so shutdown never waits on a hang."""
        if seconds <= 0 or self._closing is None:
            return
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    # -- handlers ---------------------------------------------------------------------------------------------------

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if self._auth is None or request.headers.get("Authorization") == self._auth:
            return None
        return error_response(401, "Incorrect or missing API key.", "invalid_request_error", code="invalid_api_key")

    async def models(self, request: web.Request) -> web.Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        return web.json_response({"object": "list", "data": [
            {"id": self.options.model, "object": "model", "owned_by": "testserver"}]})

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.snapshot())

    async def reset_stats(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return web.json_response({"ok": True})

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        self.stats.begin()
        try:
            response = await self._chat(request)
        except _Dropped:
            # An injected disconnect: the transport is already aborted; a cancellation makes aiohttp write nothing
            # and log nothing, where any other exception would be logged as a handler error.
            raise asyncio.CancelledError() from None
        except asyncio.CancelledError:
            # The client closed the connection (handler_cancellation) or the server is stopping.
            self.stats.count("client_disconnects")
            raise
        finally:
            self.stats.end()
        if response is not None:
            self.stats.count("statuses", response.status)
        return response

    async def _chat(self, request: web.Request) -> web.StreamResponse | None:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            return error_response(413, exc.text or "request body too large", "invalid_request_error")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self.stats.count("attempts", _raw_key(raw))
            return error_response(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        self.stats.count("attempts", request_key(body))
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        try:
            info = inspect_chat_body(body)
        except BadRequest as exc:
            return error_response(400, str(exc), "invalid_request_error", param=exc.param)

        fault = self._faults.draw()
        if fault is not None:
            self.stats.count("faults", fault)
        if fault == "hang":
            await self._sleep(self.options.hang_seconds)
        else:
            await self._sleep(self._latency())
        if self._closing is not None and self._closing.is_set():
            return error_response(503, "The test server is shutting down.", "server_error")

        if fault == "429":
            return self._rate_limited()
        if fault == "500":
            return error_response(500, "Injected server error.", "server_error")
        if fault == "disconnect":
            self._abort(request)
            raise _Dropped
        if fault == "malformed":
            # Valid-looking start, cut mid-string: what a proxy dropping the tail of a body produces.
            return web.Response(status=200, content_type="application/json",
                                body=b'{"id": "chatcmpl-truncated", "object": "chat.completion", "choices": [{"mess')

        if fault == "empty":
            text = ""
        else:
            try:
                text = await self._respond(body)
            except Exception as exc:  # noqa: BLE001 -- any responder failure is that request's 500
                self.stats.count("responder_errors")
                return error_response(500, f"responder failed: {type(exc).__name__}: {exc}", "server_error")
        return web.json_response(self._completion(body, info, text))

    def _latency(self) -> float:
        jitter = self._jitter_rng.uniform(0.0, self.options.jitter) if self.options.jitter else 0.0
        return self.options.latency + jitter

    def _rate_limited(self) -> web.Response:
        seconds = float(self.options.retry_after)
        headers = {"Retry-After": self.options.retry_after, "retry-after-ms": str(int(round(seconds * 1000)))}
        return error_response(429, f"Rate limit reached (injected). Please try again in {self.options.retry_after}s.",
                              "requests", code="rate_limit_exceeded", headers=headers)

    @staticmethod
    def _abort(request: web.Request) -> None:
        # Abort (RST) rather than close: the client sees a dropped connection with no response at all.
        transport = request.transport
        if transport is not None:
            transport.abort()

    async def _respond(self, body: dict) -> str:
        if self._responder_inline:
            text = self._responder(body)
        elif self._responder_is_async:
            text = await self._responder(body)  # type: ignore[misc]
        else:
            loop = asyncio.get_running_loop()
            text = await loop.run_in_executor(self._executor, self._responder, body)
        if not isinstance(text, str):
            raise TypeError(f"responder returned {type(text).__name__}, not str")
        return text

    def _completion(self, body: dict, info: ChatRequestInfo, text: str) -> dict[str, Any]:
        words = text.split()
        finish = "stop"
        if info.max_tokens is not None and len(words) > info.max_tokens:
            words = words[:info.max_tokens]
            text, finish = " ".join(words), "length"
        prompt_tokens = info.prompt_words + info.images * self.options.image_tokens
        model = body.get("model") or self.options.model
        return {
            "id": f"chatcmpl-test{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                      "total_tokens": prompt_tokens + len(words)},
        }


# ---------------------------------------------------------------------------------------------------------------
# Hosting: a background thread (tests) ...


class FakeOpenAIServer:
    """The server on a background thread with its own event loop, for in-process tests.

    ``FakeOpenAIServer(responder=None, *, port=0, **options)`` -- `options` are :class:`ServerOptions` fields.
    Use as a context manager (or call `start()` / `stop()`); `base_url` is ``http://127.0.0.1:PORT/v1``.
    The client must live on another thread or process than this server's loop (any ordinary test does).
    """

    def __init__(self, responder: Responder | None = None, *, port: int = 0, **options: Any):
        self.options = ServerOptions(**options)
        self.service = ChatService(self.options, responder)
        self._requested_port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self.service.port is None:
            raise RuntimeError("server not started")
        return self.service.port

    @property
    def url(self) -> str:
        """Root URL (``/stats`` lives here)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as its base URL."""
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        return self.service.stats.snapshot()

    def reset_stats(self) -> None:
        self.service.stats.reset()

    def start(self, timeout: float = 10.0) -> FakeOpenAIServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self._run, name="fake-openai-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"test server did not start within {timeout}s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"test server failed to start: {self._error!r}") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving: hung and sleeping handlers are woken and answered 503, then the thread is joined."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # loop already closed between the check and the call
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"test server thread did not stop within {timeout}s")
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 -- reported to start() instead of dying silently
            self._error = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        await self.service.start(self._requested_port)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.service.stop()


# ---------------------------------------------------------------------------------------------------------------
# ... or a separate process (benchmarks)


def _stop_on_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stop when stdin (a pipe from the parent) reaches EOF: the parent exited, so nobody will ever SIGTERM us.

    A loop reader on the raw descriptor rather than a thread: a daemon thread blocked in a buffered stdin read
    aborts the interpreter at exit."""
    fd = sys.stdin.fileno()

    def on_readable() -> None:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    try:
        loop.add_reader(fd, on_readable)
    except (OSError, ValueError, NotImplementedError) as exc:  # e.g. stdin is a regular file
        print(f"testserver: cannot watch stdin ({exc}); relying on signals", file=sys.stderr, flush=True)


async def serve(options: ServerOptions, port: int = 0, max_lifetime: float = 0.0, exit_on_stdin_eof: bool = False,
                responder: Responder | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `max_lifetime` seconds, or stdin EOF), printing the ready line first."""
    service = ChatService(options, responder)
    bound = await service.start(port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_eof:
        _stop_on_stdin_eof(loop, stop)
    print(f"{READY_PREFIX}http://127.0.0.1:{bound}/v1", flush=True)
    try:
        if max_lifetime > 0:
            try:
                await asyncio.wait_for(stop.wait(), max_lifetime)
            except asyncio.TimeoutError:
                print(f"testserver: max lifetime {max_lifetime}s reached, exiting", file=sys.stderr, flush=True)
        else:
            await stop.wait()
    finally:
        await service.stop()


def build_parser() -> argparse.ArgumentParser:
    defaults = ServerOptions()
    parser = argparse.ArgumentParser(prog="python -m reward.testserver",
                                     description="Local OpenAI-compatible chat-completions test server (127.0.0.1 "
                                                 "only). See the module docstring of reward.testserver.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one (default)")
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--reply", dest="replies", action="append", metavar="TEXT",
                        help="candidate reply of the default responder (repeatable)")
    parser.add_argument("--api-key", default=None)
    for name in ("latency", "jitter", *(f"rate_{kind}" for kind in FAULT_KINDS), "fault_rate", "hang_seconds",
                 "max_body_mb"):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(defaults, name))
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--retry-after", default=defaults.retry_after, help="Retry-After seconds, e.g. 0.05 or 1")
    parser.add_argument("--image-tokens", type=int, default=defaults.image_tokens)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--max-lifetime", type=float, default=0.0, help="exit after this many seconds (0: never)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin closes (parent gone)")
    parser.add_argument("--hf-model", default=None, metavar="DIR",
                        help="answer with this local transformers VLM (reward.hf, extra `hf`) instead of the "
                             "hash responder, e.g. a directory from `python -m reward.tiny_models`")
    return parser


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    fields = {f.name for f in dataclasses.fields(ServerOptions)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return ServerOptions(**values)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    if options.access_log:
        import logging

        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    responder = None
    if args.hf_model:
        from .hf import HFAdapter, openai_responder  # torch only when asked for

        responder = openai_responder(HFAdapter(args.hf_model, batch_size=1))
    asyncio.run(serve(options, port=args.port, max_lifetime=args.max_lifetime,
                      exit_on_stdin_eof=args.exit_on_stdin_eof, responder=responder))
    return 0


def options_to_argv(options: dict[str, Any]) -> list[str]:
    """CLI flags for :class:`ServerOptions` keyword arguments (validated first, so errors surface in the parent)."""
    ServerOptions(**options)
    argv: list[str] = []
    for name, value in options.items():
        if name == "replies":
            for reply in value:
                argv += ["--reply", reply]
        elif name == "access_log":
            argv += ["--access-log"] if value else []
        elif value is not None:
            argv += ["--" + name.replace("_", "-"), str(value)]
    return argv


def start_server_process(*, port: int = 0, timeout: float = 20.0, max_lifetime: float = 0.0,
                         stderr: Any = None, **options: Any) -> tuple[subprocess.Popen, str]:
    """Launch ``python -m reward.testserver`` and wait (up to `timeout` s) for its ready line.

    Returns ``(process, base_url)``. The child exits when this process closes its stdin (i.e. dies), when
    :func:`stop_server_process` signals it, or after `max_lifetime` seconds if set. `options` are
    :class:`ServerOptions` fields except a responder (a callable cannot cross a process boundary). POSIX only
    (the ready line is awaited with `selectors` on the pipe).
    """
    if "responder" in options or "responder_workers" in options:
        raise TypeError("a responder cannot be passed to a server process; use FakeOpenAIServer in-process")
    argv = [sys.executable, "-m", "reward.testserver", "--port", str(port), "--exit-on-stdin-eof",
            "--max-lifetime", str(max_lifetime), *options_to_argv(options)]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])  # importable even when the package is not installed
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, bufsize=0)
    try:
        line = _read_ready_line(proc, timeout)
    except BaseException:
        stop_server_process(proc)
        raise
    return proc, line[len(READY_PREFIX):]


def _read_ready_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first stdout line, read without a helper thread so nothing outlives the call."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"test server gave no ready line within {timeout}s (got {buffer!r})")
            if selector.select(remaining):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"test server exited before it was ready (exit code {proc.wait()}, "
                                       f"output {buffer!r})")
                buffer += chunk
    line = buffer.split(b"\n", 1)[0].decode().strip()
    if not line.startswith(READY_PREFIX):
        raise RuntimeError(f"unexpected first line from the test server: {line!r}")
    return line


def stop_server_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, wait up to `timeout` s, then SIGKILL; closes the pipes. Returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
