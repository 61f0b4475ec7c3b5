"""Tiny judges that see exactly what the real checkpoints see.

Each builder writes a checkpoint directory whose tokenizer (the real Qwen2 BPE vocabulary and merges, the real
added tokens at their real ids), chat template and image processor configuration are the real checkpoint's,
copied verbatim into `reward/testing/checkpoint_configs/` (sources, repositories and commits: SOURCES.md there). Only
the widths and depths of the networks shrink (hidden size 32, two layers; the vocabulary keeps its real size),
and the weights are random. So token ids, placeholder counts, pixel shapes and rendered prompts are those of
the real model, and `reward.hf_loading.load_vlm` loads the directory through the same code path as a hub
checkpoint.

    python -m reward.testing.tiny_checkpoints unifiedreward-7b /tmp/ur7b     # converted UnifiedReward-7b (LLaVA-OV)
    python -m reward.testing.tiny_checkpoints qwen2.5-vl-7b /tmp/urq7b       # UnifiedReward-qwen-7b / 2.0-qwen-7b base

Families (name -> the real checkpoint whose configuration is used):
- `unifiedreward-7b`: lmms-lab/llava-onevision-qwen2-7b-ov, the base of CodeGoat24/UnifiedReward-7b (LLaVA-NeXT
  format), converted by `reward.convert_llava`'s config, tokenizer and processor rules, as `harness convert-llava`
  converts the real one: 384 px SigLIP patch 14 (729 tokens a tile), the 36 grid pinpoints, anyres_max_9,
  conv template qwen_1_5.
- `qwen2-vl-7b`, `qwen2.5-vl-7b`, `qwen3-vl-4b`: Qwen/Qwen2-VL-7B-Instruct, Qwen/Qwen2.5-VL-7B-Instruct,
  Qwen/Qwen3-VL-4B-Instruct (the bases of UnifiedReward-qwen-*, -2.0-qwen-*, -2.0-qwen3vl-*).

The `reward.testing.tiny_models` builders (16 px images, toy tokenizer) stay for tests where fidelity is not the point.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import torch

CONFIGS = Path(str(resources.files("reward.testing").joinpath("checkpoint_configs")))
TOKENIZER_FILES = ("vocab.json", "merges.txt")  # Qwen2's byte-level BPE, shared by Qwen2, 2.5, 3 and LLaVA-OV-Qwen2
SMALL_TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2}
SMALL_MROPE = [1, 1, 2]  # head_dim 8: the three sections must add up to 4


def _source(name: str) -> Path:
    path = CONFIGS / name
    if not path.is_dir():
        raise FileNotFoundError(f"no shipped configuration {name!r} under {CONFIGS}")
    return path


def write_tokenizer_files(directory: Path, checkpoint: str) -> None:
    """The real Qwen2 vocabulary and merges plus `checkpoint`'s tokenizer files, into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        with gzip.open(CONFIGS / "qwen2_tokenizer" / f"{name}.gz", "rb") as src, open(directory / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    for name in ("tokenizer_config.json", "added_tokens.json", "special_tokens_map.json", "chat_template.json",
                 "preprocessor_config.json", "video_preprocessor_config.json", "generation_config.json"):
        if (_source(checkpoint) / name).is_file():
            shutil.copy(_source(checkpoint) / name, directory / name)


def _shrunk_qwen_config(checkpoint: str) -> dict[str, Any]:
    config = json.loads((_source(checkpoint) / "config.json").read_text())
    vision = config["vision_config"]
    if config["model_type"] == "qwen3_vl":
        text = config["text_config"]
        text.update(SMALL_TEXT, head_dim=8)
        text["rope_scaling"] = {**text["rope_scaling"], "mrope_section": SMALL_MROPE}
        vision.update(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=32,
                      deepstack_visual_indexes=[0])
        return config
    config.update(SMALL_TEXT, max_window_layers=2)
    config["rope_scaling"] = {**config["rope_scaling"], "mrope_section": SMALL_MROPE}
    if config["model_type"] == "qwen2_5_vl":
        vision.update(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=32,
                      fullatt_block_indexes=[1])
    else:  # qwen2_vl: embed_dim is the tower's width, hidden_size the language model's
        vision.update(depth=2, embed_dim=32, hidden_size=32, mlp_ratio=2, num_heads=4)
    return config


