"""Diffusion-DPO for text-to-image and text-to-video UNets (paper Sec. 3.4.1): `python -m harness dpo-diffusion
--config CONFIG.yaml`.

One recipe, read top to bottom: `DiffusionDPORecipe.setup` (load the diffusers components, the pairs, the
optimizer), `.train` (the loop), `.save_checkpoint` / `.load_checkpoint` (exact resume), `.save_final` (a
diffusers-format UNet or LoRA adapter) and `.cleanup`.

The objective (Wallace et al.; the paper's equation with T·ω(λ_t) = β_g; its maths in `alignment.diffusion`):

    x_t^* = √ᾱ_t · x_0^* + √(1 − ᾱ_t) · ε          one ε and one t per pair, shared by winner w and loser l
    mse_θ^* = mean over all non-batch dims of (ε_θ(x_t^*, t, c) − ε)²,   mse_ref^* likewise with the reference
    Δ = (mse_θ^w − mse_θ^l) − (mse_ref^w − mse_ref^l)
    L = −E log σ(−½ · β · Δ)                        β = 5000

Batch layout: the B winners' latents stacked on the B losers' (rows [0, B) preferred), ε and t drawn once
for each of the B pairs and repeated for both halves, the text conditioning repeated likewise. The reference
prediction is computed under `torch.no_grad()`: a frozen second copy of the UNet (full fine-tuning) or the same
UNet with its LoRA adapter disabled (`use_lora: true`, no second copy). At step 0 the policy equals the
reference, Δ = 0 and L = ln 2.

Models (`model_type`), all loaded from a diffusers pipeline directory or hub id with `from_pretrained(...,
subfolder=...)`:
- `sd`: CLIP text encoder + VAE + `UNet2DConditionModel`; conditioning = last hidden state of the encoder.
- `sdxl` (SDXL, SDXL-Turbo): two text encoders; `encoder_hidden_states` = the penultimate hidden states of
  both, concatenated; `added_cond_kwargs` = {"text_embeds": the second encoder's pooled projection,
  "time_ids": (original h, w, crop top, left, target h, w) = (r, r, 0, 0, r, r)} as the released train.py.
- `video`: `UNet3DConditionModel` on 5-D latents (B, C, F, H, W), the frames encoded by the 2-D VAE one by
  one. T2V-Turbo itself (VideoCrafter2 `lvdm` code) is not loadable by diffusers: a diffusers-format UNet3D
  pipeline stands in for it (docs/diffusion_dpo.md). A UNet with `time_cond_proj_dim` (T2V-Turbo's and LCM's
  guidance-distilled UNets) is given the guidance embedding of `guidance_scale` as `timestep_cond`.

Timesteps (`timestep_rule`): `uniform` t ~ U{0, …, T−1}; `turbo` t ∈ {249, 499, 749, 999} (the released code
for SDXL-Turbo: 250·(u mod 4) + 249); `grid` t ∈ {k·⌊T/n⌋ − 1 : k = 1..n}, n = `grid_steps` (VideoDPO's
T2V-Turbo run draws from its 50-step DDIM grid). `zero_terminal_snr: true` rescales ᾱ so that ᾱ_{T−1} = 0, as
the released code does for every "turbo" model (Lin et al. 2023).

Several GPUs or nodes: `accelerate launch --config_file configs/accelerate/zero3.yaml -m harness dpo-diffusion
--config ...`, or plain DDP (`accelerate launch --multi_gpu --num_processes N -m harness dpo-diffusion ...`); each
process takes its own `train_batch_size` pairs of every global batch and draws its own noise (seed + process
index). The shipped `fsdp.yaml` wraps Qwen/SigLIP layers and does not fit a UNet (docs/diffusion_dpo.md).

Resuming (`reward.training.common.resume_point`, the rule every recipe shares): `resume: auto` restarts from the
newest complete `checkpoint-*` in `output_dir` with the weights, optimizer, LR scheduler, step and
noise-generator state it saved; the data order is a function of (seed, epoch), so the resumed run sees the same
batches, noise and timesteps as an uninterrupted one. The pairs are read by `alignment.diffusion_pairs`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from harness.config import load_yaml_config, typed_config
from harness.errors import UsageError
from reward.training.common import DTYPES, PRECISION_DTYPES, STATE_FILE, checkpoints, resume_point, torch_dtype

from .diffusion import (TIMESTEP_RULES, Conditioning, diffusion_dpo_loss, merge_lora_state, noisy_pair_batch,
                        rescale_zero_terminal_snr)
from .diffusion_models import (add_lora, adapter_disabled, dtype_kwarg, encode_latents, encode_prompts,
                               reference_mode)
from .diffusion_pairs import image_pixels, read_pairs, video_pixels

logger = logging.getLogger(__name__)

MODEL_TYPES = ("sd", "sdxl", "video")
OPTIMIZERS = ("adamw", "adafactor")
LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial")


@dataclass
class DiffusionDPOConfig:
    """Every key of a dpo-diffusion YAML file; any other key is refused. Defaults: the paper (β 5000, batch 32
    pairs, 3 epochs) and the released SDXL-Turbo launcher (`DiffusionDPO/launchers/turbo_dpo.sh`)."""

    pretrained_model: str = "stabilityai/sdxl-turbo"  # diffusers pipeline directory or hub id
    model_type: str = "sdxl"  # sd | sdxl | video
    data: list[str] = field(default_factory=list)  # preference dataset directories (pairs.jsonl)
    output_dir: str = "checkpoints/diffusion-dpo"
    revision: str | None = None
    variant: str | None = None  # e.g. "fp16" weight files
    pretrained_vae: str | None = None  # a separate VAE (the launcher: madebyollin/sdxl-vae-fp16-fix)
    # the objective
    beta: float = 5000.0
    timestep_rule: str = "uniform"  # uniform | turbo | grid
    grid_steps: int = 50  # n of the `grid` rule
    zero_terminal_snr: bool = False
    guidance_scale: float | None = 7.5  # w of the guidance embedding, for UNets with time_cond_proj_dim
    # data
    resolution: int = 512  # images: shorter side resized to this, then centre-cropped square
    frames: int = 16  # video: frames per clip, evenly spaced over the video ("linspace")
    frame_size: list[int] | None = None  # video: [width, height]; None: [resolution, resolution]
    random_flip: bool = False  # horizontal flip of each image/clip with probability 1/2
    proportion_empty_prompts: float = 0.0
    vae_batch_size: int = 16  # images or frames per VAE encode call
    # optimisation
    train_batch_size: int = 32  # pairs per device and micro-batch
    gradient_accumulation_steps: int = 16
    num_train_epochs: int = 3
    max_steps: int = -1  # > 0 overrides the epochs
    learning_rate: float = 1e-8
    scale_lr: bool = True  # lr × accumulation × batch × processes (the launcher's --scale_lr)
    optimizer: str = "adamw"  # adamw | adafactor
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0  # <= 0: no clipping
    lr_scheduler: str = "constant_with_warmup"
    lr_warmup_steps: int = 5
    mixed_precision: str = "fp16"  # no | fp16 | bf16
    reference_dtype: str = "float32"  # weights of the frozen reference UNet (full fine-tuning): float32 | float16
    # | bfloat16; the released code uses its mixed-precision dtype, which at β = 5000 moves the loss off ln 2 at step 0
    gradient_checkpointing: bool = False
    # LoRA (peft); the reference is the same UNet with the adapter disabled
    use_lora: bool = False
    lora_rank: int = 4
    lora_alpha: float | None = None  # None: = rank
    lora_target_modules: list[str] = field(default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"])
    # bookkeeping
    save_steps: int = 10
    save_total_limit: int | None = None  # keep only the newest N checkpoints
    save_pipeline: bool = False  # also write the whole pipeline (base components + trained UNet) to output_dir
    logging_steps: int = 1
    resume: str = "auto"  # auto | never | a checkpoint directory
    seed: int = 42
    use_cpu: bool = False


# ---- configuration -----------------------------------------------------------------------------------

def load_config(path: Path | str, overrides: dict[str, Any] | None = None) -> DiffusionDPOConfig:
    """Read and validate a YAML config; `overrides` (CLI key=value) win over the file."""
    config = load_yaml_config(Path(path), DiffusionDPOConfig, overrides)
    _validate(config, str(path))
    return config


def config_from_dict(raw: dict[str, Any], where: str = "config") -> DiffusionDPOConfig:
    config = typed_config(raw, DiffusionDPOConfig, where)
    _validate(config, where)
    return config


def _validate(c: DiffusionDPOConfig, where: str) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise UsageError(f"{where}: {message}")

    need(bool(c.pretrained_model), "`pretrained_model` is empty")
    need(bool(c.data), "`data` lists no preference dataset directory")
    for key, value, valid in (("model_type", c.model_type, MODEL_TYPES), ("timestep_rule", c.timestep_rule,
                              TIMESTEP_RULES), ("mixed_precision", c.mixed_precision, tuple(PRECISION_DTYPES)),
                              ("optimizer", c.optimizer, OPTIMIZERS), ("lr_scheduler", c.lr_scheduler, LR_SCHEDULERS),
                              ("reference_dtype", c.reference_dtype, DTYPES)):
        need(value in valid, f"{key} {value!r}; valid: {', '.join(valid)}")
    need(c.beta > 0, "beta must be > 0")
    need(c.grid_steps >= 1, "grid_steps must be >= 1")
    need(c.resolution >= 8 and c.resolution % 8 == 0, "resolution must be a positive multiple of 8")
    need(c.frames >= 1, "frames must be >= 1")
    need(c.frame_size is None or (len(c.frame_size) == 2 and all(v > 0 and v % 8 == 0 for v in c.frame_size)),
         "frame_size must be [width, height], positive multiples of 8")
    need(0.0 <= c.proportion_empty_prompts <= 1.0, "proportion_empty_prompts must lie in [0, 1]")
    for key in ("vae_batch_size", "train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
                "save_steps", "logging_steps", "lora_rank"):
        need(getattr(c, key) >= 1, f"{key} must be >= 1")
    need(c.save_total_limit is None or c.save_total_limit >= 1, "save_total_limit must be >= 1 or null")
    need(c.learning_rate > 0, "learning_rate must be > 0")
    need(c.lr_warmup_steps >= 0, "lr_warmup_steps must be >= 0")
    need(not (c.use_lora and c.save_pipeline),
         "save_pipeline with use_lora: load the base pipeline and call `load_lora_weights(output_dir)` instead")
    need(bool(c.resume), "resume must be auto, never or a checkpoint directory")
    need(c.seed >= 0, "seed must be >= 0")


# ---- the recipe ---------------------------------------------------------------------------------------

class DiffusionDPORecipe:
    """setup → train → save_final → cleanup (see `train`). Attributes after setup: `unet` (prepared), `ref_unet`
    (None with LoRA), `vae`, `text_encoders`, `tokenizers`, `scheduler`, `optimizer`, `lr_scheduler`, `pairs`."""

    def __init__(self, config: DiffusionDPOConfig):
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.global_step = 0

    # -- setup ----------------------------------------------------------------------------------------
    def setup(self) -> None:
        import torch
        from accelerate import Accelerator

        c = self.config
        checkpoint = resume_point(c.resume, self.output_dir)  # a wrong `resume` fails before anything loads
        self.accelerator = Accelerator(gradient_accumulation_steps=c.gradient_accumulation_steps,
                                       mixed_precision=c.mixed_precision, cpu=c.use_cpu)
        self.weight_dtype = torch_dtype(PRECISION_DTYPES[self.accelerator.mixed_precision])
        self.device = self.accelerator.device
        self.kind = "video" if c.model_type == "video" else "image"
        self.pairs = [pair for directory in c.data for pair in read_pairs(directory, self.kind)]
        self.world = self.accelerator.num_processes
        self.rank = self.accelerator.process_index
        per_micro = c.train_batch_size * self.world
        self.updates_per_epoch = len(self.pairs) // per_micro // c.gradient_accumulation_steps
        if self.updates_per_epoch == 0:
            raise UsageError(f"{len(self.pairs)} pairs do not fill one optimizer step of {per_micro} pairs x "
                             f"{c.gradient_accumulation_steps} accumulation steps")
        self.total_steps = c.max_steps if c.max_steps > 0 else c.num_train_epochs * self.updates_per_epoch
        plugin = self.accelerator.state.deepspeed_plugin
        if plugin is not None:  # no dataloader is prepared, so DeepSpeed cannot infer its "auto" micro-batch
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = c.train_batch_size
        with self._frozen_loading():
            self._load_models()
        self._setup_optimizer()
        self.unet, self.optimizer = self.accelerator.prepare(self.unet, self.optimizer)
        self.accelerator.register_for_checkpointing(self.lr_scheduler)
        self.generator = torch.Generator().manual_seed(c.seed + self.rank)  # ε, t and VAE posterior samples
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)
        if self.accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            logger.info("Diffusion-DPO: %d pairs, %d steps (%d per epoch), %d process(es)", len(self.pairs),
                        self.total_steps, self.updates_per_epoch, self.world)

    def _frozen_loading(self):
        """Load models whole, not partitioned by ZeRO-3's `zero.Init`: the frozen text encoders, VAE and
        reference never pass through `accelerator.prepare` (and the trained UNet is partitioned there)."""
        plugin = self.accelerator.state.deepspeed_plugin
        return plugin.zero3_init_context_manager(enable=False) if plugin is not None else contextlib.nullcontext()

    def _load_models(self) -> None:
        import diffusers
        from transformers import AutoTokenizer, CLIPTextModel, CLIPTextModelWithProjection

        c = self.config
        src = {"revision": c.revision}
        scheduler = diffusers.DDPMScheduler.from_pretrained(c.pretrained_model, subfolder="scheduler", **src)
        if scheduler.config.prediction_type != "epsilon":
            raise UsageError(f"{c.pretrained_model}: prediction_type {scheduler.config.prediction_type!r}; "
                             "Diffusion-DPO here regresses ε (prediction_type 'epsilon')")
        if c.zero_terminal_snr:
            rescale_zero_terminal_snr(scheduler)
        self.scheduler = scheduler
        self.tokenizers = [AutoTokenizer.from_pretrained(c.pretrained_model, subfolder="tokenizer", **src)]
        self.text_encoders = [CLIPTextModel.from_pretrained(c.pretrained_model, subfolder="text_encoder", **src)]
        if c.model_type == "sdxl":
            self.tokenizers.append(AutoTokenizer.from_pretrained(c.pretrained_model, subfolder="tokenizer_2", **src))
            self.text_encoders.append(CLIPTextModelWithProjection.from_pretrained(
                c.pretrained_model, subfolder="text_encoder_2", **src))
        frozen = dtype_kwarg(self.weight_dtype)
        if c.pretrained_vae:
            self.vae = diffusers.AutoencoderKL.from_pretrained(c.pretrained_vae, revision=c.revision, **frozen)
        else:
            self.vae = diffusers.AutoencoderKL.from_pretrained(c.pretrained_model, subfolder="vae",
                                                               variant=c.variant, **src, **frozen)
        for module in [self.vae, *self.text_encoders]:
            module.requires_grad_(False).eval()
        self.vae.to(self.device)
        for encoder in self.text_encoders:
            encoder.to(self.device, dtype=self.weight_dtype)
        unet_cls = diffusers.UNet3DConditionModel if c.model_type == "video" else diffusers.UNet2DConditionModel
        # the trained UNet keeps fp32 weights (a LoRA base is frozen and loaded in the compute dtype)
        self.unet = unet_cls.from_pretrained(c.pretrained_model, subfolder="unet", variant=c.variant, **src,
                                             **(frozen if c.use_lora else {}))
        if c.model_type == "sdxl" and self.unet.config.addition_embed_type != "text_time":
            raise UsageError(f"{c.pretrained_model}: model_type sdxl needs a UNet with addition_embed_type "
                             f"'text_time', this one has {self.unet.config.addition_embed_type!r}")
        proj = getattr(self.unet, "time_embedding", None)
        if self.unet.config.time_cond_proj_dim is not None and c.guidance_scale is None and proj is not None:
            proj.cond_proj.requires_grad_(False)  # never used without a guidance embedding (DDP would wait for it)
        self.ref_unet = None
        if c.use_lora:
            self._add_lora()
        else:
            ref_dtype = torch_dtype(c.reference_dtype)
            self.ref_unet = unet_cls.from_pretrained(c.pretrained_model, subfolder="unet", variant=c.variant,
                                                     **src, **dtype_kwarg(ref_dtype))
            reference_mode(self.ref_unet.requires_grad_(False)).to(self.device)
        self.unet.to(self.device)
        if c.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.unet.train()

    def _add_lora(self) -> None:
        import torch
        from peft import LoraConfig

        c = self.config
        self.unet.requires_grad_(False)
        add_lora(self.unet, LoraConfig(r=c.lora_rank, lora_alpha=c.lora_alpha or c.lora_rank,
                                       init_lora_weights=True, target_modules=list(c.lora_target_modules)))
        for param in self.unet.parameters():
            if param.requires_grad:
                param.data = param.data.to(torch.float32)  # trainable adapter weights stay in fp32

    def _setup_optimizer(self) -> None:
        import torch
        from diffusers.optimization import get_scheduler

        c = self.config
        params = [p for p in self.unet.parameters() if p.requires_grad]
        lr = c.learning_rate
        if c.scale_lr:
            lr *= c.gradient_accumulation_steps * c.train_batch_size * self.world
        self.learning_rate = lr
        if c.optimizer == "adafactor":
            from transformers.optimization import Adafactor

            self.optimizer = Adafactor(params, lr=lr, weight_decay=c.weight_decay, clip_threshold=1.0,
                                       scale_parameter=False, relative_step=False)
        else:
            self.optimizer = torch.optim.AdamW(params, lr=lr, betas=(c.adam_beta1, c.adam_beta2),
                                               weight_decay=c.weight_decay, eps=c.adam_epsilon)
        self.lr_scheduler = get_scheduler(c.lr_scheduler, optimizer=self.optimizer,
                                          num_warmup_steps=c.lr_warmup_steps, num_training_steps=self.total_steps)

    # -- data -----------------------------------------------------------------------------------------
    def _epoch_order(self, epoch: int) -> list[int]:
        import torch

        g = torch.Generator().manual_seed(self.config.seed + 1_000_003 * (epoch + 1))
        return torch.randperm(len(self.pairs), generator=g).tolist()

    def _micro_batch(self, step: int, micro: int) -> list[int]:
        """Indices of this process's pairs for micro-batch `micro` of optimizer step `step` (0-based)."""
        c = self.config
        epoch, k = divmod(step, self.updates_per_epoch)
        if getattr(self, "_order_epoch", None) != epoch:
            self._order, self._order_epoch = self._epoch_order(epoch), epoch
        start = ((k * c.gradient_accumulation_steps + micro) * self.world + self.rank) * c.train_batch_size
        return self._order[start:start + c.train_batch_size]

    def _load_pixels(self, indices: list[int], epoch: int) -> tuple[Any, Any, list[str]]:
        """Winner and loser pixels of the pairs, and their prompts. Flips and empty prompts are drawn per pair
        from (seed, epoch, index), so they do not depend on where a run was resumed."""
        import torch

        c = self.config
        size = tuple(c.frame_size) if c.frame_size else (c.resolution, c.resolution)
        winners, losers, prompts = [], [], []
        for index in indices:
            pair = self.pairs[index]
            rng = np.random.default_rng([c.seed, epoch, index])
            flip_w, flip_l, empty = rng.random(3)
            for media, flip, out, name in ((pair.chosen, flip_w, winners, "chosen"),
                                           (pair.rejected, flip_l, losers, "rejected")):
                flip = c.random_flip and flip < 0.5
                if self.kind == "video":
                    out.append(video_pixels(media, f"{pair.where} {name}", c.frames, size, flip))
                else:
                    out.append(image_pixels(media, c.resolution, flip))
            prompts.append("" if empty < c.proportion_empty_prompts else pair.prompt)
        return torch.from_numpy(np.stack(winners)), torch.from_numpy(np.stack(losers)), prompts

    # -- encoders -------------------------------------------------------------------------------------
    def encode_latents(self, pixels):
        """Winner or loser pixels → latents (`alignment.diffusion_models.encode_latents`)."""
        return encode_latents(self.vae, pixels, self.config.vae_batch_size, self.generator, self.device,
                              self.weight_dtype)

    def encode_prompts(self, prompts: list[str]) -> Conditioning:
        """Conditioning of B prompts, repeated for the 2B rows (`alignment.diffusion_models.encode_prompts`)."""
        c = self.config
        return encode_prompts(self.tokenizers, self.text_encoders, prompts, sdxl=c.model_type == "sdxl",
                              resolution=c.resolution, device=self.device, guidance_scale=c.guidance_scale,
                              time_cond_proj_dim=getattr(self.accelerator.unwrap_model(self.unet).config,
                                                         "time_cond_proj_dim", None))

    # -- one step -------------------------------------------------------------------------------------
    def dpo_step(self, winners, losers, prompts: list[str]):
        """Loss and metrics of one micro-batch (see the module docstring)."""
        import torch

        c = self.config
        lat_w, lat_l = self.encode_latents(winners), self.encode_latents(losers)
        batch = noisy_pair_batch(lat_w, lat_l, self.scheduler, c.timestep_rule, self.generator, c.grid_steps)
        cond = self.encode_prompts(prompts).unet_kwargs()
        noisy = batch.noisy.to(self.weight_dtype)
        with torch.no_grad():
            if self.ref_unet is None:
                base = self.accelerator.unwrap_model(self.unet)
                with adapter_disabled(base), self.accelerator.autocast():
                    ref_pred = base(noisy, batch.timesteps, **cond).sample
            else:
                with self.accelerator.autocast():  # the policy's computation, on the frozen weights
                    ref_pred = self.ref_unet(noisy, batch.timesteps, **cond).sample
        with self.accelerator.autocast():
            model_pred = self.unet(noisy, batch.timesteps, **cond).sample
        return diffusion_dpo_loss(model_pred.float(), ref_pred.float(), batch.noise.float(), beta=c.beta)

    # -- the loop -------------------------------------------------------------------------------------
    def train(self, stop_after: int | None = None) -> None:
        """Optimizer steps from the resumed step to the last one. `stop_after`: return after that many steps in
        total, as if the run were killed there (for resume tests)."""
        import torch

        c = self.config
        end = self.total_steps if stop_after is None else min(self.total_steps, stop_after)
        while self.global_step < end:
            step = self.global_step
            epoch = step // self.updates_per_epoch
            sums: dict[str, float] = {}
            for micro in range(c.gradient_accumulation_steps):
                winners, losers, prompts = self._load_pixels(self._micro_batch(step, micro), epoch)
                with self.accelerator.accumulate(self.unet):
                    loss, metrics = self.dpo_step(winners, losers, prompts)
                    self.accelerator.backward(loss)
                    if self.accelerator.sync_gradients and c.max_grad_norm > 0:
                        self.accelerator.clip_grad_norm_(self.unet.parameters(), c.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad()
                for key, value in {"loss": loss.detach().item(), **metrics}.items():
                    sums[key] = sums.get(key, 0.0) + value / c.gradient_accumulation_steps
            lr = self.lr_scheduler.get_last_lr()[0]
            self.lr_scheduler.step()
            self.global_step += 1
            means = self.accelerator.reduce(torch.tensor(list(sums.values()), device=self.device), "mean")
            record = {"step": self.global_step, "epoch": epoch, "lr": lr, **dict(zip(sums, means.tolist()))}
            if self.accelerator.is_main_process and self.global_step % c.logging_steps == 0:
                with open(self.output_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
                logger.info("step %d/%d %s", self.global_step, self.total_steps, record)
            if self.global_step % c.save_steps == 0 or self.global_step == self.total_steps:
                self.save_checkpoint()

    # -- checkpoints ----------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """`checkpoint-<step>/`: accelerate state (weights, optimizer, LR scheduler, RNG), every process's noise
        generator, and `trainer_state.json` last, so that only complete checkpoints are resumed from."""
        import torch

        path = self.output_dir / f"checkpoint-{self.global_step}"
        self.accelerator.save_state(str(path))
        torch.save(self.generator.get_state(), path / f"generator_{self.rank}.pt")
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            state = {"step": self.global_step, "total_steps": self.total_steps, "world": self.world,
                     "config": dataclasses.asdict(self.config)}
            (path / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
            self._prune_checkpoints()
        self.accelerator.wait_for_everyone()
        return path

    def load_checkpoint(self, path: Path) -> None:
        import torch

        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        if state["world"] != self.world:
            raise UsageError(f"{path} was saved by {state['world']} process(es), this run has {self.world}: "
                             "the data split and noise would differ; resume with the same number of processes")
        self.accelerator.load_state(str(path))
        self.generator.set_state(torch.load(path / f"generator_{self.rank}.pt"))
        self.global_step = int(state["step"])
        metrics = self.output_dir / "metrics.jsonl"
        if self.accelerator.is_main_process and metrics.is_file():  # drop steps logged after this checkpoint
            lines = metrics.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= self.global_step]
            metrics.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        logger.info("resumed from %s at step %d", path, self.global_step)

    def _prune_checkpoints(self) -> None:
        limit = self.config.save_total_limit
        if limit is None:
            return
        for old in checkpoints(self.output_dir)[:-limit]:
            shutil.rmtree(old, ignore_errors=True)

    # -- final save -----------------------------------------------------------------------------------
    def save_final(self) -> Path:
        """Full fine-tuning: `output_dir/unet/` (load with `<UNet class>.from_pretrained(output_dir,
        subfolder="unet")` and pass `unet=` to the pipeline), plus the whole pipeline with `save_pipeline`.
        LoRA: `output_dir/pytorch_lora_weights.safetensors` (`pipeline.load_lora_weights(output_dir)`); a UNet3D's
        adapter is merged and saved as `output_dir/unet/` instead (see `_save_lora`)."""
        state = self.accelerator.get_state_dict(self.unet)  # gathers ZeRO-3 shards; every process calls it
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.unet)
            if self.config.use_lora:
                self._save_lora(model, state)
            else:
                self._save_unet(model, state)
            (self.output_dir / "dpo_config.yaml").write_text(
                yaml.safe_dump(dataclasses.asdict(self.config), sort_keys=False), encoding="utf-8")
        self.accelerator.wait_for_everyone()
        return self.output_dir

    def _save_unet(self, model, state: dict[str, Any]) -> None:
        import torch

        own = model.state_dict()
        if any(own[k].shape != v.shape for k, v in state.items() if k in own):  # sharded parameters (ZeRO-3)
            model = type(model).from_config(model.config)
            model.load_state_dict(state)
        model.save_pretrained(self.output_dir / "unet")
        if self.config.save_pipeline:
            import diffusers

            c = self.config
            extra = {"vae": self.vae.to(torch.float32)} if c.pretrained_vae else {}
            pipe = diffusers.DiffusionPipeline.from_pretrained(c.pretrained_model, unet=model, revision=c.revision,
                                                               variant=c.variant, **extra)
            pipe.save_pretrained(self.output_dir)

    def _save_lora(self, model, state: dict[str, Any]) -> None:
        """SD/SDXL: the adapter in diffusers' LoRA format. UNet3D (diffusers has no LoRA loading for it): the
        UNet with the adapter merged into its weights, in `output_dir/unet/`."""
        import diffusers
        import torch

        c = self.config
        if c.model_type == "video":
            plain = type(model).from_config(model.config)
            merged = merge_lora_state(state, (c.lora_alpha or c.lora_rank) / c.lora_rank)
            plain.load_state_dict({k: v.to(torch.float32) for k, v in merged.items()})
            plain.save_pretrained(self.output_dir / "unet")
            return
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(model, state_dict=state))
        layers = {k: v.float().cpu().contiguous() for k, v in layers.items()}
        cls = diffusers.StableDiffusionXLPipeline if c.model_type == "sdxl" else diffusers.StableDiffusionPipeline
        cls.save_lora_weights(str(self.output_dir), unet_lora_layers=layers)

    def cleanup(self) -> None:
        """Release the models and the accelerate state (a later recipe in this process starts clean)."""
        from accelerate.state import AcceleratorState, GradientState

        accelerator = getattr(self, "accelerator", None)
        if accelerator is not None:
            accelerator.free_memory()
            accelerator.end_training()
        for name in ("unet", "ref_unet", "vae", "text_encoders", "optimizer"):
            if hasattr(self, name):
                setattr(self, name, None)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()


def train(config: DiffusionDPOConfig) -> Path:
    """Run the whole recipe; returns `output_dir`."""
    recipe = DiffusionDPORecipe(config)
    try:
        recipe.setup()
        recipe.train()
        return recipe.save_final()
    finally:
        recipe.cleanup()


def main(config_path: Path | str, overrides: dict[str, Any] | None = None) -> int:
    config = load_config(config_path, overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(train(config))
    return 0
