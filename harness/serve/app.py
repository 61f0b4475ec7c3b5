"""The reward service's HTTP application (aiohttp), its start and graceful stop, and an in-process host for tests.

Endpoints (JSON, schema version 1; docs/serve.md is the reference):
- `POST /v1/pointwise`, `POST /v1/pairwise`, `POST /v1/group`: a batch of items -> an answer per item
  (`harness.serve.plan`). 400: a malformed body, naming the field; 422: `on_failure: "error"` and an item
  failed; 429 + `Retry-After`: the queue is full; 503: the service is shutting down.
- `GET /health`: status, judge, queue depth, templates (503 while draining, so a balancer stops sending).
- `GET /metrics`: JSON counters (`harness.serve.metrics`), or Prometheus text with `?format=prometheus`.

Every response names the judge (the adapter's `describe()`, credentials masked) and the prompt template that
was sent. A body is read, checked and turned into judge requests in a worker thread (base64 decoding of many
images must not stall the loop that accepts other ranks' requests).

Stopping (`RewardServer.stop`, SIGTERM/SIGINT in `serve`) first drains: new requests get 503 while every item
already admitted is judged and answered; only then are the listener and connections closed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from typing import Any, Callable

from aiohttp import web

from ..adapters import Adapter
from ..cache import JudgmentCache
from ..http_client import EndpointClient, LoopThread, listen
from ..judging import JudgeClient
from ..redaction import redact_deep
from .batcher import Batcher, BatchSettings, QueueFull, ShuttingDown, workers_for
from .metrics import Metrics, Served, prometheus
from .plan import Plan, Planner
from .schema import SCHEMA_VERSION, BadRequest, parse_group, parse_pairwise, parse_pointwise
from .templates import TemplateSet

#: What the response says of the template when a scalar scorer answers (it reads no prompt template).
NO_TEMPLATE = {"name": None, "version": None, "kind": "scalar scorer: the caption and the media, no template"}


def is_endpoint_judge(adapter: Adapter) -> bool:
    """Whether the adapter calls an endpoint through the shared HTTP client, which several batches may use at
    once (a local model may be called by one thread only)."""
    return isinstance(getattr(adapter, "endpoint", None), EndpointClient)


class RewardService:
    """The service's state: one judge client over `adapter`, its templates, the batcher and the metrics.

    The adapter and the cache belong to the caller, who closes them after the service has stopped."""

    def __init__(self, adapter: Adapter, templates: TemplateSet, *, cache: JudgmentCache | None = None,
                 max_batch: int = 16, max_wait_ms: float = 10.0, max_queue: int = 1024, concurrency: int = 16,
                 shutdown_timeout_s: float = 60.0, max_body_mb: float = 256.0):
        self.adapter = adapter
        self.templates = templates
        self.client = JudgeClient(adapter, cache)
        self.judge = redact_deep(adapter.describe())
        self.settings = BatchSettings(max_batch, max_wait_ms, max_queue,
                                      workers_for(is_endpoint_judge(adapter), concurrency, max_batch))
        self.shutdown_timeout_s = shutdown_timeout_s
        self.max_body_bytes = int(max_body_mb * 2**20)
        keys = itertools.count()
        self.planner = Planner(templates, scorer=adapter.kind == "scorer", new_key=lambda: f"r{next(keys)}")
        self.metrics = Metrics()
        self._batcher: Batcher | None = None
        self._drained: bool | None = None

    @property
    def batcher(self) -> Batcher:
        if self._batcher is None:
            raise RuntimeError("the reward service has not started")
        return self._batcher

    # ---- lifecycle ------------------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        app.router.add_post("/v1/pointwise", self.pointwise)
        app.router.add_post("/v1/pairwise", self.pairwise)
        app.router.add_post("/v1/group", self.group)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.get_metrics)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        self._batcher = Batcher(self.client, self.settings)
        self._batcher.start()

    async def drain(self) -> bool:
        """Answer 503 to new requests and wait until every admitted item is answered (bounded by
        `shutdown_timeout_s`); True when all were. Items unanswered when the time is up are answered as failed.
        Draining twice (the server's stop, then the app's shutdown) waits once."""
        if self._drained is None:
            if self._batcher is None:
                self._drained = True
            else:
                self._drained = await self._batcher.drain(self.shutdown_timeout_s)
                if not self._drained:
                    self._batcher.abandon()
        return self._drained

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.drain()  # also when the app is run by web.run_app rather than RewardServer

    async def _on_cleanup(self, app: web.Application) -> None:
        if self._batcher is not None:
            await self._batcher.stop()

    # ---- scoring endpoints ----------------------------------------------------------------------------------
    async def pointwise(self, request: web.Request) -> web.Response:
        return await self._score(request, lambda body: self.planner.pointwise(parse_pointwise(body)))

    async def pairwise(self, request: web.Request) -> web.Response:
        return await self._score(request, lambda body: self.planner.pairwise(parse_pairwise(body)))

    async def group(self, request: web.Request) -> web.Response:
        return await self._score(request, lambda body: self.planner.group(parse_group(body)))

    async def _score(self, request: web.Request, plan_of: Callable[[Any], Plan]) -> web.Response:
        started = time.perf_counter()
        if self.batcher.closing:
            return self._refused(503, "the reward service is shutting down")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refused(413, f"the body is over {self.max_body_bytes} bytes (--max-body-mb)")
        try:
            plan = await asyncio.get_running_loop().run_in_executor(None, _planned, raw, plan_of)
        except BadRequest as exc:
            return self._refused(400, str(exc), field=exc.field)
        limit = self.settings.max_queue
        if len(plan.asks) > limit:
            return self._refused(400, f"the request needs {len(plan.asks)} judge calls; the queue holds at most "
                                      f"{limit} (--max-queue): send fewer items at a time", field="items")
        try:
            futures = self.batcher.submit(plan.asks)
        except QueueFull as exc:
            seconds = exc.retry_after_s
            headers = {"Retry-After": str(max(1, int(-(-seconds // 1)))), "retry-after-ms": str(int(seconds * 1000))}
            return self._refused(429, str(exc), headers=headers)
        except ShuttingDown as exc:
            return self._refused(503, str(exc))
        outcomes = await asyncio.gather(*futures)
        answer = plan.combine(outcomes, started)
        items = answer.items
        body: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "judge": self.judge,
                                "template": plan.template.identity() if plan.template else NO_TEMPLATE,
                                "items": items, "n_ok": sum(1 for it in items if it["ok"]),
                                "n_failed": sum(1 for it in items if not it["ok"])}
        if answer.rewards is not None:
            body["rewards"] = answer.rewards
            body["rewards_ok"] = answer.rewards_ok
        status = 200
        if plan.policy.mode == "error" and answer.failed:
            status = 422
            shown = "; ".join(f"{i}: {items[i]['reason']}" for i in answer.failed[:5])
            body["error"] = f"{len(answer.failed)} item(s) failed (on_failure=error): {shown}"
            body["failed"] = answer.failed
        failures = tuple(str(it.get("failure")) for it in items if not it["ok"])
        self.metrics.observe(Served(status, len(items), failures, time.perf_counter() - started))
        return web.json_response(body, status=status, dumps=_dumps)

    def _refused(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> web.Response:
        self.metrics.rejected(status)
        body: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "error": message}
        if field is not None:
            body["field"] = field
        return web.json_response(body, status=status, headers=headers, dumps=_dumps)

    # ---- health and metrics ---------------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        draining = self._batcher is None or self._batcher.closing
        body = {"status": "draining" if draining else "ok", "schema_version": SCHEMA_VERSION, "judge": self.judge,
                "queue": self._batcher.depth if self._batcher else 0, "templates": self.templates.describe()}
        return web.json_response(body, status=503 if draining else 200, dumps=_dumps)

    def metrics_snapshot(self) -> dict[str, Any]:
        return self.metrics.snapshot(**self.batcher.gauges())

    async def get_metrics(self, request: web.Request) -> web.Response:
        snapshot = self.metrics_snapshot()
        if request.query.get("format") == "prometheus":
            return web.Response(text=prometheus(snapshot), content_type="text/plain")
        return web.json_response(snapshot, dumps=_dumps)


def _planned(raw: bytes, plan_of: Callable[[Any], Plan]) -> Plan:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("", f"the body is not JSON ({exc})") from None
    return plan_of(body)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


class RewardServer:
    """The service on `host:port` (port 0: a free one) in the running event loop."""

    def __init__(self, service: RewardService):
        self.service = service
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 8700) -> int:
        runner = web.AppRunner(self.service.make_app(), access_log=None, handle_signals=False,
                               shutdown_timeout=self.service.shutdown_timeout_s)
        self.port = await listen(runner, host, port)
        self._runner = runner
        return self.port

    async def stop(self) -> bool:
        """Drain (503 to new requests, admitted items answered), then close; True when nothing was cut short."""
        drained = await self.service.drain()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        return drained


async def serve(service: RewardService, host: str, port: int, ready: Callable[[str], None]) -> bool:
    """Serve until SIGTERM or SIGINT, calling `ready(url)` once listening; then stop gracefully."""
    server = RewardServer(service)
    bound = await server.start(host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready(f"http://{host}:{bound}")
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return await server.stop()


class ServiceThread:
    """The service on a background thread with its own event loop (tests, notebooks, a trainer's own process).

        with ServiceThread(RewardService(adapter, templates)) as served:
            RewardClient(served.url).pointwise(...)
    """

    def __init__(self, service: RewardService, host: str = "127.0.0.1", port: int = 0):
        self.service = service
        self.host = host
        self._requested_port = port
        self._server = RewardServer(service)
        self._loop: LoopThread | None = None
        self.drained: bool | None = None

    @property
    def url(self) -> str:
        if self._server.port is None:
            raise RuntimeError("the service has not started")
        return f"http://{self.host}:{self._server.port}"

    def start(self, timeout: float = 30.0) -> "ServiceThread":
        self._loop = LoopThread("reward-service")
        try:
            self._loop.run(self._server.start(self.host, self._requested_port), timeout)
        except BaseException as exc:
            self._loop.stop()
            self._loop = None
            raise RuntimeError(f"the reward service failed to start: {exc!r}") from exc
        return self

    def stop(self, timeout: float = 120.0) -> bool:
        """Stop gracefully (see `RewardServer.stop`) and join the thread; True when every admitted item was
        answered."""
        if self._loop is None:
            return True
        self.drained = self._loop.run(self._server.stop(), timeout)
        self._loop.stop()
        self._loop = None
        return self.drained

    def __enter__(self) -> "ServiceThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
