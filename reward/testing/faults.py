"""What a test configures on the test server: above all its fault model (which faults, how often, after what
delay, from which seed), plus the few identity settings (model id, replies, API key, size limits).

A :class:`ServerOptions` is given as keyword arguments to :class:`reward.testing.testserver.FakeOpenAIServer`
(in-process) or :func:`reward.testing.serve.start_server_process` (a separate process, where each option is a
CLI flag: the name with dashes). :class:`FaultPicker` turns the rates into one seeded decision per request.

Options
-------
``model`` (``"testserver-judge"``)
    The id listed by ``/v1/models``; replies echo the request's ``model`` when it names one.
``replies`` (`DEFAULT_REPLIES`, two verdicts; CLI: ``--reply TEXT``, repeatable)
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
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DEFAULT_REPLIES: tuple[str, ...] = ("Overall Judgment: Answer 1 is better.", "Overall Judgment: Answer 2 is better.")
FAULT_KINDS: tuple[str, ...] = ("429", "500", "hang", "malformed", "empty", "disconnect")
MAIN_FAULT_KINDS: tuple[str, ...] = FAULT_KINDS[:5]  # the kinds `fault_rate` is split over


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
