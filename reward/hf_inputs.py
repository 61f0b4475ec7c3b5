"""What a local transformers judge is fed: prompt parts -> token ids, placeholder counts and pixel tensors.

The processors' own `__call__` is not used to build the inputs, for three reasons found on real inputs:
- it tokenizes the whole prompt with special tokens recognised, so a dataset text that contains `<image>`
  or `<|image_pad|>` adds a media placeholder (VL-RewardBench's 448 POVID queries start with `<image>\\n`);
- LLaVA-OneVision's processor tiles every image of a flat list (anyres: 3,699 tokens for a 512x512 frame) or
  adds a newline token to every image of a nested one (730), where the authors' video scripts feed the
  frames as one 4-D tensor through `encode_images`: 729 tokens a frame, no tiling, no newline;
- the Qwen-VL video processor needs torchvision, which cannot be installed beside the CPU torch wheel.

So each family here renders the checkpoint's chat template with every dataset text replaced by a sentinel,
tokenizes the rendered string with the template's special tokens recognised and the dataset texts'
special tokens *not* recognised (`split_special_tokens`), and expands each media placeholder of the
template into the number of tokens its medium takes. Tokenizing the segments between the template's
added tokens one by one is what the tokenizer does internally (added tokens split the text before the
pre-tokenizer), so for a text without special tokens the ids equal `tokenizer(rendered)`; a test checks it.

Routes (how one medium reaches the model), recorded per medium in `EncodedPrompt.media`:
- `anyres` (LLaVA-OneVision, a standalone image): base tile plus the anyres grid with newline tokens, as
  LLaVA-NeXT's `process_images` with `anyres_max_9` and transformers' single-image path.
- `base` (LLaVA-OneVision, a video frame): the image resized to the tower's size, projected, 729 tokens.
- `image` (Qwen-VL): smart-resized within the processor's min/max pixels, merge 2x2.
- `video` (Qwen-VL): the sampled frames as one native video input (temporal patch 2, merge 2x2), smart-
  resized within the video pixel budget of `qwen_vl_utils` (`harness.video`'s frames are used as given).
"""

from __future__ import annotations

import io
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from PIL import Image

from harness.records import LoadedMedia, PreparedRequest

SENTINEL = re.compile("\ue000(\\d+)\ue001")


class InputError(ValueError):
    """A request that cannot be turned into model inputs (named in the sample's error)."""


@dataclass
class Medium:
    """One visual input as the model receives it."""

    label: str
    route: str
    frames: list[Image.Image]
    tokens: int = 0
    #: Frames per second of the sampled frames (Qwen video: the temporal position step), when known.
    fps: float | None = None
    #: (height, width) of the pixels the vision tower sees, per frame (after the family's resize).
    pixel_size: tuple[int, int] | None = None

    def summary(self) -> dict[str, Any]:
        w, h = self.frames[0].size
        return {"label": self.label, "route": self.route, "frames": len(self.frames), "size": [w, h],
                "pixel_size": list(self.pixel_size) if self.pixel_size else None, "tokens": self.tokens}


@dataclass
class EncodedPrompt:
    """One request's model inputs: `text` is the rendered chat prompt before placeholder expansion."""

    text: str
    input_ids: list[int]
    media: list[Medium]
    #: Family-specific vision tensors (numpy), one dict per medium, concatenated per batch by `collate`.
    vision: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"prompt": self.text, "prompt_tokens": len(self.input_ids),
                "media_tokens": sum(m.tokens for m in self.media),
                "frames_sent": sum(len(m.frames) for m in self.media if m.route in ("base", "video")),
                "images_sent": sum(1 for m in self.media if m.route in ("anyres", "image")),
                "media": [m.summary() for m in self.media]}

    def placeholder_runs(self, placeholder_ids: dict[str, int], context: int = 3) -> list[dict[str, Any]]:
        """Each run of media placeholder tokens: where it starts, how long it is, the ids around it."""
        ids = set(placeholder_ids.values())
        runs: list[dict[str, Any]] = []
        i, n = 0, len(self.input_ids)
        while i < n:
            if self.input_ids[i] in ids:
                j = i
                while j < n and self.input_ids[j] == self.input_ids[i]:
                    j += 1
                runs.append({"token_id": self.input_ids[i], "start": i, "length": j - i,
                             "before": self.input_ids[max(0, i - context):i], "after": self.input_ids[j:j + context]})
                i = j
            else:
                i += 1
        return runs


