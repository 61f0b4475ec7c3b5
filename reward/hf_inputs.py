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
- `pad` (LLaVA-OneVision, training only: each image of a multi-image record): padded to a square, one tile
  plus the newline token (730), as LLaVA-NeXT's `train.py` ("overwrite to process with simple pad").
- `pooled` (LLaVA-OneVision, training only: a video): the frames resized to the tower's size, projected,
  2x2 bilinear pooling (196 a frame) and one newline token for the video: LLaVA-NeXT `train.py`'s video
  branch with the OneVision config (`mm_spatial_pool_mode` bilinear, `mm_newline_position` one_token), which
  is also transformers' own video input.
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


@dataclass(frozen=True)
class MediaPolicy:
    """How images and videos of one request reach a LLaVA-OneVision model (Qwen-VL has one way only).

    The default is the authors' inference scripts (every judge, `construct`, video-QA policies): each image
    tiled (anyres), each video frame one 729-token tile. Training follows the authors' training code
    instead (`reward.training.inputs`): LLaVA-NeXT `train.py` pads each image of a multi-image record to one
    tile plus a newline and pools a video."""

    multi_image: str = "anyres"  # "anyres" | "pad"
    video: str = "frames"  # "frames" | "pooled"

    def __post_init__(self):
        if self.multi_image not in ("anyres", "pad") or self.video not in ("frames", "pooled"):
            raise ValueError(f"unknown media policy {self}")


INFERENCE = MediaPolicy()


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


