"""Calling an HTTP endpoint for many requests at once, written once for every judge that has one.

The split is inspect_ai's split between its `Model` wrapper and its `ModelAPI` providers: `EndpointClient`
owns everything about *calling* an endpoint, and a provider (`EndpointProvider`: the `openai` adapter, the
`scores` service client, issue 17's reward-service client) owns only what a request's body looks like
and how an answer is read. The client gives:

- an asyncio loop in a background thread (`LoopThread`), so the runner's synchronous stream of requests
  keeps `concurrency` of them in flight and receives the replies as they complete (media decoding, the
  network and the judge overlap);
- retries of 408/409/425/429/5xx, timeouts, connection errors and unreadable answers, with exponential
  backoff and full jitter (`backoff` · 2^attempt · U[0.5, 1.5], capped at `max_backoff`), honouring
  `Retry-After` (seconds or an HTTP date, capped at `max_retry_after`); any other status fails at once;
- rotation over data-parallel replicas: request i goes to replica i mod n, and each retry to the next one;
- `get_json`, the start-up probe (`GET /models`, `GET /info`) that turns an unreachable server into one
  usage error before any work.

Every failure becomes that request's `Reply.error` (after the last attempt: "... (gave up after N attempts)");
nothing here raises into the run.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import queue
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Iterable, Iterator, Mapping, Protocol, Sequence, TypeVar

from .errors import UsageError
from .records import PreparedRequest, Reply

T = TypeVar("T")
R = TypeVar("R")

#: Statuses below 500 that say "try again" rather than "this request is wrong".
RETRY_STATUS = frozenset({408, 409, 425, 429})

if TYPE_CHECKING:  # aiohttp (and SSL with it, ~200 ms) is imported when a session opens, not with this module
    import aiohttp


class RetryableError(Exception):
    """A failed attempt worth repeating; `retry_after` is the server's `Retry-After` in seconds, if it sent one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(Exception):
    """A failed attempt that repeating cannot fix (a 400, a refused credential, a non-finite score)."""


class UnsendableRequest(Exception):
    """The request cannot be sent at all (e.g. a scorer's request without media): its message is the error."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait. Part of no cache key: it changes when an answer comes, not which."""

    max_retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds before retry `attempt + 1`: the server's `Retry-After` if given, else jittered backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return min(self.backoff * (2 ** attempt) * rng.uniform(0.5, 1.5), self.max_backoff)


@dataclass(frozen=True)
class Answer:
    """What a provider read from a successful response (`text` for a judge, `score` for a scorer)."""

    text: str | None = None
    score: float | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    cost_usd: float | None = None


class EndpointProvider(Protocol):
    """The provider's half: the body of one request, and the reading of one HTTP 200 answer."""

    def payload(self, prepared: PreparedRequest) -> str:
        """The JSON body to POST; raise `UnsendableRequest` (or anything) when it cannot be built."""

    def answer(self, raw: bytes, where: str) -> Answer:
        """Read the body of a 200 from replica `where`; raise `RetryableError` for a malformed or empty
        answer (a server under load sends those), `FatalError` for one that a retry cannot change."""


def retry_after_seconds(value: str | None) -> float | None:
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


def error_message(raw: bytes) -> str:
    """The message of an error answer: OpenAI's `{"error": {"message"}}`, a plain `{"error": str}`, or the
    body's first 300 characters."""
    try:
        data = json.loads(raw)
        message = data.get("error", {}).get("message") if isinstance(data.get("error"), dict) else data.get("error")
        if message:
            return str(message)[:300]
    except (ValueError, AttributeError):
        pass
    return raw[:300].decode("utf-8", "replace")


def status_error(status: int, where: str, raw: bytes, retry_after: str | None) -> RetryableError | FatalError:
    """The error a non-200 status is: retryable for 408/409/425/429 and 5xx, fatal otherwise."""
    message = f"HTTP {status} from {where}: {error_message(raw)}"
    if status in RETRY_STATUS or status >= 500:
        return RetryableError(message, retry_after_seconds(retry_after))
    return FatalError(message)


def check_limits(who: str, concurrency: int, max_retries: int, timeout: float) -> None:
    """The client settings an adapter takes from its arguments, checked before anything starts."""
    if concurrency < 1 or max_retries < 0 or timeout <= 0:
        raise UsageError(f"{who}: concurrency must be >= 1, max_retries >= 0 and timeout > 0")


