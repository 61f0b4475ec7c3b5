"""Convert an original LLaVA-NeXT `llava_qwen` checkpoint to transformers' LLaVA-OneVision layout (extra `hf`).

The paper checkpoints (`CodeGoat24/UnifiedReward-7b`, `-0.5b`, `lmms-lab/llava-critic-7b`) are saved by the
LLaVA-NeXT training code: one config.json with the Qwen2 fields at the top level plus `mm_*` fields, safetensors
shards with LLaVA-NeXT parameter names, and a Qwen2 tokenizer without an `<image>` token (LLaVA-NeXT splices the
id -200 into the ids instead). `convert()` writes a directory that `reward.hf_loading.load_vlm` loads as
`LlavaOnevisionForConditionalGeneration`:

    python -m harness convert-llava CodeGoat24/UnifiedReward-7b /data/UnifiedReward-7b-hf

Weights: every original key is renamed by the first matching entry of `PREFIX_MAP` (original prefix ->
transformers 5 prefix); `*.inv_freq` (rotary caches, recomputed by transformers) is dropped; any other key is an
error naming it. The target model is built from the converted config on the meta device and the renamed tensors
are assigned with a strict check of names and shapes, so a checkpoint that does not fit fails with the keys named.

    model.vision_tower.vision_tower.vision_model.*  -> model.vision_tower.*       (SigLIP, last layer already cut)
    model.mm_projector.0.* / model.mm_projector.2.* -> model.multi_modal_projector.linear_1.* / linear_2.*
    model.image_newline                            -> model.image_newline
    model.embed_tokens.* / model.layers.* / model.norm.* -> model.language_model.*
    lm_head.*                                      -> lm_head.*  (a copy of the embeddings when absent)

Config: the text config is a Qwen2 config made of the original's top-level fields; the SigLIP vision config is
read off the tensor shapes (width, MLP size, depth, patch, image size from the number of position embeddings,
channels), with the head count, which shapes cannot tell, from `VISION_HEADS` or `vision_num_heads`. LLaVA-NeXT
deletes SigLIP's last encoder layer and feeds the last remaining hidden state, un-normed, to the projector; in
transformers that is `vision_feature_layer=-1` (a hidden state, before `post_layernorm`) with strategy "full"
(SigLIP has no CLS token to drop). `image_aspect_ratio` "anyres_max_N" becomes `vision_aspect_ratio`; the grid
pinpoints are copied (the "(1x1),...,(6x6)" shorthand is expanded as LLaVA-NeXT does).

Tokenizer and processor: `<image>` and `<video>` are added as special tokens to the original tokenizer; their
ids become `image_token_index` / `video_token_index`. The image processor is SigLIP's (square resize to the
tower's image size, mean/std 0.5, bicubic) plus the anyres grid; the chat template renders conv template
`qwen_1_5` of the paper's scripts: the default system prompt "You are a helpful assistant." when the messages
bring none, then per message `<|im_start|>role\\n`, its items in order (`<image>\\n` for an image, a text as is),
`<|im_end|>\\n`.

Differences from transformers' `convert_llava_onevision_weights_to_hf.py` (used only as a guide):
- Key mapping: an ordered prefix map to the transformers 5 layout (`model.language_model.*`, `lm_head.*`,
  `model.multi_modal_projector.*`) instead of chained substring replacements aimed at the older layout; unknown
  keys are an error instead of being passed through.
- Loading: names and shapes are checked first and reported as a `UsageError` listing the keys, instead of
  `load_state_dict`'s RuntimeError.
- Text config: from the checkpoint's own config.json, not from a separately downloaded Qwen2-*-Instruct config
  chosen by a hard-coded table of repo ids (the reward models are fine-tunes, not those repos).
- Vision config: inferred from the tensor shapes and a head-count table / argument, not hard-coded to
  SigLIP-so400m with 26 layers.
- Tokenizer: the checkpoint's own tokenizer, not Qwen2-Instruct's.
- dtype: the source dtype is kept by default (the reference always casts to float16); `dtype=` casts.
- Embedding growth: only when the tokenizer with the two added tokens outgrows the embedding matrix (Qwen2
  checkpoints have spare rows, so normally never), padded to a multiple of 64, new rows set to the mean row.
  The reference always grows by 2 (padded to 64) and samples the new rows from a normal around the mean; the
  mean is deterministic, and the added rows are never looked up as inputs (the model overwrites image/video
  token positions with vision features), so only their logits could ever depend on the choice.
- Processor: image-only (`ImageOnlyLlavaOnevisionProcessor`: no video processor, which needs torchvision),
  image size and `num_image_tokens` from the inferred vision config (the reference hard-codes 729), grid
  pinpoints and `vision_aspect_ratio` from the original config, SigLIP normalisation set here instead of read
  from the vision tower's hub repo.
- Chat template: no `<video>` rendering and no `{% generation %}` markers; adds qwen_1_5's default system
  prompt when none is given (the reference's template adds none, though its own test prompt has it).
- Config: no `use_image_newline_parameter` (transformers 5 has no such field; `image_newline` always exists).
- No hub upload and no inference check against stored logits (the tests compare logits with the original
  layout on a tiny model instead).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from harness.errors import UsageError

try:
    import torch
    from accelerate import init_empty_weights
    from safetensors.torch import load_file
    from transformers import (
        AddedToken,
        AutoTokenizer,
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        PreTrainedTokenizerBase,
        Qwen2Config,
    )
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import LlavaOnevisionImageProcessorPil
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("convert-llava needs the `hf` extra: pip install \"torch==2.13.0\" -e \".[hf]\"",
                      name=exc.name) from exc

from .hf_loading import DTYPES, ImageOnlyLlavaOnevisionProcessor

ORIGINAL_MODEL_TYPES = ("llava_qwen", "llava")

# Original prefix -> transformers 5 prefix, first match wins. A prefix without a trailing dot names one key.
PREFIX_MAP: tuple[tuple[str, str], ...] = (
    ("model.vision_tower.vision_tower.vision_model.", "model.vision_tower."),
    ("model.mm_projector.0.", "model.multi_modal_projector.linear_1."),
    ("model.mm_projector.2.", "model.multi_modal_projector.linear_2."),
    ("model.image_newline", "model.image_newline"),
    ("model.embed_tokens.", "model.language_model.embed_tokens."),
    ("model.layers.", "model.language_model.layers."),
    ("model.norm.", "model.language_model.norm."),
    ("lm_head.", "lm_head."),
)
DROPPED_SUFFIXES = (".inv_freq",)  # rotary caches: buffers that transformers recomputes from the config

# SigLIP attention heads by the last component of `mm_vision_tower` (the shapes fix width, not head count).
VISION_HEADS = {
    "siglip-so400m-patch14-384": 16,
    "siglip-so400m-patch14-224": 16,
}

# Top-level fields of a llava_qwen config.json that belong to the Qwen2 language model.
TEXT_FIELDS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "max_position_embeddings", "rope_theta", "rope_scaling", "rms_norm_eps",
               "tie_word_embeddings", "hidden_act", "attention_dropout", "use_sliding_window", "sliding_window",
               "max_window_layers", "initializer_range", "bos_token_id", "eos_token_id", "pad_token_id")
REQUIRED_TEXT_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")

SIGLIP_MEAN_STD = [0.5, 0.5, 0.5]
EMBEDDING_ROW_MULTIPLE = 64
IMAGE_TOKEN, VIDEO_TOKEN = "<image>", "<video>"
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."

# conv template qwen_1_5 of LLaVA-NeXT (llava/conversation.py, SeparatorStyle.CHATML) around the prompt string the
# paper's scripts build: each image is `<image>\n` at its place in the prompt (the scripts write "<image>\n" + text,
# or one "<image>\n" per frame, and a VL-RewardBench POVID query brings its own "<image>\n" mid-prompt), so content
# items render in their order.
QWEN_1_5_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\n" + DEFAULT_SYSTEM_PROMPT + "<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image>\n"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

# Files a conversion reads from a hub snapshot (weights, config, tokenizer).
HUB_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer*", "vocab.json", "merges.txt",
                "special_tokens_map.json", "added_tokens.json", "generation_config.json"]

VISION_PREFIX = "model.vision_tower."


# ---------------------------------------------------------------- inputs


def resolve_source(src: str | Path) -> Path:
    """A local directory as is; a hub id ("owner/name") downloaded (only the files a conversion reads)."""
    path = Path(src).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"SRC={src}: not a directory")
        return path
    text = str(src)
    if text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise UsageError(f"SRC={src}: no such directory (and not a hub id owner/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=text, allow_patterns=HUB_PATTERNS))
    except Exception as exc:
        raise UsageError(f"SRC={src}: cannot download it from the hub ({exc})") from None


def read_original_config(src: Path) -> dict[str, Any]:
    """config.json of an original LLaVA-NeXT Qwen2 checkpoint, with the fields this converter relies on checked."""
    config_file = src / "config.json"
    if not config_file.is_file():
        raise UsageError(f"SRC={src}: no config.json there; not a LLaVA-NeXT checkpoint")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"SRC={src}: config.json is not valid JSON ({exc})") from None
    model_type = config.get("model_type")
    if model_type not in ORIGINAL_MODEL_TYPES:
        raise UsageError(f"SRC={src}: model_type {model_type!r}; expected an original LLaVA-NeXT checkpoint "
                         f"(model_type {' or '.join(ORIGINAL_MODEL_TYPES)})")
    if "mm_vision_tower" not in config:  # e.g. a transformers `llava` checkpoint, already converted
        raise UsageError(f"SRC={src}: model_type {model_type!r} without mm_vision_tower; not an original "
                         f"LLaVA-NeXT checkpoint (those carry the mm_* fields)")
    architectures = config.get("architectures") or []
    if architectures and not any("Qwen" in a for a in architectures):
        raise UsageError(f"SRC={src}: architectures {architectures}; only Qwen2-based LLaVA-NeXT "
                         f"(LlavaQwenForCausalLM) checkpoints are supported")
    _require(config, "mm_projector_type", "mlp2x_gelu", src)
    _require(config, "mm_patch_merge_type", "spatial_unpad", src)
    aspect = config.get("image_aspect_ratio")
    if not isinstance(aspect, str) or not re.fullmatch(r"anyres_max_\d+", aspect):
        raise UsageError(f"SRC={src}: image_aspect_ratio={aspect!r}; LLaVA-OneVision supports only anyres_max_N")
    missing = [f for f in REQUIRED_TEXT_FIELDS if f not in config]
    if missing:
        raise UsageError(f"SRC={src}: config.json lacks the language-model fields {', '.join(missing)}")
    return config


def _require(config: dict[str, Any], field: str, expected: str, src: Path) -> None:
    if config.get(field, expected) != expected:
        raise UsageError(f"SRC={src}: {field}={config[field]!r}; only {expected!r} converts to LLaVA-OneVision")


def load_original_weights(src: Path) -> dict[str, torch.Tensor]:
    """All tensors of all safetensors shards in SRC, by original name."""
    shards = sorted(src.glob("*.safetensors"))
    if not shards:
        raise UsageError(f"SRC={src}: no *.safetensors weights there (.bin checkpoints are not supported)")
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        state.update(load_file(shard))
    return state


# ---------------------------------------------------------------- weights


def target_key(key: str) -> str | None:
    """The transformers 5 name of an original key; None for keys that are dropped; KeyError when unknown."""
    if key.endswith(DROPPED_SUFFIXES):
        return None
    for old, new in PREFIX_MAP:
        if key == old or (old.endswith(".") and key.startswith(old)):
            return new + key[len(old):]
    raise KeyError(key)


def rename_weights(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original state dict -> transformers 5 names; unknown keys are a UsageError that lists them."""
    renamed: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in original.items():
        try:
            new = target_key(key)
        except KeyError:
            unknown.append(key)
            continue
        if new is not None:
            renamed[new] = tensor
    if unknown:
        raise UsageError(f"unknown keys in the original weights (not part of the LLaVA-NeXT llava_qwen layout): "
                         f"{_some(unknown)}")
    if "model.language_model.embed_tokens.weight" not in renamed:
        raise UsageError("the original weights have no model.embed_tokens.weight (token embeddings)")
    if "lm_head.weight" not in renamed:
        # Tied checkpoints (e.g. the 0.5b) store no lm_head; the strict load below wants one, and with tied
        # embeddings `tie_weights()` replaces it by the embeddings anyway.
        renamed["lm_head.weight"] = renamed["model.language_model.embed_tokens.weight"].clone()
    return renamed


