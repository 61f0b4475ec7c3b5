"""The counters behind `GET /metrics`: requests and items served, failures by reason, latency, throughput.

Latency percentiles are over the last `WINDOW` answered requests (seconds from arrival to answer, queueing
included: what a trainer waits); `requests_per_s` counts the requests answered in the last `RATE_SPAN_S`
seconds (or since start, when the service is younger). Failure reasons are the stage an item failed at
("media", "judge", "parse"), not its message, so the label set stays small.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Iterable

WINDOW = 2048
RATE_SPAN_S = 60.0


@dataclass(frozen=True)
class Served:
    """One answered request, as the metrics count it."""

    status: int
    items: int
    failures: tuple[str, ...]  # the failure stage of each failed item
    latency_s: float


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.requests_total = 0
        self.items_total = 0
        self.statuses: Counter[int] = Counter()
        self.failed: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=WINDOW)
        self._answered_at: deque[float] = deque()

    def observe(self, served: Served) -> None:
        now = time.monotonic()
        with self._lock:
            self.requests_total += 1
            self.statuses[served.status] += 1
            self.items_total += served.items
            self.failed.update(served.failures)
            self._latencies.append(served.latency_s)
            self._answered_at.append(now)
            self._forget_before(now - RATE_SPAN_S)

    def rejected(self, status: int) -> None:
        """A request refused before any work (429 queue full, 503 shutting down, 400 malformed)."""
        with self._lock:
            self.statuses[status] += 1

    def _forget_before(self, cutoff: float) -> None:
        while self._answered_at and self._answered_at[0] < cutoff:
            self._answered_at.popleft()

    def snapshot(self, **gauges: Any) -> dict[str, Any]:
        """The JSON of /metrics; `gauges` (queue depth and limit, batches, cache hits) are added as given."""
        now = time.monotonic()
        with self._lock:
            self._forget_before(now - RATE_SPAN_S)
            latencies = sorted(self._latencies)
            span = min(RATE_SPAN_S, now - self.started)
            rate = len(self._answered_at) / span if span > 0 else 0.0
            return {"requests_total": self.requests_total, "items_total": self.items_total,
                    "items_failed_by_reason": dict(sorted(self.failed.items())),
                    "rejected_total": self.statuses[429],  # the queue was full
                    "responses_by_status": {str(k): v for k, v in sorted(self.statuses.items())},
                    **gauges,
                    "latency_p50_s": _percentile(latencies, 0.50), "latency_p95_s": _percentile(latencies, 0.95),
                    "requests_per_s": round(rate, 4), "uptime_s": round(now - self.started, 3)}


def _percentile(ordered: list[float], q: float) -> float | None:
    """The nearest-rank percentile (None before the first request)."""
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 6)


def prometheus(snapshot: dict[str, Any], prefix: str = "harness_reward") -> str:
    """The snapshot in Prometheus' text format: counters, gauges, and labelled failures and statuses."""
    lines: list[str] = []

    def metric(name: str, kind: str, samples: Iterable[tuple[str, Any]]) -> None:
        lines.append(f"# TYPE {prefix}_{name} {kind}")
        for labels, value in samples:
            lines.append(f"{prefix}_{name}{labels} {'NaN' if value is None else value}")

    for name, value in snapshot.items():
        if name == "items_failed_by_reason":
            metric("items_failed_total", "counter", ((f'{{reason="{k}"}}', v) for k, v in value.items()))
        elif name == "responses_by_status":
            metric("responses_total", "counter", ((f'{{status="{k}"}}', v) for k, v in value.items()))
        elif isinstance(value, (int, float)) or value is None:
            metric(name, "counter" if name.endswith("_total") else "gauge", [("", value)])
    return "\n".join(lines) + "\n"
