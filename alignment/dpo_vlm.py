"""DPO for vision-language models (paper Sec. 3.4.2): `python -m harness dpo-vlm --config CONFIG.yaml`.

TRL's DPOTrainer, loss "sigmoid", on LLaVA-OneVision or Qwen-VL (Rafailov et al.):

    L = -E[ log σ( β · ( log π(y_w|x)/π_ref(y_w|x) - log π(y_l|x)/π_ref(y_l|x) ) ) ]

with log π(y|x) the sum of the answer tokens' log-probabilities (tests/test_dpo_vlm.py checks TRL's loss on the
tiny VLM against this formula). β sits inside the log-sigmoid. The paper's equation for understanding DPO writes
β_u outside it, `-E[β_u log σ(...)]`, a typo: with β outside, β only rescales the gradient and no longer sets how
far the policy may move from the reference. The released code (TRL, loss "sigmoid") puts β inside.

The preference pairs are written by `harness construct` (`dpo.jsonl`: an `images` column and conversational
prompt / chosen / rejected), batched by `reward.training.inputs` like the judges' inputs: the dataset text as
plain text, a video's `frames_per_video` evenly spaced frames in front of the question, on LLaVA-OneVision one
729-token tile each (`video_input: frames`, the inference scripts' path), on Qwen-VL one native video.

Defaults are the paper's and the released scripts' (`dpo_image_understand_ov7b.sh`,
`dpo_video_understand_llava_video_7b.sh`): β 0.1, lr 5e-7, 3 epochs, batch 1 with accumulation 16,
cosine schedule with warm-up ratio 0.3, bf16. The reference model is a frozen copy of the starting
policy. Several GPUs: `accelerate launch --config_file configs/accelerate/zero3.yaml -m harness dpo-vlm ...`.
Resuming: `resume: auto` restarts from the newest complete checkpoint in `output_dir` (weights restored through
`from_pretrained`; see reward.training.common.resumable).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.errors import UsageError
from harness.jsonl import read_jsonl
from reward.training.common import fit, load_vlm_config, resumable, resume_point, trainer_arguments


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
    #: LLaVA-OneVision: "frames" (each frame one 729-token tile, as the authors' inference scripts feed the
    #: trained policy) or "pooled" (LLaVA-NeXT's video branch). Qwen-VL: a native video either way.
    video_input: str = "frames"
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
    return load_vlm_config(path, DPOConfig, overrides, "preference dataset")


def preference_rows(config: DPOConfig) -> Iterator[dict[str, Any]]:
    """`dpo.jsonl` rows as training rows (`reward.training.inputs`): the prompt's single user turn in order
    (its image slots take the row's `images`), the row's video in front, the two answers' texts."""
    for directory in map(Path, config.data):
        path = directory / "dpo.jsonl"
        if not path.is_file():
            raise UsageError(f"{directory}: no dpo.jsonl (write it with `harness construct`)")
        for lineno, row in read_jsonl(path):
            where = f"{path} line {lineno}"
            missing = [k for k in ("prompt", "chosen", "rejected") if not row.get(k)]
            if missing:
                raise UsageError(f"{where}: a preference row needs {', '.join(missing)}")
            images = [str(p) for p in row.get("images") or []]
            for image in images:
                if not Path(image).is_file():
                    raise UsageError(f"{where}: image {image} not found")
            if row.get("video") and not Path(row["video"]).is_file():
                raise UsageError(f"{where}: video {row['video']} not found")
            yield {"id": str(row.get("id", lineno)), "images": images,
                   "parts": _prompt_parts(row["prompt"], images, row.get("video"), where),
                   "chosen": _answer(row["chosen"], where), "rejected": _answer(row["rejected"], where)}


def _prompt_parts(prompt: Any, images: list[str], video: str | None, where: str) -> list[dict[str, str]]:
    if not (isinstance(prompt, list) and len(prompt) == 1 and prompt[0].get("role") == "user"):
        raise UsageError(f"{where}: the prompt must be one user turn")
    content = prompt[0]["content"]
    content = [{"type": "text", "text": content}] if isinstance(content, str) else content
    slots = sum(1 for c in content if c.get("type") == "image")
    if slots != len(images):
        raise UsageError(f"{where}: the prompt has {slots} image slots for {len(images)} images")
    parts = [{"kind": "video", "value": str(video)}] if video else []
    queue = iter(images)
    for c in content:
        parts.append({"kind": "image", "value": next(queue)} if c.get("type") == "image" else
                     {"kind": "text", "value": str(c.get("text", ""))})
    return parts


def _answer(turns: Any, where: str) -> str:
    if isinstance(turns, str):
        return turns
    if not (isinstance(turns, list) and len(turns) == 1 and turns[0].get("role") == "assistant"):
        raise UsageError(f"{where}: chosen and rejected must each be one assistant turn")
    content = turns[0]["content"]
    return content if isinstance(content, str) else "".join(c.get("text", "") for c in content)


def build_dataset(config: DPOConfig):
    from reward.training.inputs import records_dataset

    rows = list(preference_rows(config))
    if not rows:
        raise UsageError(f"the preference datasets {config.data} hold no pairs")
    return records_dataset(rows, ("chosen", "rejected"))


def build_trainer(config: DPOConfig) -> Any:
    """The DPOTrainer `train` runs: the policy loaded from `config.model`, its frozen copy as the reference, our
    preference collator."""
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    from reward.hf_loading import load_vlm
    from reward.training.inputs import PreferenceCollator, RecordEncoder, install_vision_hook, training_builder

    dataset = build_dataset(config)
    loaded = load_vlm(config.model, revision=config.revision, dtype=config.dtype,
                      device="cpu" if config.use_cpu else None, trust_remote_code=config.trust_remote_code)
    model, processor = loaded.model.train(), loaded.processor
    builder = training_builder(model, processor, config.video_input)
    collator = PreferenceCollator(RecordEncoder(builder, ("chosen", "rejected"), config.frames_per_video,
                                                config.max_length), model.config.model_type)
    install_vision_hook(model, builder)  # before the copy: the reference model carries it too
    reference = copy.deepcopy(model).eval().requires_grad_(False)  # TRL would re-load _name_or_path otherwise
    args = TRLDPOConfig(**trainer_arguments(config), beta=config.beta, loss_type=["sigmoid"],
                        dataloader_num_workers=0)
    return resumable(DPOTrainer)(model=model, ref_model=reference, args=args, train_dataset=dataset,
                                 processing_class=processor, data_collator=collator)


def train(config: DPOConfig) -> Path:
    output = Path(config.output_dir)
    checkpoint = resume_point(config.resume, output)
    trainer = build_trainer(config)
    return fit(trainer, trainer.processing_class, output, checkpoint)


def main(config_path: Path, overrides: dict[str, Any] | None = None) -> int:
    print(train(load_config(config_path, overrides)))
    return 0
