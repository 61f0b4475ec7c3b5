"""The paper's use of UnifiedReward (Sec. 3.3-3.4) through the reward service, end to end on tiny models.

    python examples/rl_tiny_t2i.py [--judge scripted|tiny-hf|URL] [--prompts 4] [--n 10] [--out DIR]

1. A text-to-image policy: a tiny Stable-Diffusion pipeline built from configs (random weights, 32x32 images)
   draws N candidates per prompt (seeds 0..N-1).
2. The reward: `harness serve`'s app, in this process on a free port (`ServiceThread`), over a judge:
   `scripted` (a stand-in that prefers brighter images: deterministic, so the flow can be followed), `tiny-hf`
   (a tiny Qwen2.5-VL with the real processor and random weights: its replies are unreadable, and every one is
   reported, none defaulted), or the URL of a running `harness serve` (e.g. UnifiedReward-2.0 under `--engine vllm`
   on a GPU).
3. The paper's rule, as requests to the service: pair ranking of candidates (2j, 2j+1) with `/v1/pairwise` in both
   orders (a pair whose two orders disagree is unranked and dropped), then point scores of the winners C and
   losers R with `/v1/pointwise`; chosen = argmax over C, rejected = argmin over R. An input with a failed or
   unranked judgment loses only those candidates; one left without a chosen or a rejected one is dropped.
4. Diffusion-DPO (alignment/diffusion_dpo.py) for two steps on the pairs: its first loss is ln 2 (the policy
   starts as its reference).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reward.testing.tiny_diffusion import RES  # noqa: E402 - the tiny pipeline's pixels


def tiny_sd_pipeline(root: Path) -> Path:
    """A Stable-Diffusion pipeline directory with tiny random components (the project's test recipe)."""
    from reward.testing.tiny_diffusion import save_tiny_sd

    return save_tiny_sd(root / "sd")


def brightness_judge(request: Any) -> str:
    """The scripted stand-in: a pair -> the brighter image is better; one image -> 1-5 scores from its brightness."""
    import io

    import numpy as np
    from PIL import Image

    levels = [float(np.asarray(Image.open(io.BytesIO(m.data)).convert("L")).mean()) for m in request.media]
    if len(levels) == 2:
        return "Image 1 is better." if levels[0] >= levels[1] else "Image 2 is better."
    score = 1 + round(4 * levels[0] / 255, 2)
    return f"Alignment Score (1-5): {score}\nCoherence Score (1-5): {score}\nStyle Score (1-5): {score}"


def start_judge(kind: str, work: Path) -> tuple[str, Any]:
    """The service URL, and what to stop afterwards (None for an external service)."""
    if kind.startswith("http"):
        return kind, None
    from harness.serve.app import RewardService, ServiceThread
    from harness.serve.templates import resolve_templates

    if kind == "scripted":
        from reward.scripted import ScriptedAdapter

        adapter: Any = ScriptedAdapter(fn=brightness_judge, model_id="brightness-stand-in")
    else:
        from reward.hf import HFAdapter
        from reward.testing.tiny_checkpoints import save

        checkpoint = save("qwen2.5-vl-7b", work / "tiny-qwen2.5-vl")
        adapter = HFAdapter(str(checkpoint), max_new_tokens=24, family="unifiedreward-2.0")
    served = ServiceThread(RewardService(adapter, resolve_templates("unifiedreward-2.0"), max_wait_ms=5.0)).start()
    return served.url, (served, adapter)


def construct_pairs(url: str, images: dict[str, list[Any]], out: Path) -> dict[str, Any]:
    """The paper's pair ranking and point sifting, through the service; writes `out/pairs.jsonl` + media."""
    from harness.serve.client import RewardClient

    counts: dict[str, Any] = {"inputs": len(images), "pairs_ranked": 0, "pairs_unranked": 0, "scores_failed": 0,
                              "kept": 0, "first_reason": None}
    (out / "media").mkdir(parents=True, exist_ok=True)
    rows = []
    with RewardClient(url) as client:
        for k, (prompt, candidates) in enumerate(images.items()):
            pairs = [(2 * j, 2 * j + 1) for j in range(len(candidates) // 2)]
            ranked = client.pairwise([(prompt, candidates[a], candidates[b]) for a, b in pairs], orders="both")
            chosen_list, rejected_list = [], []
            for (a, b), item in zip(pairs, ranked.items):
                if not item.ok or not item.consistent or item.preference not in (0.0, 1.0):
                    counts["pairs_unranked"] += 1  # failed, a tie, or the two orders disagree
                    counts["first_reason"] = counts["first_reason"] or item.reason or "the two orders disagree"
                    continue
                counts["pairs_ranked"] += 1
                winner, loser = (a, b) if item.preference == 1.0 else (b, a)
                chosen_list.append(winner)
                rejected_list.append(loser)
            sifted = chosen_list + rejected_list
            scores = client.pointwise([(prompt, candidates[i]) for i in sifted]).items if sifted else []
            score = {i: s.value for i, s in zip(sifted, scores) if s.ok and s.value is not None}
            counts["scores_failed"] += len(sifted) - len(score)
            chosen = [i for i in chosen_list if i in score]
            rejected = [i for i in rejected_list if i in score]
            if not chosen or not rejected:
                continue
            best = max(chosen, key=lambda i: score[i])
            worst = min(rejected, key=lambda i: score[i])
            for side, index in (("chosen", best), ("rejected", worst)):
                candidates[index].save(out / "media" / f"{k}-{side}.png")
            rows.append({"id": f"p{k}", "prompt": prompt, "chosen": f"media/{k}-chosen.png",
                         "rejected": f"media/{k}-rejected.png", "scores": [score[best], score[worst]]})
    counts["kept"] = len(rows)
    (out / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judge", default="scripted", help="scripted, tiny-hf, or a reward service URL")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--n", type=int, default=10, help="candidates per prompt (the paper's N = 10)")
    parser.add_argument("--out", type=Path, default=None, help="keep the pairs and the DPO output here")
    args = parser.parse_args()
    import torch
    from diffusers import StableDiffusionPipeline

    from alignment import diffusion_dpo as dd

    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        pipeline_dir = tiny_sd_pipeline(work / "policy")
        pipe = StableDiffusionPipeline.from_pretrained(pipeline_dir, safety_checker=None)
        pipe.set_progress_bar_config(disable=True)
        prompts = [f"red cube {i}" for i in range(args.prompts)]  # the tiny CLIP reads 14 characters
        images = {p: [pipe(p, num_inference_steps=2, height=RES, width=RES, output_type="pil",
                           generator=torch.Generator().manual_seed(seed)).images[0] for seed in range(args.n)]
                  for p in prompts}
        url, running = start_judge(args.judge, work)
        try:
            counts = construct_pairs(url, images, work / "pairs")
        finally:
            if running is not None:
                running[0].stop()
                running[1].close()
        print("preference construction through the service:", json.dumps(counts))
        if counts["kept"] == 0:
            print("no pair kept: every input lost its ranking or its scores (reported by the service, not defaulted)")
            return 0
        config = dd.config_from_dict({
            "pretrained_model": str(pipeline_dir), "model_type": "sd", "data": [str(work / "pairs")],
            "output_dir": str(work / "dpo"), "resolution": RES, "train_batch_size": 1,
            "gradient_accumulation_steps": 1, "max_steps": 2, "learning_rate": 1e-3, "scale_lr": False,
            "lr_warmup_steps": 0, "mixed_precision": "no", "save_steps": 100, "use_cpu": True, "seed": 7})
        dd.train(config)
        losses = [json.loads(line)["loss"] for line in (work / "dpo/metrics.jsonl").read_text().splitlines()]
        print(f"Diffusion-DPO on {counts['kept']} pair(s): losses {[round(x, 4) for x in losses]} (ln 2 = 0.6931)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
