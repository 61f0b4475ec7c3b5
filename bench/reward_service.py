"""The reward service (`harness serve`) scoring Flow-GRPO-style groups, vs the clients RL code uses today.

    python bench/reward_service.py [--group 64] [--sizes 64,512] [--fault-size 512] [--latency 0.1]
                                   [--concurrency 16,64] [--formats png,jpeg] [--repeat 3] [--fault-rate 0.2]
                                   [--load-clients 8] [--load-items 500] [--load-seconds 120] [--skip-load]

Three processes: the local OpenAI-compatible test server (reward.testing.serve) answering every chat request
after `--latency` seconds, the reward service (`harness serve --model openai --model-args base_url=<test
server>`, the same entry point as the CLI) and this script's clients, so no two share a GIL. Each client scores
a group of `--group` images (each of `--sizes` px, synthetic pictures with light noise, one caption) end to end
from the arrays, each encoding images the way its code does:
- service: what `flow_grpo_reward` does: `encode_media` (the images encoded several at a time, as PNG or as JPEG
  q95: `--formats`), one `RewardClient.pointwise` request for the group -> the service's bounded batches -> the
  `openai` adapter at `--concurrency` C -> the test server;
- Flow-GRPO: our re-creation of `flow_grpo/rewards.py` `unifiedreward_score_sglang`: every image resized to
  512x512 and PNG'd, one chat request per image, all at once (`asyncio.gather`, no bound), the openai SDK's
  retry policy (2 retries of 408/409/429/5xx and connection errors, backoff 0.5 s x 2^n capped at 8 s,
  honouring Retry-After), `Final Score:\\s*([1-5](?:\\.\\d+)?)`, and 0.0 when it does not match;
- authors: CodeGoat24/UnifiedReward `vllm_qwen/vllm_request.py` `evaluate_batch` as bench/openai_throughput.py
  re-creates it (a 16-thread pool, JPEG q95, 10 retries of anything with 2^n s sleeps), then the same regex
  and the same 0.0.
The test server's replies hold both the UnifiedReward-2.0 dimension scores (what the service's template reads)
and a `Final Score:` line (what the baselines read). Figures: median seconds per group over `--repeat` groups,
requests/s (images/s), and for the service its share of the ideal C / latency.

Then with faults: `--fault-rate` of the server's answers are injected faults (429, 500, a 1 s hang, truncated
JSON, empty content, in equal shares), and one of the server's five reply candidates, which it picks by a hash
of the request body, is unreadable ("I cannot rate this image."). For each client: items ok, items reported
failed (the service's `ok: false` with its reason), items silently 0.0 (a baseline's failure default, which
goes into its reward list like a score), and items that raise (Flow-GRPO's `gather` has no
`return_exceptions`: one raise loses the whole group). The service's rows are checked
against the raw replies it returns: an ok item's value is the mean of the reply's three scores, a failed
item's value is null.

Last, the load test (bench/reward_service_load.py): `--load-clients` clients x `--load-items` items against a
service with a small queue, for at most `--load-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import random
import re
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench.openai_throughput import AuthorsClient, AuthorsItem, encode_like_authors  # noqa: E402
from harness.serve.client import RewardClient, encode_media, encode_pixels  # noqa: E402
from reward.testing.serve import start_server_process, stop_server_process  # noqa: E402

SCORED = [(4, 3, 5, 4), (2, 4, 3, 3), (5, 5, 4, 5), (3, 2, 2, 2)]
REPLIES = [f"Alignment Score (1-5): {a}\nCoherence Score (1-5): {c}\nStyle Score (1-5): {s}\nFinal Score: {f}"
           for a, c, s, f in SCORED]
UNREADABLE = "I cannot rate this image."
FINAL_SCORE = re.compile(r"Final Score:\s*([1-5](?:\.\d+)?)")  # flow_grpo/rewards.py `_extract_scores`
DIMENSIONS = re.compile(r"(Alignment|Coherence|Style) Score \(1-5\):\s*([0-5](?:\.\d+)?)")
CAPTION = "a red fox sitting in a snowy forest at dawn"
FLOW_GRPO_QUESTION = ("<image>\nYou are given a text caption and a generated image based on that caption. Your task is "
                      "to evaluate this image ... assign a score from 1 to 5 after 'Final Score:'.\nYour task is "
                      "provided as follows:\nText Caption: [{prompt}]")
READY = re.compile(r"reward service on (http://\S+?):? ")


# ---- processes -----------------------------------------------------------------------------------------------

def start_service(judge_url: str, concurrency: int, extra: Sequence[str] = (),
                  timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """`python -m harness serve` in its own process; (process, URL) once it listens."""
    argv = [sys.executable, "-m", "harness", "serve", "--model", "openai", "--model-args", f"base_url={judge_url}",
            "--port", "0", "--concurrency", str(concurrency), "--no-cache", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    assert proc.stdout is not None
    deadline, seen = time.monotonic() + timeout, b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            match = READY.search(seen.decode("utf-8", "replace"))
            if match:
                return proc, match.group(1)
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"the reward service did not start: {seen.decode('utf-8', 'replace')[-2000:]}")
            if selector.select(0.2):
                chunk = os.read(proc.stdout.fileno(), 65536)
                seen += chunk


def stop_service(proc: subprocess.Popen) -> None:
    stop_server_process(proc, timeout=30.0)  # the service drains its in-flight items before it exits


def peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident memory (Linux VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# ---- data ----------------------------------------------------------------------------------------------------

def make_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """`n` smooth synthetic pictures (gradients, a disc, light noise): PNGs of a realistic size, all distinct."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
        disc = ((x - cx) ** 2 + (y - cy) ** 2 < r * r)
        base = np.stack([x * rng.uniform(80, 255), y * rng.uniform(80, 255), (1 - x) * rng.uniform(80, 255)], -1)
        base[disc] = rng.uniform(0, 255, 3)
        out[i] = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    return out


