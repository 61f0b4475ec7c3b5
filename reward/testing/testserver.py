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

Options (model, replies, api key, latency, fault rates and their seed, ...) are the fault model's,
:class:`reward.testing.faults.ServerOptions`, documented there.

Running it
----------
In-process (tests)::

    with FakeOpenAIServer(latency=0.05, rate_429=0.2, seed=1) as server:
        post(server.base_url + "/chat/completions", ...)   # base_url = http://127.0.0.1:PORT/v1
        assert server.stats()["max_attempts"] <= 3

As a separate process (benchmarks: client and server must not share a GIL): :mod:`reward.testing.serve`
(``python -m reward.testing.serve``).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import web

from harness.http_client import listen

from .chat_requests import BadRequest, ChatRequestInfo, HashResponder, inspect_chat_body, raw_key, request_key
from .faults import FaultPicker, ServerOptions

Responder = Callable[[dict], str | Awaitable[str]]


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
        self.port = await listen(runner, "127.0.0.1", port)
        self._runner = runner
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
            self.stats.count("attempts", raw_key(raw))
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
