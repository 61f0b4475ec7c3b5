"""The diffusers and peft pieces Diffusion-DPO (`alignment.diffusion_dpo`) composes: pixels to latents, prompts to
the UNet's conditioning, LoRA in and out of a UNet, the frozen reference's mode, and diffusers' dtype argument.
Also used by the diffusers policies (`alignment.diffusion_policies`). torch, diffusers and peft are imported
inside the functions.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from .diffusion import Conditioning, guidance_embedding, sdxl_time_ids


def dtype_kwarg(dtype) -> dict[str, Any]:
    """The dtype argument of diffusers' `from_pretrained`: `dtype=` where diffusers has it (it deprecates
    `torch_dtype=`), else `torch_dtype=`."""
    from diffusers.utils import deprecation_utils

    return {"dtype": dtype} if hasattr(deprecation_utils, "_resolve_dtype") else {"torch_dtype": dtype}


def reference_mode(unet):
    """Train mode with every dropout off. diffusers' ResnetBlock2D lays its input out differently in train mode
    (`contiguous()` before the shortcut conv), which changes the last bits of the prediction; at β = 5000 an eval-
    mode reference would move the step-0 loss off ln 2 (by ~0.04 in bf16 on the tiny SDXL-style UNet). In the
    policy's mode the frozen reference computes exactly what the policy computes at step 0."""
    import torch

    unet.train()
    for module in unet.modules():
        if isinstance(module, torch.nn.Dropout):
            module.eval()
    return unet


def add_lora(unet, lora_config) -> None:
    """Insert LoRA layers (peft) into the UNet: diffusers' `add_adapter` where the class has it
    (UNet2DConditionModel), peft's `inject_adapter_in_model` otherwise (UNet3DConditionModel)."""
    if hasattr(unet, "add_adapter"):
        unet.add_adapter(lora_config)
    else:
        from peft import inject_adapter_in_model

        inject_adapter_in_model(lora_config, unet)


@contextlib.contextmanager
def adapter_disabled(unet) -> Iterator[None]:
    """The UNet without its LoRA adapter (the reference policy) inside the block: every peft tuner layer is
    switched off and back on."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in unet.modules() if isinstance(m, BaseTunerLayer)]
    for layer in layers:
        layer.enable_adapters(False)
    try:
        yield
    finally:
        for layer in layers:
            layer.enable_adapters(True)


def encode_latents(vae: Any, pixels: Any, batch_size: int, generator: Any, device: Any, dtype: Any) -> Any:
    """Images (B, 3, H, W) → (B, C, h, w); clips (B, F, 3, H, W) → (B, C, F, h, w), the frames encoded one by
    one by the 2-D VAE, `batch_size` images or frames a call. z = (sample of the posterior − shift) ·
    scaling_factor, the sample drawn from `generator`."""
    import torch

    video = pixels.dim() == 5
    flat = pixels.flatten(0, 1) if video else pixels
    cfg = vae.config
    chunks = []
    with torch.no_grad():
        for chunk in flat.split(batch_size):
            posterior = vae.encode(chunk.to(device, dtype)).latent_dist
            chunks.append(posterior.sample(generator=generator))
    latents = torch.cat(chunks)
    if getattr(cfg, "shift_factor", None) is not None:
        latents = latents - cfg.shift_factor
    latents = latents * cfg.scaling_factor
    if video:
        b, f = pixels.shape[:2]
        latents = latents.reshape(b, f, *latents.shape[1:]).permute(0, 2, 1, 3, 4)
    return latents


def encode_prompts(tokenizers: list[Any], text_encoders: list[Any], prompts: list[str], *, sdxl: bool,
                   resolution: int, device: Any, time_cond_proj_dim: int | None,
                   guidance_scale: float | None) -> Conditioning:
    """Conditioning of B prompts, repeated for the 2B rows (winners then losers): the encoder's last hidden state
    (SD, video), or SDXL's two penultimate hidden states concatenated with the second encoder's pooled projection
    and the time ids; plus the embedding of `guidance_scale` for a UNet with `time_cond_proj_dim`."""
    import torch

    hidden, pooled = [], None
    with torch.no_grad():
        for tokenizer, encoder in zip(tokenizers, text_encoders):
            ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length,
                            truncation=True, return_tensors="pt").input_ids.to(device)
            if sdxl:
                out = encoder(ids, output_hidden_states=True)
                hidden.append(out.hidden_states[-2])
                pooled = out[0]  # the last encoder's pooled projection (text_embeds)
            else:
                hidden.append(encoder(ids)[0])
    states = torch.cat(hidden, dim=-1).repeat(2, 1, 1)
    n = states.shape[0]
    added = None
    if sdxl:
        added = {"text_embeds": pooled.repeat(2, 1), "time_ids": sdxl_time_ids(resolution, n, states.dtype, device)}
    timestep_cond = None
    if time_cond_proj_dim is not None and guidance_scale is not None:
        w = torch.full((n,), guidance_scale)
        timestep_cond = guidance_embedding(w, time_cond_proj_dim).to(device, states.dtype)
    return Conditioning(states, added, timestep_cond)
