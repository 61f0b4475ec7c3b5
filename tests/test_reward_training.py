"""Reward-model fine-tuning on the tiny VLM: loss on the answer only, config validation, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from harness.errors import UsageError  # noqa: E402
from reward.testing.tiny_models import save_tiny  # noqa: E402
from reward.training.sft import TrainConfig, build_dataset, load_config, train  # noqa: E402

from .conftest import write_image  # noqa: E402


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    return save_tiny("llava_onevision", tmp_path_factory.mktemp("base") / "tiny")


def records_dir(root: Path, n: int = 6) -> Path:
    rows = []
    for i in range(n):
        write_image(root / f"img/{i}a.png", 2 * i)
        write_image(root / f"img/{i}b.png", 2 * i + 1)
        rows.append({"id": f"r{i}", "source": "test", "task": "image_gen", "kind": "pair",
                     "images": [f"img/{i}a.png", f"img/{i}b.png"], "frames": [], "video": None,
                     "prompt": "Which image is better for: a cat on a mat?",
                     "answer": f"Image {1 + i % 2} is better than Image {2 - i % 2}.", "order": None})
    (root / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def config(base_model: Path, data: Path, out: Path, **kw) -> TrainConfig:
    values = dict(model=str(base_model), data=[str(data)], output_dir=str(out), per_device_train_batch_size=2,
                  gradient_accumulation_steps=1, learning_rate=1e-3, dtype="float32", use_cpu=True,
                  gradient_checkpointing=False, save_steps=3, logging_steps=1, warmup_ratio=0.0,
                  lr_scheduler_type="constant", report_to=["none"])
    values.update(kw)
    return TrainConfig(**values)


def test_only_the_answer_tokens_carry_loss(base_model, tmp_path):
    """The rows `build_dataset` writes, batched by the collator `train` gives the trainer."""
    from reward.hf_loading import load_vlm
    from reward.training.inputs import RecordEncoder, SFTCollator, training_builder

    cfg = config(base_model, records_dir(tmp_path / "d"), tmp_path / "out")
    loaded = load_vlm(str(base_model), device="cpu", dtype="float32")
    builder = training_builder(loaded.model, loaded.processor, cfg.video_input)
    collate = SFTCollator(RecordEncoder(builder, ("completion",), cfg.frames_per_video), "llava_onevision")
    dataset = build_dataset(cfg)
    batch = collate([dict(dataset[i]) for i in range(2)])
    tok = loaded.processor.tokenizer
    image_token = tok.convert_tokens_to_ids("<image>")
    for i, (ids, labels) in enumerate(zip(batch["input_ids"], batch["labels"])):
        supervised = labels != -100
        assert tok.decode(ids[supervised]) == f"Image {1 + i % 2} is better than Image {2 - i % 2}.<|im_end|>\n"
        first = int(supervised.nonzero()[0])
        assert bool((labels[:first] == -100).all())  # prompt, image tokens and chat markup carry no loss
        assert bool((ids[:first] == image_token).sum() > 0)  # the images are in the masked prompt
        assert tok.decode(ids[:first]).endswith("<|im_start|>assistant\n")


def test_config_keys_are_validated(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\ndata: [d]\nlearnig_rate: 1e-5\n")
    with pytest.raises(UsageError, match="unknown key\\(s\\) learnig_rate; valid keys: model, data"):
        load_config(path)
    path.write_text("model: m\n")
    with pytest.raises(UsageError, match="`data` lists no dataset directory"):
        load_config(path)
    path.write_text("model: m\ndata: d\nper_device_train_batch_size: two\n")
    with pytest.raises(UsageError, match="key 'per_device_train_batch_size' must be"):
        load_config(path)
    shipped = load_config(Path(__file__).resolve().parents[1] / "configs/train_reward/unifiedreward_ov7b.yaml")
    assert (shipped.learning_rate, shipped.per_device_train_batch_size, shipped.gradient_accumulation_steps,
            shipped.num_train_epochs, shipped.warmup_ratio) == (2.5e-6, 2, 16, 3.0, 0.03)


def test_a_record_without_its_image_is_named(base_model, tmp_path):
    data = records_dir(tmp_path / "d", 2)
    (data / "img/1b.png").unlink()
    with pytest.raises(UsageError, match="record 'r1': image img/1b.png not found"):
        build_dataset(config(base_model, data, tmp_path / "out"))


def test_loss_goes_down_and_a_resumed_run_repeats_the_uninterrupted_one(base_model, tmp_path):
    data = records_dir(tmp_path / "d")

    def losses(out: Path) -> list[float]:
        state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
        return [h["loss"] for h in state["log_history"] if "loss" in h]

    train(config(base_model, data, tmp_path / "straight", max_steps=6))
    train(config(base_model, data, tmp_path / "resumed", max_steps=3))
    train(config(base_model, data, tmp_path / "resumed", max_steps=6))  # resume: auto
    straight = losses(tmp_path / "straight")
    assert straight[-1] < straight[0]
    assert losses(tmp_path / "resumed") == pytest.approx(straight, abs=1e-6)