def _image(item: LoadedMedia) -> Image.Image:
    return Image.open(io.BytesIO(item.data)).convert("RGB")


class InputBuilder(ABC):
    """Prompt parts -> `EncodedPrompt` -> batched `generate` kwargs, for one checkpoint family."""

    #: the chat-template content type a medium of each route renders as
    content_type = {"anyres": "image", "base": "image", "image": "image", "video": "video"}

    def __init__(self, processor: Any, config: Any):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.config = config
        added = sorted(self.tokenizer.get_added_vocab(), key=len, reverse=True)
        self._added = re.compile("|".join(map(re.escape, added))) if added else None
        self._added_ids = self.tokenizer.get_added_vocab()

    # ---- what the family decides -------------------------------------------------------------------
    @abstractmethod
    def media_of(self, item: LoadedMedia) -> list[Medium]:
        """The model inputs one loaded medium becomes (an image; a video's frames or one native video)."""

    @abstractmethod
    def placeholder_ids(self) -> dict[str, int]:
        """Content type -> the token id the chat template renders for it (expanded per medium)."""

    @abstractmethod
    def prepare_vision(self, medium: Medium) -> dict[str, Any]:
        """Pixel tensors for one medium; sets `medium.tokens` and `medium.pixel_size`."""

    @abstractmethod
    def collate(self, prompts: Sequence[EncodedPrompt], model: Any) -> dict[str, Any]:
        """`generate` kwargs for a batch (left-padded ids, attention mask, vision inputs)."""

    # ---- shared ------------------------------------------------------------------------------------
    def encode(self, prepared: PreparedRequest) -> EncodedPrompt:
        texts: list[str] = []
        media: list[Medium] = []
        content: list[dict[str, Any]] = []
        loaded = iter(prepared.media)
        for part in prepared.request.parts:
            if isinstance(part, str):
                if "\ue000" in part or "\ue001" in part:
                    raise InputError("prompt text contains U+E000/U+E001, reserved for the harness's sentinels")
                content.append({"type": "text", "text": f"\ue000{len(texts)}\ue001"})
                texts.append(part)
            else:
                for medium in self.media_of(next(loaded)):
                    media.append(medium)
                    content.append({"type": self.content_type[medium.route]})
        rendered = self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                      add_generation_prompt=True, tokenize=False)
        vision = [self.prepare_vision(m) for m in media]
        ids = self._tokenize(rendered, texts, media)
        return EncodedPrompt(SENTINEL.sub(lambda m: texts[int(m.group(1))], rendered), ids, media, vision)

    def _tokenize(self, rendered: str, texts: list[str], media: list[Medium]) -> list[int]:
        """Template added tokens by id; everything else (dataset texts included) as plain text."""
        full: list[str] = []
        template_spans: list[tuple[int, int]] = []  # char spans of the template's own text
        pos, last = 0, 0
        for m in SENTINEL.finditer(rendered):
            piece = rendered[last:m.start()]
            template_spans.append((pos, pos + len(piece)))
            full.append(piece)
            pos += len(piece)
            text = texts[int(m.group(1))]
            full.append(text)
            pos += len(text)
            last = m.end()
        tail = rendered[last:]
        template_spans.append((pos, pos + len(tail)))
        full.append(tail)
        string = "".join(full)

        specials: list[tuple[int, int, str]] = []  # added tokens that the template itself wrote
        if self._added is not None:
            for start, end in template_spans:
                for m in self._added.finditer(string, start, end):
                    specials.append((m.start(), m.end(), m.group()))
        placeholders = self.placeholder_ids()
        expand = {tid: kind for kind, tid in placeholders.items()}
        queue = iter(media)
        ids: list[int] = []
        cursor = 0
        for start, end, token in specials:
            ids.extend(self._plain(string[cursor:start]))
            tid = self._added_ids[token]
            if tid in expand:
                medium = next(queue, None)
                if medium is None or self.content_type[medium.route] != expand[tid]:
                    raise InputError(f"the chat template rendered more {expand[tid]} placeholders than media given")
                ids.extend([tid] * medium.tokens)
            else:
                ids.append(tid)
            cursor = end
        ids.extend(self._plain(string[cursor:]))
        if next(queue, None) is not None:
            raise InputError("the chat template rendered fewer media placeholders than media given")
        return ids

    def _plain(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])

    def pad(self, prompts: Sequence[EncodedPrompt]) -> tuple[np.ndarray, np.ndarray]:
        """Left padding (generation appends after the prompt)."""
        width = max(len(p.input_ids) for p in prompts)
        pad_id = self.tokenizer.pad_token_id
        ids = np.full((len(prompts), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(prompts), width), dtype=np.int64)
        for row, prompt in enumerate(prompts):
            n = len(prompt.input_ids)
            ids[row, width - n:] = prompt.input_ids
            mask[row, width - n:] = 1
        return ids, mask