def _some(keys: list[str], limit: int = 10) -> str:
    keys = sorted(keys)
    more = f" … and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def padded_rows(n: int, multiple: int = EMBEDDING_ROW_MULTIPLE) -> int:
    return -(-n // multiple) * multiple


def grow_vocab(state: dict[str, torch.Tensor], n_tokens: int) -> int:
    """Make the embedding (and lm_head) hold `n_tokens` rows when they are fewer; returns the row count.

    Grows to a multiple of 64 (kernel-friendly shapes) and fills the new rows with the mean of the existing rows.
    The only new tokens are `<image>`/`<video>`: their input rows are never used (the model replaces those
    positions with vision features), so the mean only sets their logits to an average, unremarkable value.
    """
    rows = state["model.language_model.embed_tokens.weight"].shape[0]
    if n_tokens <= rows:
        return rows
    new_rows = padded_rows(n_tokens)
    for key in ("model.language_model.embed_tokens.weight", "lm_head.weight"):
        weight = state[key]
        mean = weight.float().mean(dim=0, keepdim=True).to(weight.dtype)
        state[key] = torch.cat([weight, mean.expand(new_rows - rows, -1)], dim=0)
    return new_rows


# ---------------------------------------------------------------- configs


def vision_config_from_weights(state: dict[str, torch.Tensor], tower: str,
                               vision_num_heads: int | None) -> dict[str, Any]:
    """SigLIP vision config read off the (renamed) tensor shapes; heads from the argument or `VISION_HEADS`."""
    try:
        patch = state[VISION_PREFIX + "embeddings.patch_embedding.weight"]
        positions = state[VISION_PREFIX + "embeddings.position_embedding.weight"]
        fc1 = state[VISION_PREFIX + "encoder.layers.0.mlp.fc1.weight"]
    except KeyError as exc:
        raise UsageError(f"the original weights lack the SigLIP vision tower tensor {exc.args[0]} (transformers "
                         f"name; only SigLIP towers are supported)") from None
    hidden, channels, patch_size, _ = patch.shape
    grid = math.isqrt(positions.shape[0])
    if grid * grid != positions.shape[0]:
        raise UsageError(f"vision tower has {positions.shape[0]} position embeddings, not a square grid")
    layer_ids = {int(k[len(VISION_PREFIX + "encoder.layers."):].split(".")[0])
                 for k in state if k.startswith(VISION_PREFIX + "encoder.layers.")}
    heads = vision_heads(tower, vision_num_heads)
    if hidden % heads:
        raise UsageError(f"vision_num_heads={heads} does not divide the vision width {hidden}")
    return {"model_type": "siglip_vision_model", "hidden_size": hidden, "intermediate_size": fc1.shape[0],
            "num_hidden_layers": len(layer_ids), "num_attention_heads": heads, "num_channels": channels,
            "patch_size": patch_size, "image_size": grid * patch_size, "vision_use_head": False}


def vision_heads(tower: str, vision_num_heads: int | None) -> int:
    if vision_num_heads is not None:
        if vision_num_heads < 1:
            raise UsageError(f"vision_num_heads={vision_num_heads}; must be positive")
        return vision_num_heads
    name = str(tower).rstrip("/").split("/")[-1]
    if name not in VISION_HEADS:
        raise UsageError(f"unknown vision tower mm_vision_tower={tower!r}: its attention head count cannot be read "
                         f"from the weights; pass vision_num_heads (--vision-num-heads N). Known towers: "
                         f"{', '.join(sorted(VISION_HEADS))}")
    return VISION_HEADS[name]


def text_config_from(original: dict[str, Any], vocab_rows: int) -> dict[str, Any]:
    """Qwen2 config from the original's top-level fields; vocab_size is the (possibly grown) embedding row count."""
    text = {field: original[field] for field in TEXT_FIELDS if original.get(field) is not None}
    text.update(model_type="qwen2", vocab_size=vocab_rows)
    return text


def grid_pinpoints(value: Any, image_size: int) -> list[list[int]]:
    """`image_grid_pinpoints` as [[h, w], ...]; LLaVA-NeXT's "(1x1),...,(6x6)" shorthand counts tiles of image_size."""
    if isinstance(value, str):
        tiles = [tuple(map(int, m)) for m in re.findall(r"\((\d+)x(\d+)\)", value)]
        if not tiles:
            raise UsageError(f"image_grid_pinpoints={value!r}: expected a list of [h, w] or '(AxB),...,(CxD)'")
        (h0, w0), (h1, w1) = tiles[0], tiles[-1]
        return [[i * image_size, j * image_size] for i in range(h0, h1 + 1) for j in range(w0, w1 + 1)]
    if (isinstance(value, list) and value
            and all(isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, int) for x in p)
                    for p in value)):
        return [[int(h), int(w)] for h, w in value]
    raise UsageError(f"image_grid_pinpoints={value!r}: expected a non-empty list of [height, width]")


