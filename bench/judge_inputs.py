"""Cost of building model inputs: the harness's input builder vs the processor's own `__call__`.

    python bench/judge_inputs.py [--requests 200]

For the tiny UnifiedReward-7b and Qwen2.5-VL-7B checkpoints with the real tokenizer and processor
(`reward.testing.tiny_checkpoints`), VL-RewardBench prompts (the real annotations from ../shared when present, else
synthetic text) with a 512x384 image each: milliseconds per request to turn a prepared request into token ids
and pixel arrays (no model). The baseline is what the `hf` adapter did before: `apply_chat_template` and
`processor(images=..., text=...)` on the whole prompt, which is also what the authors' Qwen scripts call.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from harness.records import LoadedMedia, MediaRef, PreparedRequest, Request  # noqa: E402
from reward.hf_inputs import builder_for  # noqa: E402
from reward.hf_loading import PROCESSORS  # noqa: E402
from reward.testing.tiny_checkpoints import save  # noqa: E402

ANNOTATIONS = ROOT.parent / "shared" / "fixtures" / "vlrewardbench" / "data.jsonl"
MODEL_TYPES = {"unifiedreward-7b": "llava_onevision", "qwen2.5-vl-7b": "qwen2_5_vl"}


def texts(n: int) -> list[str]:
    if ANNOTATIONS.exists():
        rows = [json.loads(line) for line in ANNOTATIONS.read_text().splitlines()][:n]
        return [f"Question: {r['query'].replace('<image>', '')}\nAnswer 1: {r['response'][0]}\n"
                f"Answer 2: {r['response'][1]}\n" for r in rows]
    return [f"Question {i}: what is shown?\nAnswer 1: a cat.\nAnswer 2: a dog.\n" for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    buf = io.BytesIO()
    Image.new("RGB", (512, 384), (90, 120, 30)).save(buf, "PNG")
    item = LoadedMedia("image", "img", "sha", buf.getvalue(), "image/png")
    prompts = [PreparedRequest(Request(str(i), str(i), (MediaRef("image", "img"), t)), (item,), "h")
               for i, t in enumerate(texts(args.requests))]
    print(f"{len(prompts)} VL-RewardBench prompts with a 512x384 image, median of {args.repeats}, CPU\n")
    print("| checkpoint | processor __call__ ms/request | harness builder ms/request | x baseline |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model_type in MODEL_TYPES.items():
            directory = save(name, Path(tmp) / name)
            processor = PROCESSORS[model_type].from_pretrained(directory)
            from transformers import AutoConfig

            builder = builder_for(model_type, processor, AutoConfig.from_pretrained(directory))

            def baseline() -> None:
                for p in prompts:
                    image = Image.open(io.BytesIO(p.media[0].data)).convert("RGB")
                    content = [{"type": "image"}, {"type": "text", "text": p.request.parts[1]}]
                    text = processor.apply_chat_template([{"role": "user", "content": content}],
                                                         add_generation_prompt=True, tokenize=False)
                    processor(images=[image], text=[text], return_tensors="np")

            def harness() -> None:
                for p in prompts:
                    builder.encode(p)

            times = {}
            for label, fn in (("baseline", baseline), ("harness", harness)):
                runs = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    fn()
                    runs.append(time.perf_counter() - start)
                times[label] = statistics.median(runs) / len(prompts) * 1000
            print(f"| {name} | {times['baseline']:.2f} | {times['harness']:.2f} | "
                  f"{times['harness'] / times['baseline']:.2f} |")


if __name__ == "__main__":
    main()