def require_http_url(url: str, who: str) -> str:
    """`url`, if it is an http(s) URL with a host; else a UsageError (every request would fail alike)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{who}: {url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
    return url


def get_json(base: str, path: str, *, who: str, server: str, headers: Mapping[str, str] | None = None,
             timeout: float = 15.0) -> tuple[int, Any]:
    """`GET base + path` at start-up: (HTTP status, the JSON answer or None when it is not JSON). A server
    that cannot be reached is a UsageError "{who}: cannot reach {base} (...); is the {server} running?";
    an HTTP error status is returned, for the caller to judge (a gateway without /models is fine)."""
    request = urllib.request.Request(f"{require_http_url(base, who)}{path}", headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError) as exc:  # refused, unknown host, timed out
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"{who}: cannot reach {base} ({reason}); is the {server} running?") from None
    try:
        return status, json.loads(raw.decode("utf-8"))
    except ValueError:
        return status, None


class LoopThread:
    """An asyncio loop in a daemon thread, so a synchronous caller can keep `limit` coroutines in flight
    and receive their results as they complete."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def unordered(self, items: Iterable[T], call: Callable[[T, int], Coroutine[Any, Any, R]],
                  limit: int) -> Iterator[R]:
        """`call(item, position)` for every item, at most `limit` at a time, yielded in completion order.
        Items are drawn only as slots free up, so a lazy stream stays lazy."""
        done: queue.Queue[Future[R]] = queue.Queue()
        in_flight = 0
        pending = enumerate(items)
        exhausted = False
        while True:
            while not exhausted and in_flight < limit:
                try:
                    position, item = next(pending)
                except StopIteration:
                    exhausted = True
                    break
                future = asyncio.run_coroutine_threadsafe(call(item, position), self.loop)
                future.add_done_callback(done.put)
                in_flight += 1
            if in_flight == 0:
                return
            in_flight -= 1
            yield done.get().result()

    def stop(self, cleanup: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        """Run `cleanup` on the loop (close sessions), then stop the loop and join its thread."""
        if cleanup is not None:
            self.run(cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class EndpointClient:
    """POSTs each request's `provider.payload` to `replica + path` with bounded concurrency and retries, and
    turns the provider's `Answer` into a `Reply`. Error messages name the replica (`where`), not the path.

    The loop thread and the HTTP session start with the first `generate` and end with `close`; a closed
    client starts them again when used again (lmms-eval calls one model many times)."""

    def __init__(self, provider: EndpointProvider, replicas: Sequence[str], *, path: str = "", concurrency: int = 8,
                 timeout: float = 60.0, retry: RetryPolicy = RetryPolicy(), headers: Mapping[str, str] | None = None,
                 thread_name: str = "endpoint-client", who: str = "endpoint"):
        if not replicas:
            raise UsageError(f"{who}: no endpoint URL given")
        check_limits(who, concurrency, retry.max_retries, timeout)
        self.provider = provider
        self.replicas = [require_http_url(url, who) for url in replicas]
        self.path = path
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry = retry
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.thread_name = thread_name
        self._loop: LoopThread | None = None
        self._loop_lock = threading.Lock()  # callers on several threads (the reward service) start one loop
        self._session: aiohttp.ClientSession | None = None
        self._rng = random.Random()

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        """One Reply per request, in completion order; request i starts at replica i mod n."""
        with self._loop_lock:
            if self._loop is None:
                self._loop = LoopThread(self.thread_name)
            loop = self._loop
        yield from loop.unordered(requests, self.call, self.concurrency)

    async def call(self, prepared: PreparedRequest, index: int) -> Reply:
        """One request with its retries. Never raises: failures become `Reply.error`."""
        try:
            payload = self.provider.payload(prepared)
        except UnsendableRequest as exc:
            return Reply(prepared.key, error=str(exc), attempts=0)
        except Exception as exc:  # noqa: BLE001 - a bad request is that sample's error
            return Reply(prepared.key, error=f"cannot build the request: {exc}", attempts=0)
        start = time.perf_counter()
        error = "no attempt made"
        attempts = self.retry.max_retries + 1
        for attempt in range(attempts):
            where = self.replicas[(index + attempt) % len(self.replicas)]
            try:
                answer = self.provider.answer(await self._post(where, payload), where)
                return Reply(prepared.key, text=answer.text, score=answer.score, usage=answer.usage,
                             cost_usd=answer.cost_usd, latency_s=time.perf_counter() - start, attempts=attempt + 1)
            except RetryableError as exc:
                error = str(exc)
                if attempt + 1 < attempts:
                    await asyncio.sleep(self.retry.delay(attempt, exc.retry_after, self._rng))
            except FatalError as exc:
                return Reply(prepared.key, error=str(exc), latency_s=time.perf_counter() - start,
                             attempts=attempt + 1)
        return Reply(prepared.key, error=f"{error} (gave up after {attempts} attempts)",
                     latency_s=time.perf_counter() - start, attempts=attempts)

    async def _post(self, where: str, payload: str) -> bytes:
        """The body of a 200 from `where`; any other outcome raises RetryableError or FatalError."""
        import aiohttp

        if self._session is None:  # created on the loop's thread, where it is used
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=self.concurrency)
            self._session = aiohttp.ClientSession(connector=connector, headers=self.headers)
        try:
            async with self._session.post(f"{where}{self.path}", data=payload,
                                          timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise status_error(resp.status, where, raw, resp.headers.get("Retry-After"))
                return raw
        except asyncio.TimeoutError:
            raise RetryableError(f"timeout after {self.timeout:g} s from {where}") from None
        except aiohttp.ClientError as exc:
            raise RetryableError(f"connection error with {where}: {type(exc).__name__}: {exc}") from None

    async def _shutdown(self) -> None:
        """Cancel requests still in flight (a run stopped by Ctrl-C or an error) and wait for them, so no task
        is destroyed pending, then close the HTTP session."""
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
        self._loop.stop(self._shutdown)
        self._loop = None


async def listen(runner: Any, host: str, port: int) -> int:
    """Set up an aiohttp `AppRunner` and bind it to `host:port` (0: a free one), cleaned up if binding fails; the
    port bound. Shared by the reward service and the local test server."""
    from aiohttp import web

    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return int(runner.addresses[0][1])
