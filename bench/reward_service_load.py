"""The reward service under load: many clients (trainer ranks) at once against a small queue.

    python bench/reward_service_load.py [--clients 8] [--items 500] [--per-request 50] [--max-queue 128]
                                        [--latency 0.1] [--concurrency 64] [--seconds 120]

The test server (its own process, `--latency` per request) backs a reward service (its own process, `--max-queue`
judge calls outstanding at most, `--concurrency` to the server, no cache). `--clients` threads, each with its
own `RewardClient`, send `--items` distinct items each (a unique caption and image per item) in requests of
`--per-request`, all at once, within `--seconds`. With the queue smaller than what the clients send together,
the service answers 429 + Retry-After, which the client honours (waits, retries).

Checked: every item answered exactly once (each request's answers carry each index once; the union over
clients is the set sent; the test server saw exactly one chat request per item, so none was judged twice or
lost on the way), the 429s the service sent equal the waits the clients made, and the service's peak RSS
(Linux VmHWM) at the end against the same after its warm-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.reward_service import REPLIES, peak_rss_mb, start_service, stop_service  # noqa: E402
from harness.serve.client import RewardClient, RewardServiceError  # noqa: E402
from reward.testing.serve import start_server_process, stop_server_process  # noqa: E402


@dataclass
class ClientRun:
    """What one client sent and got."""

    sent: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    bad_indices: int = 0  # a request whose answers did not carry each index exactly once
    errors: list[str] = field(default_factory=list)
    throttled: int = 0
    waited_s: float = 0.0


def image_for(client: int, item: int) -> np.ndarray:
    """A 16x16 image unique to (client, item): the numbers written into its pixels."""
    pixels = np.zeros((16, 16, 3), dtype=np.uint8)
    pixels[0, 0] = (client, item // 256, item % 256)
    return pixels


def one_client(url: str, index: int, items: int, per_request: int, deadline: float, run: ClientRun) -> None:
    with RewardClient(url, timeout=120.0, max_retries=1000, max_retry_after=10.0) as client:
        for start in range(0, items, per_request):
            if time.monotonic() > deadline:
                run.errors.append("deadline reached")
                break
            keys = [f"client {index} item {k}" for k in range(start, min(items, start + per_request))]
            run.sent += keys
            try:
                result = client.pointwise([(key, image_for(index, start + k)) for k, key in enumerate(keys)])
            except RewardServiceError as exc:
                run.errors.append(str(exc))
                continue
            if sorted(item.index for item in result.items) != list(range(len(keys))):
                run.bad_indices += 1
            run.answered += [keys[item.index] for item in result.items if 0 <= item.index < len(keys)]
        run.throttled, run.waited_s = client.stats.throttled, client.stats.waited_s


def run_load(clients: int = 8, items: int = 500, latency: float = 0.1, seconds: float = 120.0,
             per_request: int = 50, max_queue: int = 128, concurrency: int = 64) -> list[str]:
    """The load test; returns its report as markdown lines."""
    server, base_url = start_server_process(latency=latency, replies=tuple(REPLIES))
    try:
        service, url = start_service(base_url, concurrency, ["--max-queue", str(max_queue), "--max-batch", "16"])
        try:
            with RewardClient(url) as warm:
                warm.pointwise([("warm-up", image_for(255, 0))])
            rss_warm = peak_rss_mb(service.pid)
            stats_url = base_url.rsplit("/v1", 1)[0]
            urllib.request.urlopen(urllib.request.Request(f"{stats_url}/stats/reset", method="POST")).read()
            runs = [ClientRun() for _ in range(clients)]
            deadline = time.monotonic() + seconds
            start = time.perf_counter()
            threads = [threading.Thread(target=one_client, args=(url, i, items, per_request, deadline, runs[i]))
                       for i in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - start
            rss_end = peak_rss_mb(service.pid)
            metrics = json.loads(urllib.request.urlopen(f"{url}/metrics").read())
            judged = json.loads(urllib.request.urlopen(f"{stats_url}/stats").read())["requests"]
        finally:
            stop_service(service)
    finally:
        stop_server_process(server)
    sent = [k for r in runs for k in r.sent]
    answered = [k for r in runs for k in r.answered]
    lost = len(set(sent) - set(answered))
    duplicated = len(answered) - len(set(answered))
    sent_429 = int(metrics.get("responses_by_status", {}).get("429", 0))
    waits = sum(r.throttled for r in runs)
    return [
        f"Load: {clients} clients x {items} items (requests of {per_request}), service --max-queue {max_queue} "
        f"--concurrency {concurrency}, test server latency {latency * 1000:.0f} ms, at most {seconds:.0f} s",
        "",
        "| what | value |", "|---|---:|",
        f"| items sent / answered | {len(sent)} / {len(answered)} |",
        f"| lost / duplicated answers | {lost} / {duplicated} |",
        f"| requests whose answers were not each index once | {sum(r.bad_indices for r in runs)} |",
        f"| chat requests the test server judged (one per item) | {judged} |",
        f"| 429s the service sent / waits the clients made | {sent_429} / {waits} |",
        f"| seconds the clients waited on Retry-After (sum) | {sum(r.waited_s for r in runs):.1f} |",
        f"| requests that failed after retries | {sum(len(r.errors) for r in runs)} |",
        f"| wall time | {elapsed:.1f} s ({len(answered) / elapsed:.0f} items/s; ideal {concurrency / latency:.0f}) |",
        f"| service peak RSS after warm-up / at the end | {rss_warm:.0f} MB / {rss_end:.0f} MB |"
        if rss_warm is not None and rss_end is not None else "| service peak RSS | (not available here) |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--per-request", type=int, default=50)
    parser.add_argument("--max-queue", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    print("\n".join(run_load(args.clients, args.items, args.latency, args.seconds, args.per_request, args.max_queue,
                             args.concurrency)))


if __name__ == "__main__":
    main()