def png_kb(images: np.ndarray) -> float:
    return len(encode_pixels(images[0])) / 1024  # as the service's client sends it


# ---- the clients ---------------------------------------------------------------------------------------------

@dataclass
class Tally:
    """One group's outcome for one client."""

    seconds: float
    ok: int = 0
    reported: int = 0
    defaulted: int = 0  # a failure turned into 0.0
    raised: int = 0
    mismatched: int = 0  # service only: a value that does not match its raw reply


def service_group(client: RewardClient, images: np.ndarray, image_format: str) -> Tally:
    """What `flow_grpo_reward` does (its images encoded several at a time, one request for the group), with the raw
    replies asked for so that every value can be checked against the reply it came from."""
    start = time.perf_counter()
    media = encode_media(list(images), image_format)
    result = client.pointwise([(CAPTION, m) for m in media], return_raw=True)
    tally = Tally(time.perf_counter() - start)
    for item in result.items:
        scores = [float(v) for _, v in DIMENSIONS.findall(item.raw or "")]
        if item.ok:
            tally.ok += 1
            if len(scores) != 3 or item.value is None or abs(item.value - sum(scores) / 3) > 1e-9:
                tally.mismatched += 1
        else:
            tally.reported += 1
            if item.value is not None or not item.reason:
                tally.defaulted += 1
    return tally


