"""DPO for VLMs: the loss by hand, then the whole loop on the tiny VLM: policy -> N=4 candidates ->
scripted reward -> DPO dataset -> 2 DPO steps -> the tuned checkpoint judges a benchmark."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")

from alignment.construct import ConstructOptions, construct  # noqa: E402
from alignment.dpo_vlm import DPOConfig, load_config, train  # noqa: E402
from alignment.losses import dpo_loss  # noqa: E402
from alignment.vlm_policies import HFPolicy  # noqa: E402
from harness.cli import main  # noqa: E402
from harness.errors import UsageError  # noqa: E402
from reward.scripted import ScriptedAdapter  # noqa: E402
from reward.tiny_models import save_tiny  # noqa: E402

from .conftest import only_run_dir, write_image  # noqa: E402


def test_dpo_loss_is_ln2_when_the_policy_is_the_reference():
    logps = torch.tensor([-12.0, -3.5])
    loss, metrics = dpo_loss(logps, logps - 1.0, logps, logps - 1.0, beta=0.1)
    assert loss.item() == pytest.approx(math.log(2))
    assert metrics["rewards/margin"] == 0.0 and metrics["rewards/accuracy"] == 0.0


def test_dpo_loss_sign_and_scale_on_two_pairs():
    """Pair 1: the policy raised log π(y_w) by 2 and lowered log π(y_l) by 1 relative to the reference:
    Δ = 2 - (-1) = 3, β·Δ = 0.3. Pair 2: the opposite, Δ = -3, β·Δ = -0.3.
    loss = mean(-log σ(0.3), -log σ(-0.3)) = (0.5544 + 0.8544) / 2 = 0.7044 (log σ(x) = -log(1 + e^-x)).
    β outside the log-sigmoid (the paper's typo) would give 0.1 · mean(-log σ(3), -log σ(-3)) instead."""
    ref_w, ref_l = torch.tensor([-10.0, -10.0]), torch.tensor([-10.0, -10.0])
    pol_w, pol_l = torch.tensor([-8.0, -11.0]), torch.tensor([-11.0, -8.0])
    loss, metrics = dpo_loss(pol_w, pol_l, ref_w, ref_l, beta=0.1)
    expected = (math.log1p(math.exp(-0.3)) + math.log1p(math.exp(0.3))) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6) and expected == pytest.approx(0.7044, abs=1e-4)
    assert metrics["rewards/accuracy"] == 0.5 and metrics["rewards/margin"] == pytest.approx(0.0, abs=1e-7)
    improved, _ = dpo_loss(pol_w[:1], pol_l[:1], ref_w[:1], ref_l[:1], beta=0.1)
    assert improved.item() < math.log(2)


def test_config_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\ndata: [d]\nbetta: 0.2\n")
    with pytest.raises(UsageError, match="unknown key\\(s\\) betta"):
        load_config(path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d/dpo.jsonl").write_text(json.dumps({"prompt": [{"role": "user", "content": []}],
                                                     "chosen": [{"role": "assistant", "content": []}]}) + "\n")
    from alignment.dpo_vlm import build_dataset

    with pytest.raises(UsageError, match="line 1: a preference row needs rejected"):
        build_dataset(DPOConfig(model="m", data=[str(tmp_path / "d")]))


def test_policy_to_dpo_to_evaluation_on_the_tiny_vlm(tmp_path, vlrb_dir, capsys):
    base = save_tiny("llava_onevision", tmp_path / "base")
    inputs_dir = tmp_path / "inputs"
    for i in range(4):
        write_image(inputs_dir / f"{i}.png", i)
    (inputs_dir / "inputs.jsonl").write_text("".join(
        json.dumps({"id": f"q{i}", "prompt": "describe the picture", "images": [f"{i}.png"]}) + "\n" for i in range(4)))

    def reward(prepared):  # prefers the first of every pair; scores by prompt length
        text = prepared.request.text
        return "Overall Judgment: Answer 1 is better." if "The first response" in text else \
            f"Final Score: {len(text) % 7}"

    report = construct(HFPolicy(str(base), max_new_tokens=8, root=str(inputs_dir)), ScriptedAdapter(fn=reward),
                       inputs_dir / "inputs.jsonl", tmp_path / "pairs", ConstructOptions(n=4, seed=1))
    assert report.kept == 4
    texts = [json.loads(line)["candidates"] for line in (tmp_path / "pairs/construction.jsonl").open()]
    assert all(len({c["text"] for c in cands}) > 1 for cands in texts)  # sampled, seeded candidates differ
    out = train(DPOConfig(model=str(base), data=[str(tmp_path / "pairs")], output_dir=str(tmp_path / "dpo"),
                          max_steps=2, per_device_train_batch_size=2, gradient_accumulation_steps=1,
                          learning_rate=1e-3, dtype="float32", use_cpu=True, gradient_checkpointing=False,
                          warmup_ratio=0.0, save_steps=2))
    state = json.loads((out / "checkpoint-2/trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert losses[0] == pytest.approx(math.log(2), abs=1e-3)  # policy = reference at the first step
    assert losses[-1] != pytest.approx(math.log(2), abs=1e-4)  # and then it moves
    code = main(["run", "--tasks", "vlrewardbench", "--model", "hf", "--model-args",
                 f"pretrained={out},max_new_tokens=4", "--data-dir", str(vlrb_dir), "--limit", "8",
                 "--output", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    results = json.loads((only_run_dir(tmp_path / "runs") / "results.json").read_text())
    assert results["tasks"]["vlrewardbench"]["counts"]["n_error"] == 0
    assert Path(results["model"]["model"]) == out