# ---- LLaVA-OneVision ---------------------------------------------------------------------------------


class LlavaOnevisionInputs(InputBuilder):
    """Standalone images tiled (anyres), video frames as base tiles without a newline (the authors' 4-D path)."""

    def media_of(self, item: LoadedMedia) -> list[Medium]:
        if item.kind == "video":
            return [Medium(f"{item.label}#frame{i}", "base", [_image(f)]) for i, f in enumerate(item.frames)]
        return [Medium(item.label, "base" if item.video_frame else "anyres", [_image(item)])]

    def placeholder_ids(self) -> dict[str, int]:
        return {"image": int(self.config.image_token_id)}

    def _tile(self) -> int:
        return int(self.config.vision_config.image_size)

    def prepare_vision(self, medium: Medium) -> dict[str, Any]:
        image_processor = self.processor.image_processor
        side = self._tile()
        per_tile = (side // int(self.config.vision_config.patch_size)) ** 2
        image = medium.frames[0]
        if medium.route == "base":
            # Nested list (one "sample" of one image per call) takes the processor's non-patching branch:
            # pad to square (a no-op for the square frames of the scripts), resize to the tower's size.
            out = image_processor([[image]], return_tensors="np")
            pixel = out["pixel_values"][0][:1]  # (1, 3, side, side)
            medium.tokens = per_tile
        else:
            out = image_processor([image], return_tensors="np")
            pixel = out["pixel_values"][0]  # (patches, 3, side, side)
            w, h = image.size
            medium.tokens = int(self.processor._get_number_of_features(h, w, side, side))
        if getattr(self.config, "vision_feature_select_strategy", "full") == "default":
            medium.tokens -= 1
        medium.pixel_size = (side, side)
        return {"pixel_values": pixel, "image_size": [image.size[1], image.size[0]]}

    def _encode_frames(self, inner: Any, pixel: np.ndarray, device: Any, dtype: Any) -> Any:
        """LLaVA-NeXT's `encode_images` on a 4-D frame tensor: the vision tower's selected hidden state and
        the projector, one 729-token block per frame, no anyres packing and no newline."""
        import torch

        out = inner.vision_tower(torch.from_numpy(np.ascontiguousarray(pixel)).to(device, dtype),
                                 output_hidden_states=True, return_dict=True)
        layer = self.config.vision_feature_layer
        if isinstance(layer, int):
            hidden = out.hidden_states[layer]
        else:
            hidden = torch.cat([out.hidden_states[i] for i in layer], dim=-1)
        if self.config.vision_feature_select_strategy == "default":
            hidden = hidden[:, 1:]
        return inner.multi_modal_projector(hidden)

    def collate(self, prompts: Sequence[EncodedPrompt], model: Any) -> dict[str, Any]:
        import torch
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        ids, mask = self.pad(prompts)
        device, dtype = model.device, model.dtype
        inner = model.model
        media = [(m, v) for prompt in prompts for m, v in zip(prompt.media, prompt.vision)]
        frames = [v["pixel_values"] for m, v in media if m.route == "base"]
        base = iter(self._encode_frames(inner, np.concatenate(frames), device, dtype) if frames else ())
        features: list[Any] = []
        for medium, vision in media:
            if medium.route == "base":
                feature = next(base)
            else:
                pixel = torch.from_numpy(np.ascontiguousarray(vision["pixel_values"])).to(device, dtype)
                sizes = torch.tensor([vision["image_size"]], device=device)
                out = inner.get_image_features(pixel_values=pixel[None], image_sizes=sizes, batch_num_images=[1],
                                               return_dict=True)
                feature = out.pooler_output[0]
            if feature.shape[0] != medium.tokens:
                raise InputError(f"{medium.label}: {feature.shape[0]} image features for {medium.tokens} "
                                 f"placeholder tokens ({medium.route})")
            features.append(feature)
        kwargs: dict[str, Any] = {"input_ids": torch.from_numpy(ids).to(device),
                                  "attention_mask": torch.from_numpy(mask).to(device)}
        if features:
            kwargs["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=features)}
        return kwargs


# ---- Qwen2-VL / Qwen2.5-VL / Qwen3-VL ----------------------------------------------------------------

# qwen_vl_utils vision_process.py v0.0.10/0.0.11 (the first versions with the `return_video_kwargs` that the
# authors' Qwen video scripts call; the README's pin 0.0.8 lacks it): a video frame is smart-resized within
# min 128*28*28 and max max(min(768*28*28, VIDEO_TOTAL_PIXELS / nframes * 2), 128*28*28*1.05) pixels, where
# VIDEO_TOTAL_PIXELS defaults to 128000*28*28*0.9 (env VIDEO_MAX_PIXELS). qwen_vl_utils resizes with torchvision's
# bicubic (antialias) on uint8 tensors; PIL's bicubic here (a named pixel-level difference).
VIDEO_MIN_PIXELS = 128 * 28 * 28
VIDEO_MAX_PIXELS = 768 * 28 * 28
VIDEO_TOTAL_PIXELS = int(128000 * 28 * 28 * 0.9)
FRAME_FACTOR = 2


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen-VL's rule: both sides multiples of `factor`, area within [min_pixels, max_pixels], aspect kept."""
    if max(height, width) / min(height, width) > 200:
        raise InputError(f"aspect ratio {max(height, width) / min(height, width):.0f} is over Qwen-VL's 200")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


class QwenVLInputs(InputBuilder):
    """Images through the checkpoint's image processor; a video as one native video input."""

    def __init__(self, processor: Any, config: Any):
        super().__init__(processor, config)
        ip = processor.image_processor
        self.patch = int(ip.patch_size)
        self.merge = int(ip.merge_size)
        self.temporal = int(ip.temporal_patch_size)
        self.video_ok = hasattr(config, "video_token_id") and config.model_type in ("qwen2_vl", "qwen2_5_vl")

    def media_of(self, item: LoadedMedia) -> list[Medium]:
        if item.kind == "video":
            frames = [_image(f) for f in item.frames]
            if self.video_ok:
                return [Medium(item.label, "video", frames, fps=item.fps)]
            return [Medium(f"{item.label}#frame{i}", "image", [f]) for i, f in enumerate(frames)]
        return [Medium(item.label, "image", [_image(item)])]

    def placeholder_ids(self) -> dict[str, int]:
        ids = {"image": int(self.config.image_token_id)}
        if self.video_ok:
            ids["video"] = int(self.config.video_token_id)
        return ids

    def prepare_vision(self, medium: Medium) -> dict[str, Any]:
        ip = self.processor.image_processor
        merge2 = self.merge ** 2
        if medium.route == "image":
            out = ip(images=medium.frames, return_tensors="np")
            grid = out["image_grid_thw"][0]
            medium.tokens = int(np.prod(grid)) // merge2
            medium.pixel_size = (int(grid[1]) * self.patch, int(grid[2]) * self.patch)
            return {"pixel_values": out["pixel_values"], "image_grid_thw": grid}
        return self._video(medium)

    def _video(self, medium: Medium) -> dict[str, Any]:
        """Frames -> (patches, C*T*P*P) and (t, h, w), the layout of Qwen2-VL's video processor."""
        ip = self.processor.image_processor
        frames = list(medium.frames)
        if len(frames) % FRAME_FACTOR:  # qwen_vl_utils rounds the frame count to an even number
            frames.append(frames[-1])
        w, h = frames[0].size
        factor = self.patch * self.merge
        max_pixels = max(min(VIDEO_MAX_PIXELS, VIDEO_TOTAL_PIXELS / len(frames) * FRAME_FACTOR),
                         int(VIDEO_MIN_PIXELS * 1.05))
        rh, rw = smart_resize(h, w, factor, VIDEO_MIN_PIXELS, int(max_pixels))
        mean = np.array(ip.image_mean, dtype=np.float32)[:, None, None]
        std = np.array(ip.image_std, dtype=np.float32)[:, None, None]
        stack = np.stack([(np.asarray(f.resize((rw, rh), Image.BICUBIC), dtype=np.float32).transpose(2, 0, 1)
                           * float(ip.rescale_factor) - mean) / std for f in frames])
        t, c = stack.shape[0], stack.shape[1]
        gt, gh, gw = t // self.temporal, rh // self.patch, rw // self.patch
        m, p = self.merge, self.patch
        patches = stack.reshape(gt, self.temporal, c, gh // m, m, p, gw // m, m, p)
        patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        flat = patches.reshape(gt * gh * gw, c * self.temporal * p * p)
        medium.tokens = gt * gh * gw // (m * m)
        medium.pixel_size = (rh, rw)
        return {"pixel_values_videos": flat, "video_grid_thw": np.array([gt, gh, gw], dtype=np.int64),
                "second_per_grid_t": self.temporal / medium.fps if medium.fps else 1.0}

    def collate(self, prompts: Sequence[EncodedPrompt], model: Any) -> dict[str, Any]:
        import torch

        ids, mask = self.pad(prompts)
        device = model.device
        images, grids, videos, vgrids, seconds = [], [], [], [], []
        for prompt in prompts:
            for medium, vision in zip(prompt.media, prompt.vision):
                if medium.route == "image":
                    images.append(vision["pixel_values"])
                    grids.append(vision["image_grid_thw"])
                else:
                    videos.append(vision["pixel_values_videos"])
                    vgrids.append(vision["video_grid_thw"])
                    seconds.append(vision["second_per_grid_t"])
        types = np.zeros_like(ids)
        types[ids == int(self.config.image_token_id)] = 1
        if self.video_ok:
            types[ids == int(self.config.video_token_id)] = 2
        kwargs: dict[str, Any] = {"input_ids": torch.from_numpy(ids).to(device),
                                  "attention_mask": torch.from_numpy(mask).to(device),
                                  "mm_token_type_ids": torch.from_numpy(types).to(device)}
        if images:
            kwargs["pixel_values"] = torch.from_numpy(np.concatenate(images)).to(device, model.dtype)
            kwargs["image_grid_thw"] = torch.from_numpy(np.stack(grids)).to(device)
        if videos:
            kwargs["pixel_values_videos"] = torch.from_numpy(np.concatenate(videos)).to(device, model.dtype)
            kwargs["video_grid_thw"] = torch.from_numpy(np.stack(vgrids)).to(device)
            if model.config.model_type == "qwen2_5_vl":
                kwargs["second_per_grid_ts"] = torch.tensor(seconds, device=device)
        return kwargs


BUILDERS: dict[str, type[InputBuilder]] = {
    "llava_onevision": LlavaOnevisionInputs,
    "qwen2_vl": QwenVLInputs,
    "qwen2_5_vl": QwenVLInputs,
    "qwen3_vl": QwenVLInputs,
}


def builder_for(model_type: str, processor: Any, config: Any) -> InputBuilder:
    return BUILDERS[model_type](processor, config)
