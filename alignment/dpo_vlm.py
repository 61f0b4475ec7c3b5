"""DPO for vision-language models (paper Sec. 3.4.2): `python -m harness dpo-vlm --config CONFIG.yaml`.

TRL's DPOTrainer (loss "sigmoid": -log σ(β·Δ), β inside, see alignment.losses.dpo_loss) on LLaVA-OneVision
or Qwen-VL, with the preference pairs written by `harness construct` (`dpo.jsonl`: an `images` column and
conversational prompt / chosen / rejected). A video input becomes `frames_per_video` evenly spaced frames,
passed as images, in front of the question.

Defaults are the paper's and the released scripts' (`dpo_image_understand_ov7b.sh`,
`dpo_video_understand_llava_video_7b.sh`): β 0.1, lr 5e-7, 3 epochs, batch 1 with accumulation 16,
cosine schedule with warm-up ratio 0.3, bf16. The reference model is a frozen copy of the starting
policy. Several GPUs: `accelerate launch --config_file configs/accelerate/zero3.yaml -m harness dpo-vlm ...`.
Resuming: `resume: auto` restarts from the newest checkpoint in `output_dir` (weights restored through
`from_pretrained`; see reward.train.resumable).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.config import load_yaml_config, resume_point
from harness.jsonl import read_jsonl
from harness.errors import UsageError

DTYPES = ("bfloat16", "float16", "float32")


@dataclass
class DPOConfig:
    """Every key of a dpo-vlm YAML file; any other key is refused."""

    model: str = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
    data: list[str] = field(default_factory=list)  # directories written by `harness construct`
    output_dir: str = "checkpoints/dpo-vlm"
    beta: float = 0.1
    learning_rate: float = 5e-7
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 16
    num_train_epochs: float = 3.0
    max_steps: int = -1
    warmup_ratio: float = 0.3
    lr_scheduler_type: str = "cosine"
    dtype: str = "bfloat16"
    gradient_checkpointing: bool = True
    max_length: int | None = None
    frames_per_video: int = 8
    save_steps: int = 500
    save_total_limit: int = 4
    logging_steps: int = 1
    report_to: list[str] = field(default_factory=lambda: ["none"])
    resume: str = "auto"
    seed: int = 42
    use_cpu: bool = False
    trust_remote_code: bool = False
    revision: str | None = None


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> DPOConfig:
    config = load_yaml_config(path, DPOConfig, overrides)
    if not config.data:
        raise UsageError(f"{path}: `data` lists no preference dataset directory")
    if config.dtype not in DTYPES:
        raise UsageError(f"{path}: dtype {config.dtype!r}; valid: {', '.join(DTYPES)}")
    return config


def preference_rows(config: DPOConfig) -> Iterator[dict[str, Any]]:
    from harness.media import load_media
    from harness.records import MediaRef

    for directory in map(Path, config.data):
        path = directory / "dpo.jsonl"
        if not path.is_file():
            raise UsageError(f"{directory}: no dpo.jsonl (write it with `harness construct`)")
        for lineno, row in read_jsonl(path):
            missing = [k for k in ("prompt", "chosen", "rejected") if not row.get(k)]
            if missing:
                raise UsageError(f"{path} line {lineno}: a preference row needs {', '.join(missing)}")
            images = [{"path": p, "bytes": None} for p in row.get("images") or []]
            prompt = copy.deepcopy(row["prompt"])
            if row.get("video"):
                ref = MediaRef("video", row["video"], path=Path(row["video"]), frames=config.frames_per_video,
                               sampling="linspace")
                frames = [{"path": None, "bytes": f.data} for f in load_media(ref).frames]
                images = frames + images
                prompt[0]["content"] = [{"type": "image"} for _ in frames] + prompt[0]["content"]
            yield {"images": images, "prompt": prompt, "chosen": row["chosen"], "rejected": row["rejected"]}


def build_dataset(config: DPOConfig):
    from reward.train import chat_dataset

    rows = list(preference_rows(config))
    if not rows:
        raise UsageError(f"the preference datasets {config.data} hold no pairs")
    return chat_dataset(rows, ("prompt", "chosen", "rejected"))


def train(config: DPOConfig) -> Path:
    import torch
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    from reward.hf_loading import load_vlm
    from reward.train import resumable

    dataset = build_dataset(config)
    loaded = load_vlm(config.model, revision=config.revision, dtype=config.dtype,
                      device="cpu" if config.use_cpu else None, trust_remote_code=config.trust_remote_code)
    model, processor = loaded.model.train(), loaded.processor
    reference = copy.deepcopy(model).eval().requires_grad_(False)  # TRL would re-load _name_or_path otherwise
    processor.tokenizer.padding_side = "right"
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[config.dtype]
    output = Path(config.output_dir)
    args = TRLDPOConfig(
        output_dir=str(output), beta=config.beta, loss_type=["sigmoid"], learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps, warmup_steps=config.warmup_ratio, lr_scheduler_type=config.lr_scheduler_type,
        bf16=dtype == torch.bfloat16 and not config.use_cpu, fp16=dtype == torch.float16 and not config.use_cpu,
        activation_checkpointing=config.gradient_checkpointing, max_length=config.max_length,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps, report_to=config.report_to, seed=config.seed, use_cpu=config.use_cpu,
        dataloader_num_workers=0, remove_unused_columns=False)
    trainer = resumable(DPOTrainer)(model=model, ref_model=reference, args=args, train_dataset=dataset,
                                    processing_class=processor)
    trainer.train(resume_from_checkpoint=resume_point(config.resume, output))
    trainer.save_model(str(output))
    processor.tokenizer.padding_side = "left"
    processor.save_pretrained(str(output))
    return output


def main(config_path: Path, overrides: dict[str, Any] | None = None) -> int:
    print(train(load_config(config_path, overrides)))
    return 0
