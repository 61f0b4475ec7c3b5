"""Judge throughput of a LLaVA-OneVision-7B-sized model at batch 1 vs batch 16 on one GPU.

    python bench/gpu_judge_throughput.py                # 7B (Qwen2-7B + SigLIP-so400m), bf16, needs a GPU
    python bench/gpu_judge_throughput.py --size tiny    # the same script on the CPU with a tiny model

The model is built from its config with random weights (no download): throughput depends on the
shapes, not the values. Random weights rarely emit end-of-sequence, so every request generates
`--new-tokens` tokens, like a judge writing its rationale. Requests are real VL-RewardBench prompts
(../shared annotations when present) with synthetic 384x384 images, through `HFAdapter` exactly as
`harness run --model hf` uses it (chat template, processor, length-sorted left-padded batches).
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

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration  # noqa: E402
from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (  # noqa: E402
    LlavaOnevisionImageProcessorPil)

from bench.runner_overhead import make_data  # noqa: E402
from harness.judging import JudgeClient  # noqa: E402
from reward.hf import HFAdapter  # noqa: E402
from reward.hf_loading import ImageOnlyLlavaOnevisionProcessor  # noqa: E402
from reward.tiny_models import LLAVA_CHAT_TEMPLATE, build_tokenizer, tiny_llava_onevision  # noqa: E402
from tasks.vlrewardbench import VLRewardBench  # noqa: E402


def llava_ov_7b(device: str, dtype: torch.dtype):
    """LLaVA-OneVision-7B shapes (Qwen2-7B text, SigLIP-so400m/14 at 384 minus its last layer)."""
    tok = build_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"],
                          extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})
    image_processor = LlavaOnevisionImageProcessorPil(size={"height": 384, "width": 384},
                                                      image_grid_pinpoints=[[384, 384]], do_pad=True)
    processor = ImageOnlyLlavaOnevisionProcessor(image_processor=image_processor, tokenizer=tok,
                                                 num_image_tokens=729, vision_feature_select_strategy="full",
                                                 chat_template=LLAVA_CHAT_TEMPLATE)
    config = LlavaOnevisionConfig(
        text_config=dict(model_type="qwen2", vocab_size=152064, hidden_size=3584, intermediate_size=18944,
                         num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                         max_position_embeddings=32768, rope_theta=1000000.0, pad_token_id=tok.pad_token_id,
                         eos_token_id=tok.eos_token_id, tie_word_embeddings=False),
        vision_config=dict(model_type="siglip_vision_model", hidden_size=1152, intermediate_size=4304,
                           num_hidden_layers=26, num_attention_heads=16, patch_size=14, image_size=384,
                           vision_use_head=False),
        image_token_index=tok.convert_tokens_to_ids("<image>"), video_token_index=tok.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full", vision_feature_layer=-1, image_grid_pinpoints=[[384, 384]])
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlavaOnevisionForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config.pad_token_id = tok.pad_token_id
    return model.eval(), processor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=["7b", "tiny"], default="7b")
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--requests", default="16,64", help="requests per batch size (same order)")
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.size == "7b":
        if device != "cuda":
            raise SystemExit("the 7B size needs a GPU; use --size tiny on a CPU")
        model, processor = llava_ov_7b(device, torch.bfloat16)
    else:
        model, processor = tiny_llava_onevision()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(Path(tmp))
        for line in (data / "data.jsonl").read_text().splitlines():  # realistic image size
            path = data / json.loads(line)["image_path"]
            Image.new("RGB", (384, 384), (120, 80, 40)).save(path, "JPEG")
        task = VLRewardBench()
        cfg = task.config("strict", 0, None, data)
        samples = task.load(cfg).samples
        print(f"{args.size} LLaVA-OneVision, {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}), "
              f"max_new_tokens={args.new_tokens}, greedy\n")
        print("| batch size | requests | seconds | samples/s | generated tokens/s |")
        print("|---:|---:|---:|---:|---:|")
        rates = {}
        for batch_size, n in zip((int(b) for b in args.batch_sizes.split(",")),
                                 (int(r) for r in args.requests.split(","))):
            requests = [r for s in samples[:n] for r in task.requests(s, cfg)]
            adapter = HFAdapter.from_model(model, processor, f"bench-{args.size}", batch_size=batch_size,
                                           max_new_tokens=args.new_tokens)
            client = JudgeClient(adapter, cache=None)
            list(client.judge(requests[: min(2, len(requests))]))  # warm-up: kernels, allocator
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            replies = [e.reply for e in client.judge(requests)]
            seconds = time.perf_counter() - start
            tokens = sum(r.usage.get("completion_tokens", 0) for r in replies if r.ok)
            rates[batch_size] = len(requests) / seconds
            print(f"| {batch_size} | {len(requests)} | {seconds:.2f} | {rates[batch_size]:.2f} "
                  f"| {tokens / seconds:.0f} |")
        low, high = min(rates), max(rates)
        print(f"\nbatch {high} vs batch {low}: {rates[high] / rates[low]:.2f}x samples/s")


if __name__ == "__main__":
    main()