class FlowGRPOClient:
    """Flow-GRPO's `unifiedreward_score_sglang._fn` re-created over aiohttp with the openai SDK's retries."""

    max_retries = 2
    retry_statuses = frozenset({408, 409, 429}) | frozenset(range(500, 600))

    def __init__(self, base_url: str, model: str):
        self.base_url, self.model = base_url, model

    @staticmethod
    def image_url(image: np.ndarray) -> str:
        buffer = io.BytesIO()
        Image.fromarray(image).resize((512, 512)).save(buffer, format="PNG")
        # Theirs is "data:image;base64,..." (SGLang takes it); the test server wants the subtype, as OpenAI does.
        return f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('utf-8')}"

    async def evaluate(self, session: Any, prompt: str, image: np.ndarray) -> str:
        import aiohttp

        body = {"model": self.model, "temperature": 0, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": self.image_url(image)}},
            {"type": "text", "text": FLOW_GRPO_QUESTION.format(prompt=prompt)}]}]}
        for attempt in range(self.max_retries + 1):
            try:
                async with session.post(f"{self.base_url}/chat/completions", json=body) as resp:
                    raw = await resp.read()
                    if resp.status in self.retry_statuses and attempt < self.max_retries:
                        after = resp.headers.get("Retry-After")
                        await asyncio.sleep(float(after) if after else min(0.5 * 2 ** attempt, 8.0))
                        continue
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}")
                    import json

                    return json.loads(raw)["choices"][0]["message"]["content"]  # truncated JSON raises here
            except aiohttp.ClientError:
                if attempt == self.max_retries:
                    raise
                await asyncio.sleep(min(0.5 * 2 ** attempt, 8.0))
        raise RuntimeError("retries exhausted")

    def group(self, images: np.ndarray, prompt: str) -> Tally:
        import aiohttp

        async def run() -> list[Any]:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(600)) as session:
                # return_exceptions=True only to count them: Flow-GRPO's gather raises the first one.
                return await asyncio.gather(*[self.evaluate(session, prompt, im) for im in images],
                                            return_exceptions=True)

        start = time.perf_counter()
        outputs = asyncio.run(run())
        tally = Tally(time.perf_counter() - start)
        for output in outputs:
            if isinstance(output, BaseException):
                tally.raised += 1
            elif FINAL_SCORE.search(output or ""):
                tally.ok += 1
            else:
                tally.defaulted += 1  # their `scores.append(0.0)`
        return tally


def authors_group(client: AuthorsClient, images: np.ndarray, prompt: str, work: Path) -> Tally:
    start = time.perf_counter()
    items = [AuthorsItem(i, prompt, [encode_like_authors(Image.fromarray(im))]) for i, im in enumerate(images)]
    results = client.evaluate_batch(items, work / "authors.jsonl")
    tally = Tally(time.perf_counter() - start)
    for row in results:
        if row["success"] and FINAL_SCORE.search(row.get("model_output") or ""):
            tally.ok += 1
        else:
            tally.defaulted += 1
    return tally


# ---- one run: a server, a service, the three clients --------------------------------------------------------

@dataclass
class Row:
    client: str
    tallies: list[Tally]
    ideal_rps: float | None = None

    @property
    def seconds(self) -> float:
        return statistics.median(t.seconds for t in self.tallies)

    def total(self, name: str) -> int:
        return sum(getattr(t, name) for t in self.tallies)


def run_clients(args: argparse.Namespace, images: np.ndarray, server: dict[str, Any], work: Path) -> list[Row]:
    proc, base_url = start_server_process(latency=args.latency, **server)
    rows: list[Row] = []
    try:
        for concurrency in args.concurrency:
            service, url = start_service(base_url, concurrency)
            try:
                with RewardClient(url, timeout=600) as client:
                    service_group(client, images[:2], "png")  # warm: the adapter's connections, the first batch
                    for image_format in args.formats:
                        tallies = [service_group(client, images, image_format) for _ in range(args.repeat)]
                        rows.append(Row(f"reward service, concurrency {concurrency}, {image_format.upper()}",
                                        tallies, concurrency / args.latency))
            finally:
                stop_service(service)
        flow = FlowGRPOClient(base_url, "testserver-judge")
        flow.group(images[:2], CAPTION)  # warm: imports, the event loop's first run
        rows.append(Row("Flow-GRPO: asyncio.gather, one request per image, PNG", [
            flow.group(images, CAPTION) for _ in range(args.repeat)]))
        authors = AuthorsClient(base_url, "testserver-judge", workers=16)
        authors_group(authors, images[:2], CAPTION, work)  # warm: `requests`, the sessions
        rows.append(Row("authors' client: 16-thread pool, JPEG q95", [
            authors_group(authors, images, FLOW_GRPO_QUESTION.format(prompt=CAPTION), work)
            for _ in range(args.repeat)]))
    finally:
        stop_server_process(proc)
    return rows


