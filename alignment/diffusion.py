"""The maths of Diffusion-DPO (Wallace et al.; paper Sec. 3.4.1), apart from the recipe that runs it
(`alignment.diffusion_dpo`): the loss, how a pair is noised, which timesteps are drawn, the zero-terminal-SNR
schedule, the guidance embedding and SDXL's micro-conditioning, and merging a LoRA into its base weights.

    x_t^* = √ᾱ_t · x_0^* + √(1 − ᾱ_t) · ε          one ε and one t per pair, shared by winner w and loser l
    mse_θ^* = mean over all non-batch dims of (ε_θ(x_t^*, t, c) − ε)²,   mse_ref^* likewise with the reference
    Δ = (mse_θ^w − mse_θ^l) − (mse_ref^w − mse_ref^l)
    L = −E log σ(−½ · β · Δ)                        β = 5000 (the paper's T·ω(λ_t) is this constant β_g)

for a batch laid out as the winners stacked on the losers (first half preferred), as the released train.py.
torch is imported inside the functions; none of them needs diffusers (a scheduler is duck-typed: `config`,
`betas`, `add_noise`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

TIMESTEP_RULES = ("uniform", "turbo", "grid")
TURBO_TIMESTEPS = (249, 499, 749, 999)


# ---- the objective ------------------------------------------------------------------------------------

def diffusion_dpo_loss(model_pred: torch.Tensor, ref_pred: torch.Tensor, noise: torch.Tensor,
                       beta: float = 5000.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Diffusion-DPO on predictions for a batch of 2B: rows [0, B) winners, [B, 2B) their losers.

    `noise` is the target ε of every row (the caller draws one ε per pair and repeats it for both halves;
    the check below refuses a batch where winner and loser do not share it). Works for 4-D image latents
    (2B, C, H, W) and 5-D video latents (2B, C, F, H, W). Metrics: implicit accuracy (share of pairs
    whose Δ < 0, i.e. the policy improved the winner more than the loser relative to the reference), the
    mean Δ, and the mean squared errors of policy and reference.
    """
    import torch
    import torch.nn.functional as F

    if model_pred.shape != ref_pred.shape or model_pred.shape != noise.shape:
        raise ValueError("model_pred, ref_pred and noise must have one shape")
    if model_pred.shape[0] % 2:
        raise ValueError("the batch must stack winners on losers: an even number of rows")
    noise_w, noise_l = noise.chunk(2)
    if not torch.equal(noise_w, noise_l):
        raise ValueError("winner and loser must share one noise sample (repeat ε for both halves)")
    dims = tuple(range(1, model_pred.dim()))
    model_mse = (model_pred.float() - noise.float()).pow(2).mean(dim=dims)
    ref_mse = (ref_pred.float() - noise.float()).pow(2).mean(dim=dims)
    model_w, model_l = model_mse.chunk(2)
    ref_w, ref_l = ref_mse.chunk(2)
    delta = (model_w - model_l) - (ref_w - ref_l)
    inside = -0.5 * beta * delta
    loss = -F.logsigmoid(inside).mean()
    return loss, {"implicit_accuracy": (inside > 0).float().mean().item(), "delta": delta.mean().item(),
                  "model_mse": model_mse.mean().item(), "ref_mse": ref_mse.mean().item()}


# ---- noise, timesteps and conditioning -----------------------------------------------------------------

def timestep_choices(rule: str, num_train_timesteps: int, grid_steps: int = 50) -> list[int] | None:
    """The timesteps a rule may draw: `uniform` all of 0..T−1 (None); `turbo` 249, 499, 749, 999 (the released
    code for SDXL-Turbo: 250·(u mod 4) + 249); `grid` k·⌊T/n⌋ − 1 for k = 1..n, n = `grid_steps` (a DDIM grid)."""
    if rule == "uniform":
        return None
    if rule == "turbo":
        return list(TURBO_TIMESTEPS)
    if rule == "grid":
        ratio = num_train_timesteps // grid_steps
        return [k * ratio - 1 for k in range(1, grid_steps + 1)]
    raise ValueError(f"unknown timestep rule {rule!r}")


def sample_timesteps(n: int, rule: str, num_train_timesteps: int, generator, grid_steps: int = 50):
    """n timesteps drawn by `rule` (see `timestep_choices`) from `generator` (a CPU torch.Generator)."""
    import torch

    choices = timestep_choices(rule, num_train_timesteps, grid_steps)
    if choices is None:
        return torch.randint(0, num_train_timesteps, (n,), generator=generator)
    index = torch.randint(0, len(choices), (n,), generator=generator)
    return torch.tensor(choices, dtype=torch.long)[index]


