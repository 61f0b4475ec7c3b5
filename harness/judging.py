"""The layer between tasks and adapters: media loading, the cache, and call accounting.

`JudgeClient.judge(requests)` yields an `Exchange` (request, reply, prompt hash) for every request,
in completion order. The runner uses it, and so will preference construction outside any benchmark,
so both get the same cache semantics. Media are read in a small thread pool a few requests ahead of
the adapter, so decoding overlaps inference.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, TypeVar

from .adapters import Adapter
from .cache import JudgmentCache, cache_key_prefix, key_with_prompt
from .errors import SampleError
from .media import load_media
from .records import PreparedRequest, Reply, Request, prompt_fingerprint

T = TypeVar("T")
#: Answers found without the adapter (cache hits, media errors) held at most before they are passed on.
READY_LIMIT = 256
#: Requests whose cache entries are read in one query (one query per request cost more than the scripted judge).
LOOKUP_WINDOW = 64
U = TypeVar("U")


@dataclass(frozen=True)
class Exchange:
    """One answered request. `prompt_hash` is None when the request failed before it was prepared."""

    request: Request
    reply: Reply
    prompt_hash: str | None


@dataclass
class CallStats:
    sent: int = 0  # requests handed to the adapter
    cache_hits: int = 0
    media_errors: int = 0


class JudgeClient:
    def __init__(self, adapter: Adapter, cache: JudgmentCache | None, media_workers: int | None = None):
        self.adapter = adapter
        self.cache = cache if adapter.cacheable else None
        self.identity = adapter.identity()
        self.media_workers = media_workers or min(4, os.cpu_count() or 1)
        self.stats = CallStats()
        self._key_prefixes: dict[Any, str] = {}

    def prepare(self, request: Request) -> PreparedRequest:
        if not self.adapter.needs_media:
            return PreparedRequest(request, (), prompt_fingerprint(request.parts, None))
        media = tuple(load_media(ref) for ref in request.media)
        return PreparedRequest(request, media, prompt_fingerprint(request.parts, media))

    def key_for(self, prepared: PreparedRequest) -> str:
        settings = prepared.request.generation
        prefix = self._key_prefixes.get(settings)
        if prefix is None:  # once per distinct generation settings, not once per request
            generation = self.adapter.generation_for(settings)
            prefix = self._key_prefixes[settings] = cache_key_prefix(self.adapter.name, self.identity,
                                                                    generation.as_dict())
        return key_with_prompt(prefix, prepared.prompt_hash)

    def _looked_up(self, stream: Iterable[tuple[Request, PreparedRequest | Reply]]
                   ) -> Iterator[tuple[Request, PreparedRequest | Reply, str | None, Reply | None]]:
        """(request, prepared, cache key, cached reply) in order, the cache asked once per window of
        `LOOKUP_WINDOW` requests (a request whose prompt repeats one earlier in its window is judged again)."""
        if self.cache is None:
            for request, prepared in stream:
                yield request, prepared, None, None
            return
        for window in _windows(stream, LOOKUP_WINDOW):
            keys = [None if isinstance(p, Reply) else self.key_for(p) for _, p in window]
            hits = self.cache.get_many([k for k in keys if k is not None])
            for (request, prepared), key in zip(window, keys):
                yield request, prepared, key, hits.get(key) if key is not None else None

    def judge(self, requests: Iterable[Request]) -> Iterator[Exchange]:
        ready: deque[Exchange] = deque()
        pending: dict[str, tuple[PreparedRequest, str | None]] = {}

        def prepared_or_error(request: Request) -> PreparedRequest | Reply:
            try:
                return self.prepare(request)
            except SampleError as exc:
                return Reply(key=request.key, error=exc.reason, attempts=0)

        if self.adapter.needs_media:
            prepared_stream = _prefetch(requests, prepared_or_error, self.media_workers)
        else:
            prepared_stream = ((r, prepared_or_error(r)) for r in requests)
        stream = self._looked_up(prepared_stream)
        exhausted = False

        def misses() -> Iterator[PreparedRequest]:
            """The requests the adapter must answer. Answers that need no call (cache hits, media errors)
            wait in `ready` until the adapter's next reply; a long run of them ends this input (the adapter
            finishes what it has in flight) so they are passed on at once instead of piling up."""
            nonlocal exhausted
            for request, prepared, key, hit in stream:
                if isinstance(prepared, Reply):
                    self.stats.media_errors += 1
                    ready.append(Exchange(request, prepared, None))
                else:
                    if hit is not None:
                        self.stats.cache_hits += 1
                        ready.append(Exchange(request, replace(hit, key=request.key), prepared.prompt_hash))
                    else:
                        if request.key in pending:
                            raise ValueError(f"duplicate request key {request.key!r}")
                        pending[request.key] = (prepared, key)
                        self.stats.sent += 1
                        yield prepared
                if len(ready) >= READY_LIMIT:
                    return
            exhausted = True

        while not exhausted:
            for reply in self.adapter.generate(misses()):
                while ready:
                    yield ready.popleft()
                try:
                    prepared, key = pending.pop(reply.key)
                except KeyError:
                    raise RuntimeError(f"adapter {self.adapter.name!r} returned a reply for unknown or "
                                       f"already answered request {reply.key!r}") from None
                if key and reply.ok and self.cache is not None:  # a key is only made when there is a cache
                    self.cache.put(key, reply)
                yield Exchange(prepared.request, reply, prepared.prompt_hash)
            while ready:
                yield ready.popleft()
            if self.cache is not None:  # this batch's judgments are on disk before the next begins
                self.cache.flush()
            if pending:
                missing = ", ".join(sorted(pending)[:5])
                raise RuntimeError(f"adapter {self.adapter.name!r} returned no reply for {len(pending)} "
                                   f"request(s), e.g. {missing}")


def _windows(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while window := list(islice(iterator, size)):
        yield window


def _prefetch(items: Iterable[T], fn: Callable[[T], U], workers: int) -> Iterator[tuple[T, U]]:
    """Map `fn` over `items` in a thread pool, at most 2·workers ahead, preserving order."""
    ahead = 2 * workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media") as pool:
        window: deque[tuple[T, Future[U]]] = deque()
        for item in items:
            window.append((item, pool.submit(fn, item)))
            if len(window) >= ahead:
                head, fut = window.popleft()
                yield head, fut.result()
        while window:
            head, fut = window.popleft()
            yield head, fut.result()
