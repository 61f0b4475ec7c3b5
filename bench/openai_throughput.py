"""`openai` adapter throughput against the local server with 100 ms latency, vs a sequential client.

    python bench/openai_throughput.py [--requests 960] [--concurrency 32] [--latency 0.1] [--sequential 40]

The server (reward.testing.serve) runs in its own process so it does not share the client's GIL. Both
clients send the same VL-RewardBench prompts with their (8x8 synthetic) image as a base64 data URL:
- harness: `JudgeClient` + `OpenAIAdapter(concurrency=N)`, i.e. the path `harness run` takes;
- sequential: one blocking request after another (urllib), the way the authors' evaluation scripts
  call their judge in a `for` loop.
The ideal for the harness is concurrency / latency requests per second (320 at 32 and 0.1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.runner_overhead import make_data  # noqa: E402
from harness.judging import JudgeClient  # noqa: E402
from reward.openai_api import OpenAIAdapter  # noqa: E402
from reward.testing.serve import start_server_process, stop_server_process  # noqa: E402
from tasks.vlrewardbench import VLRewardBench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=960)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--sequential", type=int, default=40, help="requests for the sequential client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(Path(tmp))
        task = VLRewardBench()
        cfg = task.config("strict", 0, None, data)
        samples = task.load(cfg).samples
        requests = [r for i in range(args.requests) for r in task.requests(samples[i % len(samples)], cfg)]
        # distinct keys even when the benchmark is shorter than --requests
        requests = [type(r)(f"{r.key}#{i}", f"{r.sample_id}#{i}", r.parts, r.generation, r.meta)
                    for i, r in enumerate(requests)]
        proc, base_url = start_server_process(latency=args.latency)
        try:
            adapter = OpenAIAdapter(base_url=base_url, concurrency=args.concurrency)
            client = JudgeClient(adapter, cache=None)
            cpu0, start = time.process_time(), time.perf_counter()
            replies = [e.reply for e in client.judge(requests)]
            harness_s, harness_cpu = time.perf_counter() - start, time.process_time() - cpu0
            adapter.close()
            failed = sum(not r.ok for r in replies)

            bodies = []
            body_adapter = OpenAIAdapter(base_url=base_url, model=adapter.model, check=False)
            for request in requests[: args.sequential]:
                bodies.append(json.dumps(body_adapter.body(client.prepare(request))).encode())
            start = time.perf_counter()
            for body in bodies:
                req = urllib.request.Request(f"{base_url}/chat/completions", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    json.loads(resp.read())
            sequential_s = time.perf_counter() - start
        finally:
            stop_server_process(proc)
    ideal = args.concurrency / args.latency
    harness_rps = len(requests) / harness_s
    sequential_rps = len(bodies) / sequential_s
    print(f"{len(requests)} VL-RewardBench requests (image as data URL), server latency {args.latency * 1000:.0f} ms, "
          f"{os.cpu_count()} CPU(s)\n")
    print("| client | requests | seconds | requests/s | share of ideal | × sequential |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| harness openai adapter, concurrency {args.concurrency} | {len(requests)} | {harness_s:.2f} | "
          f"{harness_rps:.1f} | {100 * harness_rps / ideal:.1f}% of {ideal:.0f} | {harness_rps / sequential_rps:.1f} |")
    print(f"| sequential (authors' scripts) | {len(bodies)} | {sequential_s:.2f} | {sequential_rps:.1f} | "
          f"{100 * sequential_rps / (1 / args.latency):.1f}% of {1 / args.latency:.0f} | 1.0 |")
    print(f"\nharness client CPU: {1000 * harness_cpu / len(requests):.2f} ms per request "
          f"({100 * harness_cpu / harness_s:.0f}% of one core); failed replies: {failed}")


if __name__ == "__main__":
    main()
