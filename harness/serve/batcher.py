"""The bounded queue and the batcher: items of many requests (many trainer ranks) coalesced into the batches of
one `JudgeClient`.

A request's calls are admitted together or not at all: when they would take the outstanding calls (queued and
being judged) past `max_queue`, the request is refused with `QueueFull`, answered 429 with a `Retry-After`
estimated from the queue's depth and the judge's recent pace, so memory stays bounded however many ranks send.

The batcher takes up to `max_batch` queued calls whenever a worker is free, waiting at most `max_wait_ms` after
the oldest queued call arrived for more to join, and runs the batch through the judge client in a worker
thread (local judges are synchronous; the event loop keeps accepting requests meanwhile). The client reads the
batch's media in its own thread pool ahead of the judge and answers repeats from the judgment cache. A local
judge gets one worker: its model is called by one thread at a time. A judge behind an endpoint (`openai`,
`scores`) gets several, so up to `--concurrency` calls are in flight through the shared HTTP client while a
slow reply holds back only its own batch.

`drain()` stops admitting (`ShuttingDown`, answered 503) and waits until every admitted call is answered: a
graceful shutdown finishes the work it accepted.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from ..judging import JudgeClient
from .plan import Ask, Outcome, outcome_of

#: Bounds of the Retry-After estimate (seconds).
MIN_RETRY_AFTER_S = 0.05
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class BatchSettings:
    max_batch: int = 16
    max_wait_ms: float = 10.0
    max_queue: int = 1024
    workers: int = 1

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_queue < 1 or self.workers < 1 or self.max_wait_ms < 0:
            raise ValueError("max_batch, max_queue and workers must be >= 1 and max_wait_ms >= 0")


class QueueFull(Exception):
    """The request's calls do not fit in the queue now; retry after `retry_after_s` seconds."""

    def __init__(self, retry_after_s: float, depth: int, limit: int):
        super().__init__(f"the queue is full ({depth} of {limit} calls outstanding); retry in {retry_after_s:.2f} s")
        self.retry_after_s = retry_after_s


class ShuttingDown(Exception):
    """The service is stopping: it finishes what it accepted and takes nothing new."""


@dataclass
class _Job:
    ask: Ask
    future: asyncio.Future[Outcome]
    admitted: float  # loop time


