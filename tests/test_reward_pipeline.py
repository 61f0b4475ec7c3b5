"""Issue 6 end to end on CPU: converters' fixture rows -> unified dataset (build-reward-data) ->
statistics table -> train-reward on the tiny VLM (loss goes down) -> the checkpoint judges VL-RewardBench."""

from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("trl")

from harness.cli import main  # noqa: E402
from reward.testing.tiny_models import save_tiny  # noqa: E402

from .conftest import only_run_dir  # noqa: E402
from .test_reward_dataset import fixture  # noqa: E402


def test_build_train_and_judge(tmp_path, vlrb_dir, capsys):
    sources = [{"name": "oip", "path": str(fixture("oip", tmp_path) / "data.jsonl")},
               {"name": "llava_critic_pair", "path": str(fixture("llava_critic", tmp_path))},
               {"name": "llava_critic_point", "path": str(tmp_path / "src" / "llava_critic")},
               {"name": "lift_hra", "path": str(fixture("lift_hra", tmp_path))},
               {"name": "videodpo", "path": str(fixture("videodpo", tmp_path))}]
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"seed": 0, "order": "swap", "frames_per_video": 2, "sources": sources}))
    data = tmp_path / "unified"
    assert main(["build-reward-data", "--manifest", str(manifest), "--out", str(data)]) == 0
    records = [json.loads(line) for line in (data / "records.jsonl").open()]
    assert {r["task"] for r in records} == {"image_gen", "image_und", "video_gen"}
    capsys.readouterr()
    assert main(["reward-data-stats", str(data)]) == 0
    table = capsys.readouterr().out
    assert "| Image Generation | 2 | 0 | 2 | 22.2% |" in table
    assert "| Video Generation | 2 | 2 | 4 | 44.4% |" in table

    base = save_tiny("llava_onevision", tmp_path / "base")
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({
        "model": str(base), "data": [str(data)], "output_dir": str(tmp_path / "judge"), "max_steps": 8,
        "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "learning_rate": 1e-3,
        "warmup_ratio": 0.0, "lr_scheduler_type": "constant", "dtype": "float32", "use_cpu": True,
        "gradient_checkpointing": False, "frames_per_video": 2, "save_steps": 8, "logging_steps": 1}))
    assert main(["train-reward", "--config", str(config)]) == 0
    state = json.loads((tmp_path / "judge/checkpoint-8/trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert len(losses) == 8 and min(losses[-2:]) < max(losses[:2])  # loss goes down
    capsys.readouterr()
    assert main(["run", "--tasks", "vlrewardbench", "--model", "hf", "--model-args",
                 f"pretrained={tmp_path / 'judge'},max_new_tokens=4", "--data-dir", str(vlrb_dir),
                 "--limit", "12", "--output", str(tmp_path / "runs")]) == 0
    results = json.loads((only_run_dir(tmp_path / "runs") / "results.json").read_text())
    counts = results["tasks"]["vlrewardbench"]["counts"]
    assert counts["n"] == 12 and counts["n_error"] == 0
