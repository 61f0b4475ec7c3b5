"""The runner's own overhead per sample on VL-RewardBench's 1,250 items, judged by replayed replies.

    python bench/runner_overhead.py [--repeats 3]

Compares, in the same process:
- baseline: the authors' evaluation loop with the model call removed (order draw, prompt formatting,
  substring check, counts) plus one JSON line written per sample, i.e. the least a script can do;
- harness/replay: `harness.runner.run` with the replay adapter (no media, no cache): load, requests,
  parse, samples.jsonl append+flush per sample, scoring, 1,000 bootstrap replicates, results.json;
- harness/scripted: the same with a judge that reads and checks every image and goes through the
  SQLite cache (cold: all misses; warm: all hits).
Uses the real annotations from ../shared/fixtures when present (synthetic rows otherwise) and 8x8
synthetic JPEGs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from harness.runner import RunOptions, run  # noqa: E402
from reward.replay import ReplayAdapter  # noqa: E402
from reward.scripted import ScriptedAdapter  # noqa: E402
from tasks.templates import load_template  # noqa: E402
from tasks.vlrewardbench import VLRewardBench  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "vlrewardbench" / "data.jsonl"


def make_data(root: Path) -> Path:
    data = root / "data"
    data.mkdir()
    if FIXTURE.exists():
        lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    else:
        lines = [json.dumps({"id": f"RLAIF-{i}", "image_path": f"images/rlaif-v/RLAIF-{i}.jpg", "query": "q",
                             "response": ["a", "b"], "human_ranking": [0, 1]}) for i in range(1250)]
    (data / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for i, line in enumerate(lines):
        path = data / json.loads(line)["image_path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i % 251, 0, 0)).save(path, "JPEG")
    return data


def baseline(data: Path, out: Path) -> float:
    """The reference script's loop minus the model: what any evaluation must do per sample."""
    start = time.perf_counter()
    template = load_template("vlrewardbench_unifiedreward.txt")
    rows = [json.loads(line) for line in (data / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    random.seed(0)
    correct = 0
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            keep = random.choices([True, False])[0]
            r1, r2 = row["response"] if keep else row["response"][::-1]
            template.format(Query=row["query"], R1=r1, R2=r2)
            answer = "Answer 1 is better" if keep == (row["human_ranking"][0] == 0) else "Answer 2 is better"
            output = "Overall Judgment: Answer 1 is better."
            correct += answer in output
            f.write(json.dumps({"id": row["id"], "output": output, "correct": answer in output}) + "\n")
            f.flush()
    return time.perf_counter() - start


def timed_run(data: Path, output: Path, adapter, use_cache: bool, cache_path: Path) -> float:
    start = time.perf_counter()
    run(RunOptions(tasks=["vlrewardbench"], model=adapter.name, data_dir=data, output=output,
                   use_cache=use_cache, cache_path=cache_path, progress=False), adapter=adapter)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_data(root)
        task = VLRewardBench()
        samples = task.load(task.config("strict", 0, None, data)).samples
        n = len(samples)
        replies = root / "replies.jsonl"
        replies.write_text("".join(json.dumps({"id": s.id, "response": "Overall Judgment: Answer 1 is better."})
                                   + "\n" for s in samples), encoding="utf-8")
        rows: dict[str, list[float]] = {"baseline (script loop, no model)": [], "harness / replay": [],
                                        "harness / scripted, media + cache cold": [],
                                        "harness / scripted, media + cache warm": []}
        for r in range(args.repeats):
            rows["baseline (script loop, no model)"].append(baseline(data, root / f"baseline{r}.jsonl"))
            rows["harness / replay"].append(
                timed_run(data, root / "runs", ReplayAdapter(str(replies)), False, root / "unused.sqlite"))
            cache = root / f"cache{r}.sqlite"
            rows["harness / scripted, media + cache cold"].append(
                timed_run(data, root / "runs", ScriptedAdapter(), True, cache))
            rows["harness / scripted, media + cache warm"].append(
                timed_run(data, root / "runs", ScriptedAdapter(), True, cache))
        base = statistics.median(rows["baseline (script loop, no model)"])
        print(f"VL-RewardBench, {n} samples, median of {args.repeats} runs, {os.cpu_count()} CPU(s)\n")
        print("| path | total s | ms / sample | × baseline |")
        print("|---|---:|---:|---:|")
        for name, times in rows.items():
            t = statistics.median(times)
            print(f"| {name} | {t:.3f} | {1000 * t / n:.3f} | {t / base:.1f} |")


if __name__ == "__main__":
    main()