class Batcher:
    """Create and use on one event loop: `start()`, `submit(asks)` per request, `drain()` then `stop()`."""

    def __init__(self, client: JudgeClient, settings: BatchSettings):
        self.client = client
        self.settings = settings
        self.closing = False
        self.batches = 0
        self.batched_calls = 0
        self._queue: deque[_Job] = deque()
        self._outstanding = 0
        self._seconds_per_call: float | None = None  # recent judging time per call (moving average)
        self._executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="reward-judge")
        self._running: set[asyncio.Task[None]] = set()
        self._judging: list[list[_Job]] = []  # the batches being judged now
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(settings.workers)

    @property
    def depth(self) -> int:
        """Calls waiting for a batch."""
        return len(self._queue)

    @property
    def outstanding(self) -> int:
        """Calls admitted and not yet answered (waiting or being judged): what `max_queue` bounds."""
        return self._outstanding

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="reward-batcher")

    def submit(self, asks: Sequence[Ask]) -> list[asyncio.Future[Outcome]]:
        """Queue a request's calls, all or none: `ShuttingDown`, or `QueueFull` when they do not fit now."""
        if self.closing:
            raise ShuttingDown("the reward service is shutting down")
        if self._outstanding + len(asks) > self.settings.max_queue:
            raise QueueFull(self.retry_after(), self._outstanding, self.settings.max_queue)
        loop = asyncio.get_running_loop()
        now = loop.time()
        jobs = [_Job(ask, loop.create_future(), now) for ask in asks]
        self._queue.extend(jobs)
        self._outstanding += len(jobs)
        self._idle.clear()
        self._wakeup.set()
        return [job.future for job in jobs]

    def retry_after(self) -> float:
        """Seconds until the queue has likely drained by a batch: its depth at the judge's recent pace."""
        pace = self._seconds_per_call if self._seconds_per_call is not None else 0.1
        estimate = self._outstanding * pace / self.settings.workers
        return min(MAX_RETRY_AFTER_S, max(MIN_RETRY_AFTER_S, estimate))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        max_wait = self.settings.max_wait_ms / 1000.0
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._slots.acquire()  # calls keep coalescing while every worker is busy
            if not self._queue:  # abandoned meanwhile (a shutdown that ran out of time)
                self._slots.release()
                continue
            deadline = self._queue[0].admitted + max_wait
            while len(self._queue) < self.settings.max_batch and (remaining := deadline - loop.time()) > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = [self._queue.popleft() for _ in range(min(self.settings.max_batch, len(self._queue)))]
            if not batch:  # abandoned while the batch was filling
                self._slots.release()
                continue
            task = loop.create_task(self._judge(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _judge(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        self._judging.append(batch)
        try:
            outcomes = await loop.run_in_executor(self._executor, self._judge_batch, [job.ask for job in batch])
        except Exception as exc:  # noqa: BLE001 - e.g. the executor is gone: the calls fail, their requests answer
            outcomes = [_judge_failed(exc)] * len(batch)
        finally:
            self._slots.release()
            self._judging.remove(batch)
        elapsed = (time.perf_counter() - start) / len(batch)
        self._seconds_per_call = elapsed if self._seconds_per_call is None else \
            0.8 * self._seconds_per_call + 0.2 * elapsed
        self.batches += 1
        self.batched_calls += len(batch)
        for job, outcome in zip(batch, outcomes):
            if not job.future.done():
                job.future.set_result(outcome)
        self._outstanding -= len(batch)
        if self._outstanding == 0:
            self._idle.set()

    def _judge_batch(self, asks: list[Ask]) -> list[Outcome]:
        """One batch through the judge client (in a worker thread). A judge that raises fails the calls it had
        not answered, with its error as their reason; the service goes on."""
        templates = {ask.request.key: ask.template for ask in asks}
        found: dict[str, Outcome] = {}
        try:
            for exchange in self.client.judge([ask.request for ask in asks]):
                found[exchange.request.key] = outcome_of(exchange, templates[exchange.request.key])
        except Exception as exc:  # noqa: BLE001 - one broken batch must not stop the service
            failed = _judge_failed(exc)
            return [found.get(ask.request.key, failed) for ask in asks]
        return [found[ask.request.key] for ask in asks]

    async def drain(self, timeout: float | None = None) -> bool:
        """Stop admitting, then wait (up to `timeout` s) until every admitted call is answered; True if all were."""
        self.closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Stop batching, answer every unanswered call as failed (`abandon`; nothing is left after a complete
        drain) and wait for the batches being judged, so no request waits forever."""
        self.closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.abandon()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._executor.shutdown(wait=True)

    def abandon(self) -> int:
        """Answer every unanswered call as failed (a drain that ran out of time), so the requests answer now
        instead of waiting for batches that will not come or a judge that does not finish; the number abandoned.
        A batch still being judged finishes in its thread, and its answers are dropped."""
        now = time.perf_counter()
        abandoned = 0
        while self._queue:
            job = self._queue.popleft()
            abandoned += 1
            job.future.set_result(Outcome(False, reason="the service stopped before judging this item",
                                          failure="judge", finished=now))
        self._outstanding -= abandoned
        for batch in self._judging:
            for job in batch:
                if not job.future.done():
                    job.future.set_result(Outcome(False, reason="the service stopped before this item's "
                                                                "judgment finished", failure="judge", finished=now))
                    abandoned += 1
        if self._outstanding == 0:
            self._idle.set()
        return abandoned

    def gauges(self) -> dict[str, float | int]:
        """The batcher's part of /metrics."""
        stats = self.client.stats
        return {"queue_depth": self.depth, "queue_limit": self.settings.max_queue, "outstanding": self._outstanding,
                "workers": self.settings.workers, "batches_total": self.batches,
                "batch_size_mean": round(self.batched_calls / self.batches, 3) if self.batches else 0,
                "judged_total": stats.sent, "cache_hits_total": stats.cache_hits}


def workers_for(concurrent: bool, concurrency: int, max_batch: int) -> int:
    """One worker for a local judge; for a judge behind an endpoint, enough batches to keep `concurrency` calls
    in flight."""
    return max(1, math.ceil(concurrency / max_batch)) if concurrent else 1


def _judge_failed(exc: Exception) -> Outcome:
    """The outcome of every call of a batch the judge could not answer at all."""
    return Outcome(False, reason=f"the judge failed: {type(exc).__name__}: {exc}"[:500], failure="judge",
                   finished=time.perf_counter())