def expand_to_square(image: Image.Image, mean: Sequence[float]) -> Image.Image:
    """LLaVA-NeXT's `expand2square`: centred on a square of the mean colour (`int(m * 255)` per channel),
    which is also transformers' multi-image padding (equal pixels)."""
    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    out = Image.new(image.mode, (side, side), tuple(int(m * 255) for m in mean))
    out.paste(image, ((side - w) // 2, (side - h) // 2))
    return out


def resized_pixels(frames: Sequence[Image.Image], size: tuple[int, int], image_processor: Any) -> np.ndarray:
    """Each frame bicubic-resized to `size` (height, width), rescaled and normalised with the image
    processor's constants: (frames, 3, height, width) float32."""
    mean = np.array(image_processor.image_mean, dtype=np.float32)[:, None, None]
    std = np.array(image_processor.image_std, dtype=np.float32)[:, None, None]
    height, width = size
    return np.stack([(np.asarray(f.resize((width, height), Image.BICUBIC), dtype=np.float32).transpose(2, 0, 1)
                      * float(image_processor.rescale_factor) - mean) / std for f in frames])


def _sentinel(texts: list[str], text: str) -> str:
    """Stand-in for a dataset text in the rendered template (appended to `texts`)."""
    if "\ue000" in text or "\ue001" in text:
        raise InputError("prompt text contains U+E000/U+E001, reserved for the harness's sentinels")
    texts.append(text)
    return f"\ue000{len(texts) - 1}\ue001"


class InputBuilder(ABC):
    """Prompt parts -> `EncodedPrompt` -> batched `generate` kwargs, for one checkpoint family."""

    #: the chat-template content type a medium of each route renders as (LLaVA's chat templates have no
    #: video slot; LLaVA-NeXT's training text marks a video with `<image>` too)
    content_type = {"anyres": "image", "base": "image", "pad": "image", "pooled": "image", "image": "image",
                    "video": "video"}

    def __init__(self, processor: Any, config: Any, policy: MediaPolicy = INFERENCE):
        self.policy = policy
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.config = config
        added = sorted(self.tokenizer.get_added_vocab(), key=len, reverse=True)
        self._added = re.compile("|".join(map(re.escape, added))) if added else None
        self._added_ids = self.tokenizer.get_added_vocab()
        self._answer_turn_text: str | None = None

    # ---- what the family decides -------------------------------------------------------------------
    @abstractmethod
    def media_of(self, item: LoadedMedia, images_in_request: int) -> list[Medium]:
        """The model inputs one loaded medium becomes (an image; a video's frames or one native video);
        `images_in_request` counts the request's standalone images (the multi-image rule needs it)."""

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
        images = sum(1 for m in prepared.media if m.kind == "image" and not m.video_frame)
        for part in prepared.request.parts:
            if isinstance(part, str):
                content.append({"type": "text", "text": _sentinel(texts, part)})
            else:
                for medium in self.media_of(next(loaded), images):
                    media.append(medium)
                    content.append({"type": self.content_type[medium.route]})
        rendered = self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                      add_generation_prompt=True, tokenize=False)
        vision = [self.prepare_vision(m) for m in media]
        ids = self._tokenize(rendered, texts, media)
        return EncodedPrompt(SENTINEL.sub(lambda m: texts[int(m.group(1))], rendered), ids, media, vision)

    def encode_completion(self, answer: str) -> list[int]:
        """The ids an assistant answer adds after the generation prompt: the answer as plain text, then what
        the chat template closes the turn with (`<|im_end|>` and a newline for these templates), all of it
        trained on, as LLaVA-NeXT's `preprocess_qwen` labels an assistant turn."""
        texts: list[str] = []
        _sentinel(texts, answer)
        return self._tokenize(self._answer_turn(), texts, [])

    def _answer_turn(self) -> str:
        """The rendered assistant turn after the generation prompt, with the sentinel of text 0 for the answer
        (the same for every answer: rendered once)."""
        if self._answer_turn_text is None:
            user = [{"role": "user", "content": [{"type": "text", "text": "q"}]}]
            prompt = self.processor.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
            answer = {"role": "assistant", "content": [{"type": "text", "text": _sentinel([], "")}]}
            full = self.processor.apply_chat_template([*user, answer], tokenize=False)
            if not full.startswith(prompt):
                raise InputError("the chat template renders the prompt differently once an answer follows it")
            self._answer_turn_text = full[len(prompt):]
        return self._answer_turn_text

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
    """Standalone images tiled (anyres), video frames as base tiles without a newline (the authors' 4-D path);
    under a training policy, multi-image records padded to one tile plus a newline and videos pooled."""

    def media_of(self, item: LoadedMedia, images_in_request: int) -> list[Medium]:
        if item.kind == "video":
            frames = [_image(f) for f in item.frames]
            if self.policy.video == "pooled":
                return [Medium(item.label, "pooled", frames)]
            return [Medium(f"{item.label}#frame{i}", "base", [f]) for i, f in enumerate(frames)]
        if item.video_frame:
            route = "base"
        else:
            route = "pad" if images_in_request > 1 and self.policy.multi_image == "pad" else "anyres"
        return [Medium(item.label, route, [_image(item)])]

    def placeholder_ids(self) -> dict[str, int]:
        return {"image": int(self.config.image_token_id)}

    def prepare_vision(self, medium: Medium) -> dict[str, Any]:
        image_processor = self.processor.image_processor
        side = int(self.config.vision_config.image_size)
        grid = side // int(self.config.vision_config.patch_size)
        image = medium.frames[0]
        if medium.route == "base":  # the frame resized to the tower's square (the scripts' frames are square)
            pixel = self._square_frames([image], side)
            medium.tokens = grid * grid
        elif medium.route == "pad":
            pixel = self._square_frames([expand_to_square(image, image_processor.image_mean)], side)
            medium.tokens = grid * grid + 1
        elif medium.route == "pooled":
            pixel = self._square_frames(medium.frames, side)
            pooled = math.ceil(grid / 2)
            medium.tokens = len(medium.frames) * pooled * pooled + 1
        else:
            out = image_processor([image], return_tensors="np")
            pixel = out["pixel_values"][0]  # (patches, 3, side, side)
            w, h = image.size
            medium.tokens = int(self.processor._get_number_of_features(h, w, side, side))
        if medium.route != "pooled" and getattr(self.config, "vision_feature_select_strategy", "full") == "default":
            medium.tokens -= 1
        medium.pixel_size = (side, side)
        return {"route": medium.route, "tokens": medium.tokens, "pixel_values": pixel,
                "image_size": [image.size[1], image.size[0]]}

    def _square_frames(self, frames: Sequence[Image.Image], side: int) -> np.ndarray:
        """Frames as SigLIP's preprocessing gives them (LLaVA-NeXT's 4-D frame tensor, and the base tile of
        transformers' processor, equal to 1e-7): a square bicubic resize without padding, rescaled and
        normalised: (frames, 3, side, side)."""
        return resized_pixels(frames, (side, side), self.processor.image_processor)

    def _encode_frames(self, inner: Any, pixel: Any) -> Any:
        """LLaVA-NeXT's `encode_images` on a 4-D frame tensor: the vision tower's selected hidden state and
        the projector, one 729-token block per frame, no anyres packing and no newline."""
        out = inner.vision_tower(pixel, output_hidden_states=True, return_dict=True)
        layer = self.config.vision_feature_layer
        if isinstance(layer, int):
            hidden = out.hidden_states[layer]
        else:
            import torch

            hidden = torch.cat([out.hidden_states[i] for i in layer], dim=-1)
        if self.config.vision_feature_select_strategy == "default":
            hidden = hidden[:, 1:]
        return inner.multi_modal_projector(hidden)

    def features(self, inner: Any, vision: Sequence[dict[str, Any]]) -> list[Any]:
        """Image features of the media in `vision` (per-medium dicts from `prepare_vision`, pixels as tensors on
        the model's device), one tensor per medium in order. Every base and pad tile goes through the tower
        in one call; the judge calls this under inference mode, training inside the model's forward."""
        import torch

        dtype = inner.vision_tower.dtype
        tiles = [v["pixel_values"] for v in vision if v["route"] in ("base", "pad")]
        encoded = iter(self._encode_frames(inner, torch.cat(tiles).to(dtype)) if tiles else ())
        out: list[Any] = []
        for v in vision:
            route, pixel = v["route"], v["pixel_values"].to(dtype)
            if route == "base":
                out.append(next(encoded))
            elif route == "pad":  # LLaVA-NeXT's single-patch branch: the tile, then the newline embedding
                out.append(torch.cat([next(encoded), inner.image_newline[None].to(dtype)]))
            elif route == "pooled":
                out.append(inner.get_video_features(pixel[None], vision_feature_layer=self.config.vision_feature_layer,
                                                    vision_feature_select_strategy=self.config.vision_feature_select_strategy,
                                                    return_dict=True).pooler_output[0])
            else:
                sizes = torch.as_tensor([list(v["image_size"])], device=pixel.device)
                result = inner.get_image_features(pixel_values=pixel[None], image_sizes=sizes, batch_num_images=[1],
                                                  vision_feature_layer=self.config.vision_feature_layer,
                                                  vision_feature_select_strategy=self.config.vision_feature_select_strategy,
                                                  return_dict=True)
                out.append(result.pooler_output[0])
        return out

    def encoder_outputs(self, inner: Any, vision: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """`mm_encoder_outputs` for the model's forward: the features of every medium, in placeholder order."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        features = self.features(inner, vision)
        for v, feature in zip(vision, features):
            expected = int(v["tokens"])
            if feature.shape[0] != expected:
                raise InputError(f"{feature.shape[0]} image features for {expected} placeholder tokens ({v['route']})")
        return {"image": BaseModelOutputWithPooling(pooler_output=features)}

    @staticmethod
    def tensors(vision: Sequence[dict[str, Any]], device: Any = None) -> list[dict[str, Any]]:
        import torch

        return [{"route": v["route"], "tokens": int(v["tokens"]), "image_size": list(v["image_size"]),
                 "pixel_values": torch.from_numpy(np.ascontiguousarray(v["pixel_values"])).to(device)}
                for v in vision]

    def collate(self, prompts: Sequence[EncodedPrompt], model: Any) -> dict[str, Any]:
        import torch

        ids, mask = self.pad(prompts)
        device = model.device
        vision = self.tensors([v for prompt in prompts for v in prompt.vision], device)
        kwargs: dict[str, Any] = {"input_ids": torch.from_numpy(ids).to(device),
                                  "attention_mask": torch.from_numpy(mask).to(device)}
        if vision:
            kwargs["mm_encoder_outputs"] = self.encoder_outputs(model.model, vision)
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

    def __init__(self, processor: Any, config: Any, policy: MediaPolicy = INFERENCE):
        super().__init__(processor, config, policy)
        ip = processor.image_processor
        self.patch = int(ip.patch_size)
        self.merge = int(ip.merge_size)
        self.temporal = int(ip.temporal_patch_size)
        self.video_ok = hasattr(config, "video_token_id") and config.model_type in ("qwen2_vl", "qwen2_5_vl")

    def media_of(self, item: LoadedMedia, images_in_request: int) -> list[Medium]:
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
        stack = resized_pixels(frames, (rh, rw), ip)
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

    def vision_tensors(self, vision: Sequence[dict[str, Any]], model_type: str) -> dict[str, Any]:
        """The model's own vision kwargs (CPU tensors) for the media of a batch, in placeholder order."""
        import torch

        images = [v for v in vision if "image_grid_thw" in v]
        videos = [v for v in vision if "video_grid_thw" in v]
        out: dict[str, Any] = {}
        if images:
            out["pixel_values"] = torch.from_numpy(np.concatenate([v["pixel_values"] for v in images]))
            out["image_grid_thw"] = torch.from_numpy(np.stack([v["image_grid_thw"] for v in images]))
        if videos:
            out["pixel_values_videos"] = torch.from_numpy(np.concatenate([v["pixel_values_videos"] for v in videos]))
            out["video_grid_thw"] = torch.from_numpy(np.stack([v["video_grid_thw"] for v in videos]))
            if model_type == "qwen2_5_vl":
                out["second_per_grid_ts"] = torch.tensor([v["second_per_grid_t"] for v in videos])
        return out

    def token_types(self, ids: np.ndarray) -> np.ndarray:
        """`mm_token_type_ids`: 1 on image placeholders, 2 on video placeholders."""
        types = np.zeros_like(ids)
        types[ids == int(self.config.image_token_id)] = 1
        if self.video_ok:
            types[ids == int(self.config.video_token_id)] = 2
        return types

    def collate(self, prompts: Sequence[EncodedPrompt], model: Any) -> dict[str, Any]:
        import torch

        ids, mask = self.pad(prompts)
        device = model.device
        vision = self.vision_tensors([v for prompt in prompts for v in prompt.vision], model.config.model_type)
        kwargs: dict[str, Any] = {"input_ids": torch.from_numpy(ids).to(device),
                                  "attention_mask": torch.from_numpy(mask).to(device),
                                  "mm_token_type_ids": torch.from_numpy(self.token_types(ids)).to(device)}
        for key, value in vision.items():
            kwargs[key] = value.to(device, model.dtype) if value.is_floating_point() and key.startswith("pixel") \
                else value.to(device)
        return kwargs


BUILDERS: dict[str, type[InputBuilder]] = {
    "llava_onevision": LlavaOnevisionInputs,
    "qwen2_vl": QwenVLInputs,
    "qwen2_5_vl": QwenVLInputs,
    "qwen3_vl": QwenVLInputs,
}


def builder_for(model_type: str, processor: Any, config: Any, policy: MediaPolicy = INFERENCE) -> InputBuilder:
    return BUILDERS[model_type](processor, config, policy)
