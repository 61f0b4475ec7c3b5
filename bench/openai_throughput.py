"""`openai` adapter throughput against the local server, vs a re-creation of the authors' 16-thread client.

    python bench/openai_throughput.py [--requests 960] [--large-requests 240] [--concurrency 16] [--latency 0.1]

The server (reward.testing.serve) runs in its own process so it does not share the clients' GIL. Both
clients send the same VL-RewardBench prompt text with the same concurrency, first with the 8x8 synthetic
JPEGs, then with ~150 KB photo-sized JPEGs (distinct files, so no client can reuse an encoding):
- harness: `JudgeClient` + `OpenAIAdapter(concurrency=N)`, the path `harness run` takes (image file bytes
  sent as they are, read by the media prefetch threads);
- authors: our re-creation of CodeGoat24/UnifiedReward `vllm_qwen/vllm_request.py` (`evaluate_batch`):
  a ThreadPoolExecutor of N workers (their default 16), one `requests.Session` per thread, each image
  opened with PIL, converted to RGB, re-encoded as JPEG quality 95 and base64'd, a JSON body with
  `do_sample: false, max_tokens: 4096`, retries on 429/5xx, results collected with `as_completed` and
  appended to a JSONL file every 20, then sorted by index.
Two measurements:
- in flight: bodies/images already encoded; only sending and receiving (harness: `adapter.generate` on
  prepared requests; authors: their items with the base64 strings already in them);
- end to end, from image files on disk: harness `JudgeClient.judge`; authors two ways, as their
  `benchmark_evaluation/vLLM_evaluation/test_qwen_vlreward_bench.py` does it (every image re-encoded one
  by one in the main loop, then the pool) and as `vllm_request.py` does it for image paths (re-encoded
  inside the workers).
The ideal is concurrency / latency requests per second (160 at 16 and 0.1 s).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bench.runner_overhead import make_data  # noqa: E402
from harness.judging import JudgeClient  # noqa: E402
from harness.records import Request  # noqa: E402
from reward.openai_api import OpenAIAdapter  # noqa: E402
from reward.testing.serve import start_server_process, stop_server_process  # noqa: E402
from tasks.vlrewardbench import VLRewardBench  # noqa: E402

RETRYABLE = {429, 500, 502, 503, 504}


# ---- our re-creation of the authors' client (vllm_qwen/vllm_request.py) -----------------------------------
@dataclass
class AuthorsItem:
    """One entry of their `batched_input`: the prompt text and images (file paths or base64 strings)."""
    idx: int
    problem: str
    images: list[str]


def encode_like_authors(path_or_image: str | Image.Image) -> str:
    """Their `_encode_image`: open, convert to RGB, re-encode as JPEG quality 95, base64."""
    img = Image.open(path_or_image) if isinstance(path_or_image, str) else path_or_image
    with img:
        rgb = img.convert("RGB")
        buffered = BytesIO()
        rgb.save(buffered, format="JPEG", quality=95)
    return base64.b64encode(buffered.getvalue()).decode("utf-8")


class AuthorsClient:
    """A thread pool posting one chat completion per item, the way their `evaluate_batch` does."""

    def __init__(self, api_url: str, model: str, workers: int = 16, timeout_base: float = 60.0,
                 max_retries: int = 10, max_cache_items: int = 1024):
        import requests  # their client's HTTP library; imported here so the harness rows never load it
        from requests.adapters import HTTPAdapter

        self.requests, self.http_adapter = requests, HTTPAdapter
        self.api_url, self.model, self.workers = api_url, model, workers
        self.timeout_base, self.max_retries, self.max_cache_items = timeout_base, max_retries, max_cache_items
        self.local = threading.local()
        self.cache_lock = threading.Lock()
        self.encoded: dict[str, str] = {}

    def session(self) -> Any:
        session = getattr(self.local, "session", None)
        if session is None:  # one Session per worker thread, its pool sized to the worker count
            session = self.requests.Session()
            adapter = self.http_adapter(pool_connections=self.workers, pool_maxsize=self.workers)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self.local.session = session
        return session

    def image_url(self, image: str) -> str:
        if os.path.exists(image):  # a path: re-encoded in this worker, cached by path
            with self.cache_lock:
                cached = self.encoded.get(image)
            if cached is None:
                cached = encode_like_authors(image)
                with self.cache_lock:
                    if len(self.encoded) >= self.max_cache_items:
                        self.encoded.clear()
                    self.encoded[image] = cached
            return f"data:image/jpeg;base64,{cached}"
        return f"data:image/jpeg;base64,{image}"  # already base64 (their VL-RewardBench script's case)

    def process(self, item: AuthorsItem) -> dict[str, Any]:
        for attempt in range(1, self.max_retries + 1):
            try:
                content = [{"type": "image_url", "image_url": {"url": self.image_url(i)}} for i in item.images]
                content.append({"type": "text", "text": item.problem})
                payload = {"model": self.model, "messages": [{"role": "user", "content": content}],
                           "do_sample": False, "max_tokens": 4096}
                response = self.session().post(f"{self.api_url}/chat/completions", json=payload,
                                               timeout=self.timeout_base + attempt * 5)
                if response.status_code in RETRYABLE:
                    raise self.requests.HTTPError(f"Retryable HTTP {response.status_code}", response=response)
                response.raise_for_status()
                return {"idx": item.idx, "model_output": response.json()["choices"][0]["message"]["content"],
                        "success": True}
            except Exception as exc:  # noqa: BLE001 - their client retries on any failure
                if attempt == self.max_retries:
                    return {"idx": item.idx, "error": str(exc), "success": False}
                time.sleep(min(2 ** attempt + random.uniform(0, 1), 10))
        raise AssertionError("unreachable")

    def evaluate_batch(self, items: list[AuthorsItem], output_file: Path, flush_every: int = 20) -> list[dict]:
        results: list[dict] = []
        buffer: list[dict] = []

        def flush() -> None:
            with open(output_file, "a", encoding="utf-8") as f:
                for row in buffer:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            buffer.clear()

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(items)))) as pool:
            futures = [pool.submit(self.process, item) for item in items]
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                results.append(result)
                buffer.append(result)
                if len(buffer) >= flush_every:
                    flush()
        flush()
        results.sort(key=lambda r: r["idx"])
        return results


# ---- data ------------------------------------------------------------------------------------------------
def write_large_images(paths: list[Path]) -> float:
    """Photo-sized noisy JPEGs (~150 KB at 640x480), one per path; returns the mean size in KB."""
    rng = random.Random(0)
    sizes = []
    for i, path in enumerate(paths):
        noise = Image.effect_noise((320, 240), 60).resize((640, 480))
        tint = Image.new("RGB", (640, 480), (rng.randrange(256), rng.randrange(256), i % 256))
        img = Image.blend(Image.merge("RGB", (noise, noise.rotate(90, expand=False), noise)), tint, 0.3)
        img.save(path, "JPEG", quality=90)
        sizes.append(path.stat().st_size)
    return sum(sizes) / len(sizes) / 1024


def prompt_text(request: Request) -> str:
    """The request's text parts joined: the `problem` the authors' client is given."""
    return "".join(p for p in request.parts if isinstance(p, str))


# ---- one image size --------------------------------------------------------------------------------------
@dataclass
class Row:
    client: str
    seconds: float
    failed: int


def compare(requests: list[Request], base_url: str, concurrency: int, work: Path) -> tuple[list[Row], list[Row]]:
    adapter = OpenAIAdapter(base_url=base_url, concurrency=concurrency)
    client = JudgeClient(adapter, cache=None)
    authors = AuthorsClient(base_url, adapter.model, workers=concurrency)
    paths = [str(r.media[0].path) for r in requests]
    texts = [prompt_text(r) for r in requests]

    # in flight: everything encoded beforehand
    prepared = [client.prepare(r) for r in requests]
    start = time.perf_counter()
    replies = list(adapter.generate(iter(prepared)))
    harness_flight = Row(f"harness openai adapter, concurrency {concurrency}", time.perf_counter() - start,
                         sum(not r.ok for r in replies))
    adapter.close()
    items = [AuthorsItem(i, t, [encode_like_authors(p)]) for i, (t, p) in enumerate(zip(texts, paths))]
    start = time.perf_counter()
    results = authors.evaluate_batch(items, work / "authors-flight.jsonl")
    authors_flight = Row(f"authors' client re-created, {concurrency} threads", time.perf_counter() - start,
                         sum(not r["success"] for r in results))

    # end to end from the files
    adapter = OpenAIAdapter(base_url=base_url, concurrency=concurrency)
    client = JudgeClient(adapter, cache=None)
    start = time.perf_counter()
    replies = [e.reply for e in client.judge(requests)]
    harness_e2e = Row(f"harness `JudgeClient.judge`, concurrency {concurrency}", time.perf_counter() - start,
                      sum(not r.ok for r in replies))
    adapter.close()
    start = time.perf_counter()
    items = [AuthorsItem(i, t, [encode_like_authors(p)]) for i, (t, p) in enumerate(zip(texts, paths))]
    results = authors.evaluate_batch(items, work / "authors-script.jsonl")
    authors_script = Row(f"authors' VL-RewardBench script: encode one by one, then {concurrency} threads",
                         time.perf_counter() - start, sum(not r["success"] for r in results))
    authors = AuthorsClient(base_url, adapter.model, workers=concurrency)  # empty encoding cache
    start = time.perf_counter()
    results = authors.evaluate_batch([AuthorsItem(i, t, [p]) for i, (t, p) in enumerate(zip(texts, paths))],
                                     work / "authors-paths.jsonl")
    authors_paths = Row(f"authors' client with image paths (encoded in the {concurrency} threads)",
                        time.perf_counter() - start, sum(not r["success"] for r in results))
    return [harness_flight, authors_flight], [harness_e2e, authors_script, authors_paths]


def table(title: str, rows: list[Row], n: int, ideal: float) -> list[str]:
    base = rows[1].seconds
    lines = [f"\n{title}\n", "| client | requests | seconds | requests/s | share of ideal | × authors' | failed |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        rps = n / row.seconds
        lines.append(f"| {row.client} | {n} | {row.seconds:.2f} | {rps:.1f} | {100 * rps / ideal:.1f}% of "
                     f"{ideal:.0f} | {base / row.seconds:.2f} | {row.failed} |")
    return lines


def indexed(requests: list[Request], n: int) -> list[Request]:
    """`n` requests cycling over the benchmark, with distinct keys when it is shorter than `n`."""
    picked = [requests[i % len(requests)] for i in range(n)]
    return [Request(f"{r.key}#{i}", f"{r.sample_id}#{i}", r.parts, r.generation, r.meta)
            for i, r in enumerate(picked)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=960, help="requests with the 8x8 images")
    parser.add_argument("--large-requests", type=int, default=240, help="requests with ~150 KB images (0: skip)")
    parser.add_argument("--concurrency", type=int, default=16, help="both clients (the authors' default is 16)")
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = make_data(work)
        task = VLRewardBench()
        cfg = task.config("strict", 0, None, data)
        samples = task.load(cfg).samples
        requests = [r for s in samples for r in task.requests(s, cfg)]
        small = indexed(requests, args.requests)
        proc, base_url = start_server_process(latency=args.latency)
        try:
            ideal = args.concurrency / args.latency
            flight, e2e = compare(small, base_url, args.concurrency, work)
            lines += table("8x8 JPEGs, in flight (images already encoded)", flight, len(small), ideal)
            lines += table("8x8 JPEGs, end to end from the image files", e2e, len(small), ideal)
            if args.large_requests:
                large = requests[: min(args.large_requests, len(requests))]
                kb = write_large_images([Path(r.media[0].path) for r in large])
                flight, e2e = compare(large, base_url, args.concurrency, work)
                lines += table(f"{kb:.0f} KB JPEGs (640x480), in flight", flight, len(large), ideal)
                lines += table(f"{kb:.0f} KB JPEGs (640x480), end to end from the image files", e2e, len(large), ideal)
        finally:
            stop_server_process(proc)
    print(f"VL-RewardBench requests (image as a base64 data URL), server latency {args.latency * 1000:.0f} ms, "
          f"concurrency {args.concurrency} for both clients, {os.cpu_count()} CPU(s)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
