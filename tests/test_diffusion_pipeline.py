"""Issue 7 end to end for generation: a tiny diffusers pipeline -> N=4 candidates per prompt -> a scalar
scorer ranks and sifts them (`construct`) -> Diffusion-DPO steps on the pairs, for images (UNet2D) and
videos (UNet3D)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from alignment import diffusion_dpo as dd  # noqa: E402
from alignment.construct import ConstructOptions, construct  # noqa: E402
from alignment.diffusion_policies import DiffusersImagePolicy, DiffusersVideoPolicy  # noqa: E402
from reward.pickscore import PickScoreAdapter  # noqa: E402
from reward.testing.tiny_models import save_tiny_clip  # noqa: E402

from .test_diffusion_dpo import RES, pipes  # noqa: E402,F401  (the tiny pipelines fixture)


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    model, processor = save_tiny_clip(tmp_path_factory.mktemp("clip"))
    return PickScoreAdapter(pretrained=str(model), processor=str(processor), batch_size=16)


def prompts(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"a red cube number {i}"}) + "\n" for i in range(n)))
    return path


@pytest.mark.parametrize("kind", ["image", "video"])
def test_generate_rank_sift_then_diffusion_dpo(kind, pipes, scorer, tmp_path):  # noqa: F811
    if kind == "image":
        policy = DiffusersImagePolicy(model=str(pipes["sd"]), steps=1, height=RES, width=RES, device="cpu")
    else:
        policy = DiffusersVideoPolicy(model=str(pipes["video"]), steps=1, height=RES, width=RES, num_frames=2,
                                      device="cpu")
    report = construct(policy, scorer, prompts(tmp_path / "in", 2), tmp_path / "pairs", ConstructOptions(n=4, seed=5))
    records = [json.loads(line) for line in (tmp_path / "pairs/construction.jsonl").open()]
    assert report.kept + report.dropped == 2 and report.kept >= 1
    for r in records:
        assert len(r["candidates"]) == 4 and len({c["media"] for c in r["candidates"]}) == 4
        if r["status"] == "kept":  # the rule: the best-scored of C against the worst-scored of R
            scores = r["scores"]
            assert r["chosen"] == max(r["chosen_list"], key=lambda i: scores[i])
            assert r["rejected"] == min(r["rejected_list"], key=lambda i: scores[i])
    pairs = [json.loads(line) for line in (tmp_path / "pairs/pairs.jsonl").open()]
    assert len(pairs) == report.kept and all((tmp_path / "pairs" / p["chosen"]).is_file() for p in pairs)

    config = dd.config_from_dict({
        "pretrained_model": str(pipes["sd" if kind == "image" else "video"]),
        "model_type": "sd" if kind == "image" else "video", "data": [str(tmp_path / "pairs")],
        "output_dir": str(tmp_path / "dpo"), "resolution": RES, "train_batch_size": 1,
        "gradient_accumulation_steps": 1, "max_steps": 2, "learning_rate": 1e-3, "scale_lr": False,
        "lr_warmup_steps": 0, "mixed_precision": "no", "save_steps": 100, "use_cpu": True, "seed": 7,
        **({"frames": 2} if kind == "video" else {})})
    dd.train(config)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "dpo/metrics.jsonl").read_text().splitlines()]
    assert losses[0] == pytest.approx(math.log(2), abs=1e-6) and len(losses) == 2