def save_qwen(checkpoint: str, directory: Path, seed: int = 0) -> Path:
    from transformers import AutoConfig, AutoModelForImageTextToText

    from reward.hf_loading import PROCESSORS

    directory = Path(directory)
    write_tokenizer_files(directory, checkpoint)
    (directory / "config.json").write_text(json.dumps(_shrunk_qwen_config(checkpoint), indent=2))
    config = AutoConfig.from_pretrained(directory)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config).eval()
    processor = PROCESSORS[config.model_type].from_pretrained(directory)
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    for name in TOKENIZER_FILES:  # the saved tokenizer.json holds them
        (directory / name).unlink()
    return directory


def save_unifiedreward_7b(directory: Path, seed: int = 0) -> Path:
    """The converted UnifiedReward-7b, shrunk: the original LLaVA-NeXT config through the converter's rules."""
    from transformers import LlavaOnevisionForConditionalGeneration

    from reward import convert_llava as conv

    checkpoint = "llava-onevision-qwen2-7b-ov"
    original = json.loads((_source(checkpoint) / "config.json").read_text())
    original.update(SMALL_TEXT, max_window_layers=2, mm_hidden_size=32)
    vision = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_channels": 3, "patch_size": 14,
              "image_size": 384, "vision_use_head": False}  # SigLIP-so400m-patch14-384's image geometry
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        write_tokenizer_files(src, checkpoint)
        (src / "config.json").write_text(json.dumps(original))
        text = conv.text_config_from(original, int(original["vocab_size"]))
        tokenizer = conv.prepare_tokenizer(src, text)
    pinpoints = conv.grid_pinpoints(original["image_grid_pinpoints"], vision["image_size"])
    config = conv.build_config(original, text, vision, tokenizer.convert_tokens_to_ids(conv.IMAGE_TOKEN),
                               tokenizer.convert_tokens_to_ids(conv.VIDEO_TOKEN), pinpoints)
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = conv.build_processor(tokenizer, vision, pinpoints, original["image_aspect_ratio"])
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


BUILDERS: dict[str, Callable[[Path, int], Path]] = {
    "unifiedreward-7b": save_unifiedreward_7b,
    "qwen2-vl-7b": lambda d, seed=0: save_qwen("Qwen2-VL-7B-Instruct", d, seed),
    "qwen2.5-vl-7b": lambda d, seed=0: save_qwen("Qwen2.5-VL-7B-Instruct", d, seed),
    "qwen3-vl-4b": lambda d, seed=0: save_qwen("Qwen3-VL-4B-Instruct", d, seed),
}


#: The tiny builder of each architecture a judge family's checkpoints have (`reward.families.Checkpoint.model_type`).
#: No copy of a UnifiedReward-2.0/-Think/-Edit checkpoint's own tokenizer or chat-template files could be found
#: (checkpoint_configs/SOURCES.md), so a family's tiny judge is its base model's: the real base chat template.
TINY_FOR_MODEL_TYPE = {"llava_onevision": "unifiedreward-7b", "qwen2_vl": "qwen2-vl-7b", "qwen2_5_vl": "qwen2.5-vl-7b",
                       "qwen3_vl": "qwen3-vl-4b"}


def save(name: str, directory: Path, seed: int = 0) -> Path:
    if name not in BUILDERS:
        raise KeyError(f"unknown tiny checkpoint {name!r}; known: {', '.join(BUILDERS)}")
    return BUILDERS[name](Path(directory), seed)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in BUILDERS:
        raise SystemExit(f"usage: python -m reward.testing.tiny_checkpoints {{{'|'.join(BUILDERS)}}} OUTPUT_DIR")
    print(save(sys.argv[1], Path(sys.argv[2])))
