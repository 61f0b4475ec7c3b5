"""Reward-model fine-tuning (paper Sec. 3.2.2): `python -m harness train-reward --config CONFIG.yaml`.

A pre-trained VLM (LLaVA-OneVision or Qwen-VL, transformers format) learns to produce the judge's answer
for every record of a unified preference dataset (`reward.training.dataset`, `harness build-reward-data`), with
cross-entropy on the answer only (and the `<|im_end|>` closing its turn): TRL's `SFTTrainer` with our
collator (`reward.training.inputs`), so the prompt, the image tokens and the chat markup carry no loss and the
inputs are built like the judges' (the dataset text as plain text). A LLaVA-OneVision model sees media as
LLaVA-NeXT's `train.py` gives them: one image tiled, each image of a multi-image record (and each of a
record's `frames`) one padded tile plus a newline, a `video` pooled (`video_input`, default `pooled`).

The shipped default config (`configs/train_reward/unifiedreward_ov7b.yaml`) is the paper's and the
authors' `train.sh`: lr 2.5e-6, batch 2 x accumulation 16, 3 epochs, cosine schedule, warm-up ratio
0.03 (the authors' script; the paper's text says 0.3), weight decay 0, bf16, gradient checkpointing,
every part trainable. Several GPUs or nodes: `accelerate launch --config_file configs/accelerate/zero3.yaml
-m harness train-reward --config ...` (or `fsdp.yaml`); there is no launcher of our own.

Resuming (`reward.training.common.resume_point`): with `resume: auto` (default) a run restarts from the newest
complete `checkpoint-*` in `output_dir`, with the optimizer, scheduler, RNG and data position it saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.errors import UsageError
from harness.jsonl import read_jsonl

from .common import fit, load_vlm_config, resumable, resume_point, trainer_arguments


@dataclass
class TrainConfig:
    """Every key of a train-reward YAML file; any other key is refused."""

    model: str = "llava-hf/llava-onevision-qwen2-7b-ov-hf"  # base VLM in transformers format (dir or hub id)
    data: list[str] = field(default_factory=list)  # directories written by `harness build-reward-data`
    output_dir: str = "checkpoints/unifiedreward"
    learning_rate: float = 2.5e-6
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 16
    num_train_epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides the epochs (smoke runs)
    warmup_ratio: float = 0.03  # a share of the steps (transformers 5 takes it as warmup_steps < 1)
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    dtype: str = "bfloat16"
    gradient_checkpointing: bool = True
    max_length: int | None = None  # None: no limit; a longer record is refused by id, never truncated
    frames_per_video: int = 8
    #: LLaVA-OneVision: how a video record reaches the model. "pooled": LLaVA-NeXT train.py's video branch, as
    #: the authors' train.sh runs it (196 tokens a frame, one newline); "frames": the authors' inference
    #: path (729 a frame). Qwen-VL always takes a native video. See reward/training/inputs.py.
    video_input: str = "pooled"
    save_steps: int = 500
    save_total_limit: int = 8
    logging_steps: int = 1
    report_to: list[str] = field(default_factory=lambda: ["none"])  # "tensorboard", "wandb"
    resume: str = "auto"  # "auto" (newest checkpoint in output_dir), "never", or a checkpoint path
    seed: int = 42
    use_cpu: bool = False
    trust_remote_code: bool = False
    dataloader_num_workers: int = 0
    revision: str | None = None


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    return load_vlm_config(path, TrainConfig, overrides, "dataset")


# ---- data --------------------------------------------------------------------------------------------

def read_records(directory: Path) -> Iterator[dict[str, Any]]:
    path = Path(directory) / "records.jsonl"
    if not path.is_file():
        raise UsageError(f"{directory}: no records.jsonl (build it with `harness build-reward-data`)")
    for _, row in read_jsonl(path):
        yield row


def training_rows(config: TrainConfig) -> Iterator[dict[str, Any]]:
    """Records as training rows (`reward.training.inputs`): the media paths in order (images, frames, then the
    video), the prompt text after them, the judge's answer as the completion. Media files are checked here,
    before the model loads; they are read batch by batch during training."""
    from .inputs import parts_of

    for directory in map(Path, config.data):
        for record in read_records(directory):
            where = f"{directory}/records.jsonl record {record.get('id')!r}"
            images = []
            for rel in list(record.get("images") or []) + list(record.get("frames") or []):
                if not (directory / rel).is_file():
                    raise UsageError(f"{where}: image {rel} not found")
                images.append(str(directory / rel))
            video = None
            if record.get("video"):
                video = directory / record["video"]
                if not video.is_file():
                    raise UsageError(f"{where}: video {record['video']} not found")
            if not isinstance(record.get("prompt"), str) or not isinstance(record.get("answer"), str):
                raise UsageError(f"{where}: needs a string prompt and answer")
            yield {"id": str(record.get("id")), "images": images,
                   "parts": parts_of(images, str(video) if video else None, record["prompt"], video_first=False),
                   "completion": record["answer"]}


def build_dataset(config: TrainConfig):
    from .inputs import records_dataset

    rows = list(training_rows(config))
    if not rows:
        raise UsageError(f"the datasets {config.data} hold no records")
    return records_dataset(rows, ("completion",))


# ---- training ----------------------------------------------------------------------------------------

def train(config: TrainConfig) -> Path:
    from trl import SFTConfig, SFTTrainer

    from reward.hf_loading import load_vlm

    from .inputs import RecordEncoder, SFTCollator, install_vision_hook, training_builder

    output = Path(config.output_dir)
    checkpoint = resume_point(config.resume, output)
    dataset = build_dataset(config)
    loaded = load_vlm(config.model, revision=config.revision, dtype=config.dtype,
                      device="cpu" if config.use_cpu else None, trust_remote_code=config.trust_remote_code)
    model, processor = loaded.model.train(), loaded.processor
    builder = training_builder(model, processor, config.video_input)
    collator = SFTCollator(RecordEncoder(builder, ("completion",), config.frames_per_video, config.max_length),
                           model.config.model_type)
    install_vision_hook(model, builder)
    args = SFTConfig(**trainer_arguments(config), weight_decay=config.weight_decay,
                     dataset_kwargs={"skip_prepare_dataset": True},  # our collator builds and checks lengths
                     dataloader_num_workers=config.dataloader_num_workers)
    trainer = resumable(SFTTrainer)(model=model, args=args, train_dataset=dataset, processing_class=processor,
                                    data_collator=collator)
    return fit(trainer, processor, output, checkpoint)


def main(config_path: Path, overrides: dict[str, Any] | None = None) -> int:
    config = load_config(config_path, overrides)
    print(train(config))
    return 0