def build_config(original: dict[str, Any], text: dict[str, Any], vision: dict[str, Any], image_token_id: int,
                 video_token_id: int, pinpoints: list[list[int]]) -> LlavaOnevisionConfig:
    return LlavaOnevisionConfig(
        text_config=text, vision_config=vision, image_token_index=image_token_id, video_token_index=video_token_id,
        projector_hidden_act="gelu", vision_feature_select_strategy="full", vision_feature_layer=-1,
        image_grid_pinpoints=pinpoints, vision_aspect_ratio=original["image_aspect_ratio"],
        tie_word_embeddings=bool(text.get("tie_word_embeddings", False)))
    # No `use_image_newline_parameter`: transformers 5 has no such field; `image_newline` always exists.


# ---------------------------------------------------------------- tokenizer and processor


def prepare_tokenizer(src: Path, text: dict[str, Any]) -> PreTrainedTokenizerBase:
    """The original tokenizer with `<image>` and `<video>` added as special tokens (when absent).

    The Qwen2 text config is passed so that AutoTokenizer does not parse the llava_qwen config.json itself (an
    unknown model type to transformers: it warns, and falls back to no tokenizer class when tokenizer_config.json
    names none).
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(src, config=Qwen2Config(**text))
    except Exception as exc:
        raise UsageError(f"SRC={src}: cannot load its tokenizer ({exc})") from None
    vocab = tokenizer.get_vocab()
    new = [AddedToken(t, special=True, normalized=False) for t in (IMAGE_TOKEN, VIDEO_TOKEN) if t not in vocab]
    if new:
        tokenizer.add_tokens(new, special_tokens=True)
    return tokenizer


def build_processor(tokenizer: PreTrainedTokenizerBase, vision: dict[str, Any], pinpoints: list[list[int]],
                    aspect: str) -> Any:
    size = vision["image_size"]
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": size, "width": size}, image_mean=SIGLIP_MEAN_STD, image_std=SIGLIP_MEAN_STD,
        image_grid_pinpoints=pinpoints, do_pad=True)
    return ImageOnlyLlavaOnevisionProcessor(
        image_processor=image_processor, tokenizer=tokenizer, num_image_tokens=(size // vision["patch_size"]) ** 2,
        vision_feature_select_strategy="full", image_token=IMAGE_TOKEN, video_token=VIDEO_TOKEN,
        vision_aspect_ratio=aspect, chat_template=QWEN_1_5_CHAT_TEMPLATE)


# ---------------------------------------------------------------- model


def load_strict(config: LlavaOnevisionConfig, state: dict[str, torch.Tensor]) -> LlavaOnevisionForConditionalGeneration:
    """The target model with `state` assigned; any missing, unexpected or misshapen key is a UsageError."""
    with init_empty_weights():  # parameters on the meta device: no memory, no random init of 7B weights
        model = LlavaOnevisionForConditionalGeneration(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [f"{k} {tuple(state[k].shape)} != {expected[k]}" for k in expected
                 if k in state and tuple(state[k].shape) != expected[k]]
    problems = []
    if missing:
        problems.append(f"missing: {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected: {_some(unexpected)}")
    if misshapen:
        problems.append(f"wrong shape: {_some(misshapen)}")
    if problems:
        raise UsageError("the converted weights do not fit LlavaOnevisionForConditionalGeneration built from the "
                         "converted config; " + "; ".join(problems))
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()  # no-op unless tie_word_embeddings
    return model.eval()


def target_dtype(state: dict[str, torch.Tensor], dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise UsageError(f"dtype={dtype!r}; valid: {', '.join(DTYPES)}")
    if dtype == "auto":
        return state["model.language_model.embed_tokens.weight"].dtype
    return DTYPES[dtype]


def cast(state: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
    """Floating tensors to one dtype, in place (a no-op for uniform checkpoints kept in their own dtype).

    One tensor at a time, so that a 7B cast holds the old copy of one tensor only, not of the whole model.
    """
    for key, tensor in state.items():
        if tensor.is_floating_point() and tensor.dtype != dtype:
            state[key] = tensor.to(dtype)


# ---------------------------------------------------------------- entry points


def check_destination(dst: Path, src: Path, overwrite: bool) -> None:
    if dst.exists() and not dst.is_dir():
        raise UsageError(f"DST={dst}: exists and is not a directory")
    if dst.exists() and dst.resolve() == src.resolve():
        raise UsageError(f"DST={dst} is SRC; write the converted checkpoint elsewhere")
    if dst.is_dir() and any(dst.iterdir()) and not overwrite:
        raise UsageError(f"DST={dst} is not empty; pass overwrite=True (--overwrite) to write into it")


def convert(src: str | Path, dst: str | Path, *, vision_num_heads: int | None = None, dtype: str = "auto",
            overwrite: bool = False) -> Path:
    """Convert the LLaVA-NeXT checkpoint `src` (directory or hub id) into `dst`; returns `dst`."""
    source = resolve_source(src)
    destination = Path(dst).expanduser()
    check_destination(destination, source, overwrite)
    original = read_original_config(source)
    state = rename_weights(load_original_weights(source))
    cast(state, target_dtype(state, dtype))
    vision = vision_config_from_weights(state, original["mm_vision_tower"], vision_num_heads)
    pinpoints = grid_pinpoints(original.get("image_grid_pinpoints", [[vision["image_size"]] * 2]),
                               vision["image_size"])
    rows = state["model.language_model.embed_tokens.weight"].shape[0]
    tokenizer = prepare_tokenizer(source, text_config_from(original, rows))
    rows = grow_vocab(state, len(tokenizer))
    config = build_config(original, text_config_from(original, rows), vision,
                          tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), tokenizer.convert_tokens_to_ids(VIDEO_TOKEN),
                          pinpoints)
    model = load_strict(config, state)
    model.config.dtype = model.dtype  # from_pretrained(dtype="auto") then loads the dtype written here
    # reward.families reads it: a converted UnifiedReward-Think-7b in a renamed folder keeps its family.
    model.config.converted_from = str(src)
    if tokenizer.pad_token_id is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = build_processor(tokenizer, vision, pinpoints, original["image_aspect_ratio"])
    destination.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(destination)  # safetensors; removes stale shards of an earlier save in `destination`
    processor.save_pretrained(destination)
    return destination
