"""Tiny random diffusion components built from configs (no download, seconds to build): the pieces of an SD-style
pipeline at 32x32 pixels (16x16 latents), shared by the Diffusion-DPO tests and the tiny RL example.

The weights are random and the tokenizer knows single byte-level characters only: what tests of the machinery
(pipelines load, generate, train, save) need, not images anyone would look at.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: pixels of a generated image; the tiny VAE halves it
RES = 32


def clip_tokenizer(root: Path) -> Any:
    """A CLIP tokenizer over single byte-level characters (no merges): enough to turn prompts into ids."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (root / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(str(root / "vocab.json"), str(root / "merges.txt"), model_max_length=16)


def text_config(**extra: Any) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=514, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=16, bos_token_id=512, eos_token_id=513,
                          pad_token_id=513, **extra)


def vae() -> Any:
    import diffusers

    return diffusers.AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                                   down_block_types=("DownEncoderBlock2D",) * 2,
                                   up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=32, sample_size=RES)


def ddpm() -> Any:
    import diffusers

    return diffusers.DDPMScheduler(num_train_timesteps=1000, steps_offset=1, clip_sample=False)


def unet_kwargs(kind: str) -> dict[str, Any]:
    """A cross-attention UNet's arguments, `kind` "2D" (images) or "3D" (video)."""
    return dict(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                down_block_types=(f"CrossAttnDownBlock{kind}", f"DownBlock{kind}"),
                up_block_types=(f"UpBlock{kind}", f"CrossAttnUpBlock{kind}"), cross_attention_dim=32,
                attention_head_dim=4, norm_num_groups=32)


def save_tiny_sd(directory: Path, tokenizer: Any = None) -> Path:
    """A Stable-Diffusion pipeline directory with these components (seeded, so rebuilt identically)."""
    import diffusers
    import torch
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    directory = Path(directory)
    tok = tokenizer if tokenizer is not None else clip_tokenizer(directory.parent / f"{directory.name}-tokenizer")
    diffusers.StableDiffusionPipeline(
        vae=vae(), text_encoder=CLIPTextModel(text_config()), tokenizer=tok,
        unet=diffusers.UNet2DConditionModel(**unet_kwargs("2D")), scheduler=ddpm(), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False).save_pretrained(directory)
    return directory