def speed_table(rows: list[Row], n: int) -> list[str]:
    lines = ["| client | images | s / group (median) | images/s | share of ideal C/L | not scored |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        rps = n / row.seconds
        share = f"{100 * rps / row.ideal_rps:.0f}% of {row.ideal_rps:.0f}" if row.ideal_rps else "-"
        missing = row.total("reported") + row.total("defaulted") + row.total("raised")
        lines.append(f"| {row.client} | {n} | {row.seconds:.2f} | {rps:.0f} | {share} | {missing} |")
    return lines


def fault_table(rows: list[Row], n: int) -> list[str]:
    lines = ["| client | items | ok | reported failed | silently 0.0 | raised | s / group (median) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        items = n * len(row.tallies)
        lines.append(f"| {row.client} | {items} | {row.total('ok')} | {row.total('reported')} | "
                     f"{row.total('defaulted')} | {row.total('raised')} | {row.seconds:.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--group", type=int, default=64, help="images per group (Flow-GRPO's batch)")
    parser.add_argument("--sizes", default="64,512", help="image sides in pixels, comma-separated (no-fault runs)")
    parser.add_argument("--fault-size", type=int, default=512, help="image side of the run with faults")
    parser.add_argument("--latency", type=float, default=0.1, help="the test server's seconds per request")
    parser.add_argument("--concurrency", default="16,64", help="the service's --concurrency values, comma-separated")
    parser.add_argument("--formats", default="png,jpeg", help="how the service's client encodes images: png "
                                                              "(lossless, the default), jpeg (q95, as the authors')")
    parser.add_argument("--repeat", type=int, default=3, help="groups per client (the median is shown)")
    parser.add_argument("--fault-rate", type=float, default=0.2, help="share of the server's answers that are faults")
    parser.add_argument("--load-clients", type=int, default=8)
    parser.add_argument("--load-items", type=int, default=500)
    parser.add_argument("--load-seconds", type=float, default=120.0)
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    random.seed(0)
    print(f"Flow-GRPO-style groups of {args.group} images, one caption; test server latency {args.latency * 1000:.0f} "
          f"ms, its own process; the reward service in its own process; median of {args.repeat} groups; "
          f"{os.cpu_count()} CPU(s)")
    checked = defaulted = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in [int(x) for x in args.sizes.split(",") if x.strip()]:
            images = make_images(args.group, size)
            clean = run_clients(args, images, {"replies": tuple(REPLIES)}, work)
            checked += sum(r.total("mismatched") for r in clean)
            print(f"\nNo faults, {size}x{size} images (~{png_kb(images):.0f} KB each as PNG)\n")
            print("\n".join(speed_table(clean, args.group)))
        images = make_images(args.group, args.fault_size)
        faults = {"replies": (*REPLIES, UNREADABLE), "fault_rate": args.fault_rate, "hang_seconds": 1.0, "seed": 1}
        faulty = run_clients(args, images, faults, work)
        service_rows = [r for r in faulty if r.ideal_rps is not None]
        checked += sum(r.total("mismatched") for r in faulty)
        defaulted = sum(r.total("defaulted") for r in service_rows)
        side = f"{args.fault_size}x{args.fault_size}"
        print(f"\nWith faults, {side} images: {args.fault_rate:.0%} of the server's answers are injected faults (429, "
              f"500, 1 s hang, truncated JSON, empty content), and one of its five reply candidates (picked by a "
              f"hash of the request body) is unreadable\n")
        print("\n".join(fault_table(faulty, args.group)))
        print(f"\nService items checked against their raw replies: {checked} ok value(s) not the mean of the reply's "
              f"scores, {defaulted} failed item(s) with a value or without a reason")
    if not args.skip_load:
        from bench.reward_service_load import run_load

        print("\n" + "\n".join(run_load(args.load_clients, args.load_items, args.latency, args.load_seconds)))


if __name__ == "__main__":
    main()
