"""DPO for VLMs: TRL's loss on the tiny VLM against the formula by hand, then the whole loop on the tiny VLM:
policy -> N=4 candidates -> scripted reward -> DPO dataset -> 2 DPO steps -> the tuned checkpoint judges a
benchmark."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("trl")

from alignment.construct import ConstructOptions, construct  # noqa: E402
from alignment.dpo_vlm import DPOConfig, build_trainer, load_config, train  # noqa: E402
from alignment.vlm_policies import HFPolicy  # noqa: E402
from harness.cli import main  # noqa: E402
from harness.errors import UsageError  # noqa: E402
from reward.scripted import ScriptedAdapter  # noqa: E402
from reward.testing.tiny_models import save_tiny  # noqa: E402

from .conftest import only_run_dir, write_image  # noqa: E402


def _preference_pairs(root: Path, n: int = 2) -> Path:
    """A `dpo.jsonl` as `harness construct` writes it: one image, a one-turn prompt, two one-turn answers."""
    rows = []
    for i in range(n):
        write_image(root / f"{i}.png", i)
        rows.append({"id": f"p{i}", "images": [str(root / f"{i}.png")],
                     "prompt": [{"role": "user", "content": [{"type": "image"},
                                                            {"type": "text", "text": "describe the picture"}]}],
                     "chosen": [{"role": "assistant", "content": "a photo of a cat on a mat"}],
                     "rejected": [{"role": "assistant", "content": "the image shows a dog"}]})
    (root / "dpo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_trl_dpo_loss_is_the_sigmoid_formula_with_beta_inside(tmp_path):
    """The DPOTrainer `dpo-vlm` builds computes, on a batch of the tiny VLM,

        L = mean over pairs of -log σ(β · ((log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x))))

    with log π(y|x) the sum over the answer tokens (`completion_mask`) of log softmax(logits)[next token], here
    recomputed from plain forwards of the policy and the frozen reference. The policy is first moved off the
    reference (at equality L = ln 2 whatever the formula), and β = 0.5 tells the released objective from the
    paper's typo, β outside the log-sigmoid (-β · log σ(Δ))."""
    beta = 0.5
    base = save_tiny("llava_onevision", tmp_path / "base")
    trainer = build_trainer(DPOConfig(model=str(base), data=[str(_preference_pairs(tmp_path / "pairs"))],
                                      output_dir=str(tmp_path / "out"), beta=beta, dtype="float32", use_cpu=True,
                                      gradient_checkpointing=False))
    torch.manual_seed(0)
    with torch.no_grad():
        for param in trainer.model.parameters():
            param.add_(torch.randn_like(param), alpha=0.05)
    batch = trainer.data_collator([dict(trainer.train_dataset[i]) for i in range(2)])

    def answer_logps(model) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "completion_mask"}
        with torch.no_grad():
            logits = model(**inputs, use_cache=False).logits[:, :-1].float()
        per_token = logits.log_softmax(-1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
        chosen, rejected = (per_token * batch["completion_mask"][:, 1:]).sum(-1).chunk(2)  # chosen rows first
        return chosen, rejected

    (policy_w, policy_l), (ref_w, ref_l) = answer_logps(trainer.model), answer_logps(trainer.ref_model)
    delta = (policy_w - ref_w) - (policy_l - ref_l)
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch).item()
    assert loss == pytest.approx((-F.logsigmoid(beta * delta)).mean().item(), rel=1e-5, abs=1e-6)
    assert abs(loss - math.log(2)) > 1e-3  # the policy moved: not the trivial ln 2
    assert loss != pytest.approx((-beta * F.logsigmoid(delta)).mean().item(), rel=1e-3)  # β is inside


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
