"""`hf` adapter: batched generation vs one sample at a time (how the authors' scripts call the judge).

    python bench/hf_batching.py [--samples 48] [--new-tokens 128] [--batch-sizes 1,8,16] [--model llava_onevision]

Same VL-RewardBench requests (real annotations when ../shared is present, 8x8 synthetic images) through
a tiny random-weight judge built from a config (reward.testing.tiny_models), greedy, in one process. Reports
samples/s per batch size, the ratio to batch size 1, and whether every generated text is identical to
the batch-1 text. `--new-tokens` matters: judges write a rationale before the verdict (the paper lets
them write up to 4,096 tokens), and decoding is where batching pays; on a CPU the prefill of a padded
batch runs masked attention, which costs more than unpadded prefill one sample at a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.runner_overhead import make_data  # noqa: E402
from harness.judging import JudgeClient  # noqa: E402
from reward.hf import HFAdapter  # noqa: E402
from reward.testing.tiny_models import save_tiny  # noqa: E402
from tasks.vlrewardbench import VLRewardBench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch-sizes", default="1,8,16")
    parser.add_argument("--model", default="llava_onevision", choices=["llava_onevision", "qwen2_vl"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_data(root)
        checkpoint = save_tiny(args.model, root / "judge")
        task = VLRewardBench()
        cfg = task.config("strict", 0, None, data)
        requests = [r for s in task.load(cfg).samples[: args.samples] for r in task.requests(s, cfg)]
        results: dict[int, tuple[float, dict[str, str]]] = {}
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            adapter = HFAdapter(str(checkpoint), batch_size=batch_size, max_new_tokens=args.new_tokens)
            client = JudgeClient(adapter, cache=None)
            start = time.perf_counter()
            texts = {e.request.key: e.reply.text or "" for e in client.judge(requests)}
            results[batch_size] = (time.perf_counter() - start, texts)
            adapter.close()
        base_time, base_texts = results[min(results)]
        print(f"tiny {args.model}, {len(requests)} VL-RewardBench requests, max_new_tokens={args.new_tokens}, "
              f"greedy, CPU\n")
        print("| batch size | seconds | samples/s | × batch 1 | texts identical to batch 1 |")
        print("|---:|---:|---:|---:|---:|")
        for batch_size, (seconds, texts) in results.items():
            same = sum(texts[k] == base_texts[k] for k in base_texts)
            print(f"| {batch_size} | {seconds:.2f} | {len(requests) / seconds:.1f} | {base_time / seconds:.2f} | "
                  f"{same}/{len(base_texts)} |")


if __name__ == "__main__":
    main()
