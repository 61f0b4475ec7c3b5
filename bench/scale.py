"""How `harness run` scales with the number of rows: memory, first-record latency, resume and cache, vs a plain loop.

    python bench/scale.py [--sizes 1000,10000,100000] [--hf-sizes 100,500,2000] [--repeat 3] [--quick]

Every measured run is its own subprocess, so peak RSS (`os.wait4`'s ru_maxrss of that one child) and wall
time include interpreter start-up for both sides, as a user would see them:
- plain loop: `python bench/scale.py --loop DATA OUT`, the least a script can do per row (read the JSONL
  line by line, format the prompt, a hash-picked reply like the scripted judge's, check it, write and flush
  one JSON line, count);
- harness: `python -m harness run --model scripted --model-args needs_media=false` on the same rows
  (the scripted judge then never opens an image, so the rows point at 16 small JPEGs):
  cold cache; `--resume` of the finished run; SIGKILL once its samples file holds N/2 lines, then
  `--resume` (checked exact: same metrics as the cold run, every id once); a warm-cache rerun; `--no-cache`;
  and, up to 10k rows, a warm-cache rerun and `--no-cache` with a judge taking 1 ms a call (`delay=`);
- the tiny random `hf` judge (reward.testing.tiny_models llava_onevision, max_new_tokens=8) with one 8x8
  JPEG per row, `--no-cache`: peak RSS and wall.
Rows are synthetic VL-RewardBench GitHub-layout rows with distinct queries (so no two prompts share a cache
key). Figures are medians over --repeat; only the CLI is used, so this runs against any runner version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tasks" / "prompts" / "vlrewardbench_unifiedreward.txt"
FOLDERS = ("rlaif-v", "povid", "rlhf-v", "reasoning_tasks", "wildvision-battle", "vlfeedback")
REPLIES = ("Overall Judgment: Answer 1 is better.", "Overall Judgment: Answer 2 is better.")
SAMPLES_FILE = "vlrewardbench.samples.jsonl"


# ---- data ----------------------------------------------------------------------------------------------
def write_image(path: Path, seed: int) -> None:
    from PIL import Image  # only the parent needs PIL (it writes the data once)

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (seed % 251, (seed * 7) % 251, (seed * 13) % 251)).save(path, "JPEG")


def make_data(root: Path, n: int, image_files: int | None) -> Path:
    """n rows in the GitHub layout; `image_files` distinct JPEGs shared round-robin (None: one per row)."""
    root.mkdir(parents=True)
    files = n if image_files is None else min(n, image_files)
    with open(root / "data.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            folder = FOLDERS[i % len(FOLDERS)]
            f.write(json.dumps({"id": f"row-{i}", "image_path": f"images/{folder}/img-{i % files}.jpg",
                                "query": f"What is shown in picture {i}?",
                                "response": [f"A cat, number {i}.", f"A dog, number {i}."],
                                "human_ranking": [0, 1] if i % 3 else [1, 0]}) + "\n")
    for i in range(files):
        for folder in {FOLDERS[j % len(FOLDERS)] for j in range(i, n, files)}:
            write_image(root / "images" / folder / f"img-{i}.jpg", i)
    return root


# ---- the plain loop (runs as `--loop DATA OUT` in a child) ---------------------------------------------
def plain_loop(data: Path, out: Path) -> None:
    template = TEMPLATE.read_text(encoding="utf-8")
    correct = total = 0
    with open(data / "data.jsonl", encoding="utf-8") as rows, open(out, "w", encoding="utf-8") as f:
        for line in rows:
            row = json.loads(line)
            keep = int(hashlib.sha256(row["id"].encode()).hexdigest(), 16) % 2 == 0
            r1, r2 = row["response"] if keep else row["response"][::-1]
            prompt = template.format(Query=row["query"], R1=r1, R2=r2)
            output = REPLIES[hashlib.sha256(prompt.encode()).digest()[0] % 2]
            answer = "Answer 1 is better" if keep == (row["human_ranking"][0] == 0) else "Answer 2 is better"
            ok = answer in output
            correct += ok
            total += 1
            f.write(json.dumps({"id": row["id"], "output": output, "correct": ok}) + "\n")
            f.flush()
    print(json.dumps({"accuracy": correct / max(total, 1)}))


# ---- one measured child ----------------------------------------------------------------------------------
@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    first_record_s: float | None
    lines: int  # lines in the samples file when it ended
    killed: bool


class SamplesWatcher:
    """Counts the lines of `<output>/<run>/vlrewardbench.samples.jsonl` as they appear, reading only new bytes."""

    def __init__(self, output: Path, skip: set[Path]):
        self.output = output
        self.skip = skip  # run directories that existed before (a resumed run appends to one of them)
        self.path: Path | None = None
        self.offset = 0
        self.lines = 0

    def poll(self) -> int:
        if self.path is None:
            found = [p for p in self.output.glob(f"*/{SAMPLES_FILE}") if p.parent not in self.skip]
            if not found:
                return 0
            self.path = found[0]
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk.rfind(b"\n") + 1  # a half-written last line is counted once it is finished
        self.lines += chunk.count(b"\n", 0, complete)
        self.offset += complete
        return self.lines


def measure(cmd: list[str], output: Path | None = None, kill_at: int | None = None,
            env: dict[str, str] | None = None) -> Measured:
    """Run `cmd`, polling its samples file (if `output`) for the first record and for `kill_at` lines."""
    watcher = SamplesWatcher(output, set()) if output is not None else None
    if watcher is not None and output is not None and output.exists():
        watcher.skip = {p.parent for p in output.glob(f"*/{SAMPLES_FILE}")}
        # A resumed run appends to the old file: watch it from its current end.
        if kill_at is None and watcher.skip:
            watcher.path = max(output.glob(f"*/{SAMPLES_FILE}"), key=lambda p: p.stat().st_mtime)
            watcher.offset = watcher.path.stat().st_size
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first: float | None = None
    killed = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if watcher is not None:
            lines = watcher.poll()
            if first is None and lines:
                first = time.perf_counter() - start
            if kill_at is not None and lines >= kill_at and not killed:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
        time.sleep(0.002)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0 and not killed:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-2000:]}")
    lines = watcher.poll() if watcher is not None else 0
    if first is None and lines:
        first = wall  # finished between two polls
    return Measured(wall, usage.ru_maxrss / 1024, first, lines, killed)


def harness_cmd(data: Path, output: Path, cache: Path, *extra: str, model_args: str = "needs_media=false",
                model: str = "scripted") -> list[str]:
    return [sys.executable, "-m", "harness", "run", "--tasks", "vlrewardbench", "--model", model,
            "--model-args", model_args, "--data-dir", str(data), "--output", str(output),
            "--cache-path", str(cache), "-q", *extra]


def run_metrics(output: Path) -> tuple[dict, list[str]]:
    """The newest run's metrics and the ids of its samples file, in order."""
    run_dir = max((p.parent for p in output.glob("*/results.json")), key=lambda p: p.stat().st_mtime)
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    with open(run_dir / SAMPLES_FILE, encoding="utf-8") as f:
        ids = [json.loads(line)["id"] for line in f]
    return results["tasks"]["vlrewardbench"]["metrics"], ids


