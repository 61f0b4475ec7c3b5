"""What the training recipes share, written once: the dtype names, the checks every VLM recipe config makes, the
resume rule, the transformers Trainer arguments both VLM recipes set alike, and the resume fix for LLaVA-style
checkpoints.

Used by `reward.training.sft` (`harness train-reward`), `alignment.dpo_vlm` (`harness dpo-vlm`) and
`alignment.diffusion_dpo` (`harness dpo-diffusion`, which has no transformers Trainer and takes only the dtype
names and the resume rule). The YAML files themselves are read by `harness.config.load_yaml_config`. torch and
transformers are imported inside the functions that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

from harness.config import load_yaml_config
from harness.errors import UsageError

DTYPES = ("bfloat16", "float16", "float32")
#: accelerate's `mixed_precision` names -> the dtype of the weights it computes in
PRECISION_DTYPES = {"no": "float32", "fp16": "float16", "bf16": "bfloat16"}
#: how a video record reaches a LLaVA-OneVision model (see reward.training.inputs)
VIDEO_INPUTS = ("pooled", "frames")
#: written last into every checkpoint, by transformers' Trainer and by the diffusion recipe alike: a checkpoint
#: directory without it was cut off while being saved
STATE_FILE = "trainer_state.json"


C = TypeVar("C", bound="VLMRecipeConfig")


class VLMRecipeConfig(Protocol):
    """The keys `train-reward` and `dpo-vlm` configs share (each recipe's dataclass lists its own defaults)."""

    data: list[str]
    output_dir: str
    learning_rate: float
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    num_train_epochs: float
    max_steps: int
    warmup_ratio: float
    lr_scheduler_type: str
    dtype: str
    gradient_checkpointing: bool
    frames_per_video: int
    video_input: str
    save_steps: int
    save_total_limit: int
    logging_steps: int
    report_to: list[str]
    resume: str
    seed: int
    use_cpu: bool


def torch_dtype(name: str) -> Any:
    """The torch dtype of one of `DTYPES`."""
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def load_vlm_config(path: Path, cls: type[C], overrides: dict[str, Any] | None, datasets: str) -> C:
    """A `train-reward` / `dpo-vlm` config: the typed YAML load, then the value checks both recipes make
    (`datasets` names what `data` must list)."""
    config = load_yaml_config(path, cls, overrides)
    if not config.data:
        raise UsageError(f"{path}: `data` lists no {datasets} directory")
    if config.dtype not in DTYPES:
        raise UsageError(f"{path}: dtype {config.dtype!r}; valid: {', '.join(DTYPES)}")
    if config.frames_per_video < 1:
        raise UsageError(f"{path}: frames_per_video must be >= 1")
    if config.video_input not in VIDEO_INPUTS:
        raise UsageError(f"{path}: video_input {config.video_input!r}; valid: {', '.join(VIDEO_INPUTS)}")
    return config


# ---- resume ------------------------------------------------------------------------------------------

def checkpoints(output_dir: Path) -> list[Path]:
    """The complete `checkpoint-<step>` directories in `output_dir` (those holding `STATE_FILE`), oldest first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.glob("checkpoint-*")
             if p.name.split("-", 1)[1].isdigit() and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]))


def resume_point(resume: str, output_dir: Path) -> Path | None:
    """The checkpoint a recipe restarts from: "auto" = the newest complete checkpoint in `output_dir` (None when
    there is none), "never" = None, anything else = that checkpoint, which must be complete."""
    if resume == "never":
        return None
    if resume == "auto":
        found = checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise UsageError(f"resume: {path} is not a complete checkpoint (no {STATE_FILE})")
    return path


# ---- transformers Trainer recipes -------------------------------------------------------------------

def trainer_arguments(config: VLMRecipeConfig) -> dict[str, Any]:
    """Keyword arguments of TRL's SFTConfig / DPOConfig that both VLM recipes take from their config alike."""
    half = not config.use_cpu  # mixed precision on an accelerator only
    return dict(
        output_dir=str(config.output_dir), learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, num_train_epochs=config.num_train_epochs,
        # transformers 5 reads warmup_steps < 1 as a share of the steps (it dropped warmup_ratio)
        max_steps=config.max_steps, warmup_steps=config.warmup_ratio, lr_scheduler_type=config.lr_scheduler_type,
        bf16=half and config.dtype == "bfloat16", fp16=half and config.dtype == "float16",
        activation_checkpointing=config.gradient_checkpointing,
        max_length=None,  # our collators build the sequences and refuse an over-long record by id
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps, report_to=config.report_to, seed=config.seed, use_cpu=config.use_cpu,
        remove_unused_columns=False)  # the collators read `parts` and the completion columns


def fit(trainer: Any, processor: Any, output_dir: Path, checkpoint: Path | None) -> Path:
    """Train from `checkpoint` (None: from the start), then save the final model and its processor."""
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    trainer.save_model(str(output_dir))
    processor.save_pretrained(str(output_dir))
    return Path(output_dir)


def resumable(base: type) -> type:
    """`base` (a transformers Trainer subclass) with resume fixed for LLaVA-OneVision-style models.

    transformers 5 saves these checkpoints under their legacy parameter names and converts them back in
    `from_pretrained`, but `Trainer._load_from_checkpoint` loads the file as is, with `strict=False`: on
    resume every weight is silently skipped and training restarts from the base model (seen with
    transformers 5.24). Restore the weights through `from_pretrained`, which applies the conversion, and
    insist that every key matches. DeepSpeed and FSDP keep their own checkpoint formats and are left to
    the Trainer."""

    class Resumable(base):  # type: ignore[misc, valid-type]
        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            if self.is_deepspeed_enabled or self.is_fsdp_enabled:
                return super()._load_from_checkpoint(resume_from_checkpoint, model)
            target = model if model is not None else self.model
            restored = type(target).from_pretrained(resume_from_checkpoint, dtype=target.dtype)
            target.load_state_dict(restored.state_dict(), strict=True)

    Resumable.__name__ = Resumable.__qualname__ = f"Resumable{base.__name__}"
    return Resumable
