"""Judge throughput on 16-frame video pairs: LLaVA-OneVision-7B (UnifiedReward-7b) and Qwen2.5-VL-7B
(UnifiedReward-qwen-7b) at their real sizes, batch 1 vs batch 8, on one GPU.

    python bench/gpu_judge_throughput.py                 # both 7B models, bf16, needs a GPU
    python bench/gpu_judge_throughput.py --size tiny     # the same script on the CPU with the tiny checkpoints

Each model has the real checkpoint's configuration (`reward/testing/checkpoint_configs/`): the 7B widths and depths,
random weights (throughput depends on shapes, not values; no download), and the real tokenizer, chat
template and processor, so prompts have the real token counts. Requests are GenAI-Bench video pairs (two
synthetic 512x512 videos of 48 frames at 24 fps) through `HFAdapter` exactly as `harness run --model hf`
uses it, with the protocol each family gets for `--protocol unifiedreward`: LLaVA 8 frames a video at
512x512, 729 tokens a frame (16 x 729 = 11,664 media tokens); Qwen native video at 2 frames a second.
Random weights rarely emit end-of-sequence, so every request generates `--new-tokens` tokens.
Printed per model and batch size: prompt tokens, seconds, samples/s, generated tokens/s and peak GPU memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from harness.judging import JudgeClient  # noqa: E402
from reward.hf import HFAdapter  # noqa: E402
from reward.hf_loading import PROCESSORS  # noqa: E402
from reward.testing.tiny_checkpoints import CONFIGS, save  # noqa: E402
from tasks.genai_bench import GenAIBenchVideo  # noqa: E402

FAMILIES = {"unifiedreward-7b": "llava_onevision", "qwen2.5-vl-7b": "qwen2_5_vl"}


def full_size_model(name: str, device: str, dtype: torch.dtype):
    """The real 7B architecture from the shipped configuration, random weights, built on `device`."""
    from transformers import AutoConfig, AutoModelForImageTextToText, LlavaOnevisionForConditionalGeneration

    from reward import convert_llava as conv

    if name == "unifiedreward-7b":
        original = json.loads((CONFIGS / "llava-onevision-qwen2-7b-ov" / "config.json").read_text())
        vision = {"model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304,
                  "num_hidden_layers": 26, "num_attention_heads": 16, "num_channels": 3, "patch_size": 14,
                  "image_size": 384, "vision_use_head": False}  # SigLIP-so400m/14 at 384 minus its last layer
        # <image> 151646 (the original's added token) and <video> 151647 (added by the conversion)
        config = conv.build_config(original, conv.text_config_from(original, int(original["vocab_size"])), vision,
                                   151646, 151647, conv.grid_pinpoints(original["image_grid_pinpoints"], 384))
        cls = LlavaOnevisionForConditionalGeneration
    else:
        config = AutoConfig.from_pretrained(CONFIGS / "Qwen2.5-VL-7B-Instruct")
        cls = AutoModelForImageTextToText
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = cls.from_config(config) if cls is AutoModelForImageTextToText else cls(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def write_video(path: Path, frames: int = 48, size: int = 512, fps: int = 24) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        rng = np.random.default_rng(len(path.name))
        for _ in range(frames):
            arr = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")))
        out.mux(stream.encode())


def make_pairs(root: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        write_video(root / f"vid/{i}_l.mp4")
        write_video(root / f"vid/{i}_r.mp4")
        rows.append({"idx": i, "prompt": f"a ball bouncing {i}", "vote_type": "leftvote",
                     "left_video": f"vid/{i}_l.mp4", "right_video": f"vid/{i}_r.mp4"})
    (root / "video_generation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=["7b", "tiny"], default="7b")
    parser.add_argument("--models", default=",".join(FAMILIES))
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--requests", type=int, default=16, help="requests per batch size")
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.size == "7b" and device != "cuda":
        raise SystemExit("the 7B size needs a GPU; use --size tiny on a CPU")
    with tempfile.TemporaryDirectory() as tmp:
        data = make_pairs(Path(tmp) / "data", args.requests)
        where = torch.cuda.get_device_name() if device == "cuda" else "CPU"
        print(f"{args.size}, {device} ({where}), GenAI-Bench video pairs, --protocol unifiedreward, "
              f"max_new_tokens={args.new_tokens}, greedy\n")
        print("| model | batch | requests | prompt tokens (mean) | seconds | samples/s | generated tokens/s "
              "| peak GPU GiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in args.models.split(","):
            checkpoint = save(name, Path(tmp) / name)  # real tokenizer, template, processor
            processor = PROCESSORS[FAMILIES[name]].from_pretrained(checkpoint)
            if args.size == "7b":
                model = full_size_model(name, device, torch.bfloat16)
            else:
                from transformers import AutoModelForImageTextToText, LlavaOnevisionForConditionalGeneration

                cls = LlavaOnevisionForConditionalGeneration if name == "unifiedreward-7b" else \
                    AutoModelForImageTextToText
                model = cls.from_pretrained(checkpoint).to(device).eval()
            model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
            task = GenAIBenchVideo()
            for batch_size in (int(b) for b in args.batch_sizes.split(",")):
                adapter = HFAdapter.from_model(model, processor, f"bench-{name}-{args.size}", batch_size=batch_size,
                                               max_new_tokens=args.new_tokens)
                cfg = task.for_family(task.config("unifiedreward", 0, "test_v1", data), adapter.family())
                requests = [r for s in task.load(cfg).samples for r in task.requests(s, cfg)]
                client = JudgeClient(adapter, cache=None)
                list(client.judge(requests[:1]))  # warm-up: kernels, allocator
                if device == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                replies = [e.reply for e in client.judge(requests)]
                seconds = time.perf_counter() - start
                failed = [r.error for r in replies if not r.ok]
                if failed:
                    raise SystemExit(f"{name}: {len(failed)} request(s) failed, e.g. {failed[0]}")
                prompt = sum(r.usage["prompt_tokens"] for r in replies) / len(replies)
                tokens = sum(r.usage["completion_tokens"] for r in replies)
                peak = torch.cuda.max_memory_allocated() / 2 ** 30 if device == "cuda" else float("nan")
                print(f"| {name} [{cfg.protocol}] | {batch_size} | {len(replies)} | {prompt:,.0f} | {seconds:.2f} | "
                      f"{len(replies) / seconds:.2f} | {tokens / seconds:.0f} | {peak:.1f} |")
            del model
            if device == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