# ---- one size, one repeat ----------------------------------------------------------------------------------
@dataclass
class ScriptedFigures:
    loop: list[Measured] = field(default_factory=list)
    cold: list[Measured] = field(default_factory=list)
    resume_done: list[Measured] = field(default_factory=list)
    killed: list[Measured] = field(default_factory=list)
    resume_killed: list[Measured] = field(default_factory=list)
    warm: list[Measured] = field(default_factory=list)
    no_cache: list[Measured] = field(default_factory=list)
    exact: list[bool] = field(default_factory=list)
    # the same two with a judge that takes JUDGE_MS per call (sizes up to SLOW_MAX only)
    warm_slow: list[Measured] = field(default_factory=list)
    no_cache_slow: list[Measured] = field(default_factory=list)


#: A scripted judge answers in ~10 µs, about what a cache hit costs, so a warm cache cannot beat `--no-cache`
#: with it; with a judge of 1 ms a call (far faster than any real VLM) the cache's value shows.
JUDGE_MS = 1.0
SLOW_MAX = 10_000


def scripted_repeat(work: Path, data: Path, n: int, figures: ScriptedFigures) -> None:
    figures.loop.append(measure([sys.executable, str(Path(__file__).resolve()), "--loop", str(data),
                                 str(work / "loop.jsonl")]))
    cold_out, cache = work / "cold", work / "cold.sqlite"
    figures.cold.append(measure(harness_cmd(data, cold_out, cache), cold_out))
    figures.resume_done.append(measure(harness_cmd(data, cold_out, cache, "--resume"), cold_out))
    cold_metrics, cold_ids = run_metrics(cold_out)

    kill_out, kill_cache = work / "killed", work / "killed.sqlite"
    figures.killed.append(measure(harness_cmd(data, kill_out, kill_cache), kill_out, kill_at=n // 2))
    figures.resume_killed.append(measure(harness_cmd(data, kill_out, kill_cache, "--resume"), kill_out))
    kill_metrics, kill_ids = run_metrics(kill_out)
    figures.exact.append(kill_metrics == cold_metrics and sorted(kill_ids) == sorted(cold_ids)
                         and len(set(kill_ids)) == n)

    figures.warm.append(measure(harness_cmd(data, work / "warm", cache), work / "warm"))
    figures.no_cache.append(measure(harness_cmd(data, work / "nocache", work / "unused.sqlite", "--no-cache"),
                                    work / "nocache"))
    if n <= SLOW_MAX:
        slow = f"needs_media=false,delay={JUDGE_MS / 1000}"
        slow_cache = work / "slow.sqlite"
        measure(harness_cmd(data, work / "slow-cold", slow_cache, model_args=slow), work / "slow-cold")
        figures.warm_slow.append(measure(harness_cmd(data, work / "slow-warm", slow_cache, model_args=slow),
                                         work / "slow-warm"))
        figures.no_cache_slow.append(measure(harness_cmd(data, work / "slow-nocache", work / "unused.sqlite",
                                                         "--no-cache", model_args=slow), work / "slow-nocache"))


# ---- tables ----------------------------------------------------------------------------------------------
def med(values: list[float]) -> float:
    return statistics.median(values)


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def scripted_table(results: dict[int, ScriptedFigures]) -> list[str]:
    sizes = list(results)
    lines = ["| what | " + " | ".join(size_label(n) for n in sizes) + " |", "|---|" + "---:|" * len(sizes)]

    def row(name: str, cell) -> None:
        lines.append(f"| {name} | " + " | ".join(cell(results[n], n) for n in sizes) + " |")

    def wall(ms: list[Measured]) -> float:
        return med([m.wall_s for m in ms])

    def rss(ms: list[Measured]) -> float:
        return med([m.peak_rss_mb for m in ms])

    smallest = rss(results[sizes[0]].cold)
    row("peak RSS, plain loop", lambda f, n: f"{rss(f.loop):,.0f} MB")
    row("peak RSS, harness cold cache (× loop; × smallest size)", lambda f, n: (
        f"{rss(f.cold):,.0f} MB ({rss(f.cold) / rss(f.loop):.1f}×; {rss(f.cold) / smallest:.2f}×)"))
    row("wall, plain loop", lambda f, n: f"{wall(f.loop):.2f} s")
    row("wall, harness cold cache (× loop)", lambda f, n: f"{wall(f.cold):.2f} s ({wall(f.cold) / wall(f.loop):.1f}×)")
    row("first record written, harness cold", lambda f, n: f"{med([m.first_record_s or 0.0 for m in f.cold]):.2f} s")
    row("`--resume` of the finished run (% of cold)",
        lambda f, n: f"{wall(f.resume_done):.2f} s ({100 * wall(f.resume_done) / wall(f.cold):.0f}%)")
    row("SIGKILL at ~50%: records on disk at the kill",
        lambda f, n: f"{med([m.lines for m in f.killed]):,.0f} / {n:,}")
    row("`--resume` after that kill (% of cold)",
        lambda f, n: f"{wall(f.resume_killed):.2f} s ({100 * wall(f.resume_killed) / wall(f.cold):.0f}%)")
    row("kill + resume exact (metrics, ids)", lambda f, n: "yes" if all(f.exact) else "NO")
    row("warm-cache rerun (× `--no-cache`)",
        lambda f, n: f"{wall(f.warm):.2f} s ({wall(f.warm) / wall(f.no_cache):.2f}×)")
    row("`--no-cache` run", lambda f, n: f"{wall(f.no_cache):.2f} s")
    row(f"judge of {JUDGE_MS:g} ms a call: warm-cache rerun (× `--no-cache`)", lambda f, n: (
        f"{wall(f.warm_slow):.2f} s ({wall(f.warm_slow) / wall(f.no_cache_slow):.2f}×)" if f.warm_slow else "-"))
    return lines


def hf_table(results: dict[int, list[Measured]]) -> list[str]:
    sizes = list(results)
    lines = ["| what | " + " | ".join(str(n) for n in sizes) + " |", "|---|" + "---:|" * len(sizes)]
    rss = {n: med([m.peak_rss_mb for m in ms]) for n, ms in results.items()}
    wall = {n: med([m.wall_s for m in ms]) for n, ms in results.items()}
    lines.append("| peak RSS, harness `hf` tiny judge | " + " | ".join(f"{rss[n]:,.0f} MB" for n in sizes) + " |")
    lines.append("| × smallest size | " + " | ".join(f"{rss[n] / rss[sizes[0]]:.2f}×" for n in sizes) + " |")
    lines.append("| wall | " + " | ".join(f"{wall[n]:.1f} s" for n in sizes) + " |")
    if len(sizes) > 1:
        slope = (rss[sizes[-1]] - rss[sizes[0]]) / (sizes[-1] - sizes[0])
        lines.append(f"\nRSS growth from {sizes[0]} to {sizes[-1]} samples: {1024 * slope:.1f} KB per sample.")
    return lines


# ---- main ------------------------------------------------------------------------------------------------
def sizes_arg(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if sizes and min(sizes) < 2:
        raise argparse.ArgumentTypeError(f"sizes must be integers >= 2, got {text!r}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=sizes_arg, default=[1000, 10000, 100000])
    parser.add_argument("--hf-sizes", type=sizes_arg, default=[100, 500, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="sizes 1k,10k; hf 100,300; repeat 1")
    parser.add_argument("--loop", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop:
        plain_loop(Path(args.loop[0]), Path(args.loop[1]))
        return
    if args.quick:
        args.sizes, args.hf_sizes, args.repeat = [1000, 10000], [100, 300], 1
    if not args.sizes:
        parser.error("--sizes needs at least one size (an empty --hf-sizes skips the hf part)")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scripted: dict[int, ScriptedFigures] = {}
        for n in args.sizes:
            data = make_data(root / f"data-{n}", n, image_files=16)
            scripted[n] = ScriptedFigures()
            for r in range(args.repeat):
                work = root / f"scripted-{n}-{r}"
                work.mkdir()
                scripted_repeat(work, data, n, scripted[n])
            print(f"[scripted {n}: done at {time.perf_counter() - started:.0f} s]", file=sys.stderr)

        hf: dict[int, list[Measured]] = {}
        if args.hf_sizes:
            tiny = root / "tiny-llava"
            subprocess.run([sys.executable, "-m", "reward.testing.tiny_models", "llava_onevision", str(tiny)],
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            for n in args.hf_sizes:
                data = make_data(root / f"hf-data-{n}", n, image_files=None)
                hf[n] = []
                for r in range(args.repeat):
                    out = root / f"hf-{n}-{r}"
                    hf[n].append(measure(harness_cmd(data, out, root / "unused.sqlite", "--no-cache", model="hf",
                                                     model_args=f"pretrained={tiny},max_new_tokens=8"), out))
                print(f"[hf {n}: done at {time.perf_counter() - started:.0f} s]", file=sys.stderr)

    print(f"Synthetic VL-RewardBench rows, scripted judge without media, median of {args.repeat}, "
          f"{os.cpu_count()} CPU(s); every figure is one `python ...` subprocess\n")
    print("\n".join(scripted_table(scripted)))
    if hf:
        print(f"\nTiny random `hf` judge (LLaVA-OneVision layout, max_new_tokens=8), one 8x8 JPEG per row, "
              f"`--no-cache`, median of {args.repeat}\n")
        print("\n".join(hf_table(hf)))
    print(f"\nbenchmark wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