@dataclass
class NoisyPairBatch:
    """Rows [0, B) winners, [B, 2B) their losers; row i and row i + B share `noise` and `timesteps`."""

    noisy: Any  # x_t, (2B, C, ...)
    noise: Any  # ε, the regression target
    timesteps: Any  # (2B,)


def noisy_pair_batch(latents_w, latents_l, scheduler, rule: str, generator, grid_steps: int = 50) -> NoisyPairBatch:
    """Stack winners on losers and noise them with one ε and one t per pair:
    x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (`scheduler.add_noise`). ε and t come from the CPU `generator` and are then
    moved to the latents' device, so a run is reproducible on any device."""
    import torch

    if latents_w.shape != latents_l.shape:
        raise ValueError(f"winner and loser latents differ in shape: {tuple(latents_w.shape)} vs "
                         f"{tuple(latents_l.shape)}")
    b = latents_w.shape[0]
    latents = torch.cat([latents_w, latents_l])
    noise = torch.randn(tuple(latents_w.shape), generator=generator, dtype=torch.float32)
    noise = noise.to(latents.device, latents.dtype).repeat(2, *[1] * (latents.dim() - 1))
    t = sample_timesteps(b, rule, scheduler.config.num_train_timesteps, generator, grid_steps)
    timesteps = t.to(latents.device).repeat(2)
    return NoisyPairBatch(scheduler.add_noise(latents, noise, timesteps), noise, timesteps)


def rescale_zero_terminal_snr(scheduler) -> None:
    """Shift and scale √ᾱ_t so that √ᾱ_{T−1} = 0 and √ᾱ_0 is kept (Lin et al. 2023, Alg. 1):
    √ᾱ'_t = (√ᾱ_t − √ᾱ_{T−1}) · √ᾱ_0 / (√ᾱ_0 − √ᾱ_{T−1}). The released code applies this to every turbo model
    ("Turbo needs zero terminal SNR to truly learn from noise")."""
    import torch

    root = (1.0 - scheduler.betas).cumprod(0).sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * first / (first - last)
    scheduler.alphas_cumprod = root.pow(2).to(torch.float32)


def guidance_embedding(w, dim: int):
    """The guidance-scale embedding of guidance-distilled UNets (LCM, T2V-Turbo `get_w_embedding`):
    s = 1000·w, f_k = exp(−k · ln 10⁴ / (d/2 − 1)), e = [sin(s·f), cos(s·f)] (zero-padded to odd d)."""
    import torch

    w = w.float() * 1000.0
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    args = w[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return torch.nn.functional.pad(emb, (0, 1)) if dim % 2 else emb


def sdxl_time_ids(resolution: int, n: int, dtype, device):
    """SDXL micro-conditioning (original size, crop top-left, target size) = (r, r, 0, 0, r, r) for all rows,
    as the released train.py (the images were resized and centre-cropped to r)."""
    import torch

    row = torch.tensor([resolution, resolution, 0, 0, resolution, resolution], dtype=dtype, device=device)
    return row[None, :].repeat(n, 1)


@dataclass
class Conditioning:
    """What the UNet sees besides x_t and t, for 2B rows (winners then losers)."""

    encoder_hidden_states: Any
    added_cond_kwargs: dict[str, Any] | None = None
    timestep_cond: Any = None

    def unet_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"encoder_hidden_states": self.encoder_hidden_states}
        if self.added_cond_kwargs is not None:
            kwargs["added_cond_kwargs"] = self.added_cond_kwargs
        if self.timestep_cond is not None:
            kwargs["timestep_cond"] = self.timestep_cond
        return kwargs


# ---- LoRA ----------------------------------------------------------------------------------------------

def merge_lora_state(state: dict[str, Any], scaling: float) -> dict[str, Any]:
    """The plain model's state dict from a LoRA'd one: W' = W + s · B·A for every adapted Linear (s = α / r),
    "<name>.base_layer.<p>" renamed to "<name>.<p>", the adapter tensors dropped."""
    merged: dict[str, Any] = {}
    for key, value in state.items():
        if ".lora_" in key:
            continue
        merged[key.replace(".base_layer.", ".")] = value
    for key in state:
        if ".lora_A." in key and key.endswith(".weight"):
            name = key.split(".lora_A.")[0]
            a, b = state[key].float(), state[key.replace(".lora_A.", ".lora_B.")].float()
            base = merged[f"{name}.weight"]
            if base.dim() != 2:
                raise ValueError(f"{name}: only LoRA on Linear layers can be merged here, got {tuple(base.shape)}")
            merged[f"{name}.weight"] = (base.float() + scaling * (b @ a)).to(base.dtype)
    return merged
