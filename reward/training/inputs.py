"""What a VLM is trained on: records -> token ids, labels and vision inputs, built like the judges' inputs.

`train-reward` (SFT) and `dpo-vlm` (DPO) used TRL's vision collators, which call the processor on the
rendered conversation. Two things then differ from the authors' training code (LLaVA-NeXT `train.py` /
`train_dpo.py` with the OneVision config, run by `train.sh`):
- the dataset text is tokenized with special tokens recognised, so a prompt or answer containing `<image>` or
  `<|im_end|>` changes the media placeholders or ends the turn early;
- a video's frames become images of a multi-image sample (730 tokens each), where LLaVA-NeXT's video branch
  pools them (196 a frame, one newline for the video) and the authors' inference scripts, which the
  trained policy is evaluated with, give each frame one 729-token tile.

So the collators here build every sequence with the judges' `reward.hf_inputs` builder: the same chat
template, the dataset text as plain text, and a `MediaPolicy` chosen by the config's `video_input`:
- images: one image is tiled (anyres), each image of a multi-image record is padded to one tile plus a
  newline (730), as LLaVA-NeXT `train.py` ("overwrite to process with simple pad");
- a video (`video_input`): `pooled` (LLaVA-NeXT `train.py`'s video branch, also transformers' own video input)
  or `frames` (the authors' inference path: 729 tokens a frame, no newline).
Qwen-VL takes images through its image processor and a video as one native video input in both cases.

LLaVA-OneVision's features for these routes are not all the model's own inputs, so the batch carries them as
`vision_media` and a forward pre-hook (`install_vision_hook`) turns them into `mm_encoder_outputs` inside the
model's forward: the vision tower runs under the trainer's autocast, gradient checkpointing and DDP/ZeRO
wrappers, and its gradients flow. Qwen-VL batches carry the model's own kwargs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from harness.errors import MediaError, UsageError
from harness.records import LoadedMedia, MediaRef, PreparedRequest, Request

from reward.hf_inputs import EncodedPrompt, InputBuilder, InputError, LlavaOnevisionInputs, MediaPolicy, builder_for

from .common import VIDEO_INPUTS

IGNORE = -100


def media_policy(video_input: str) -> MediaPolicy:
    if video_input not in VIDEO_INPUTS:
        raise UsageError(f"video_input {video_input!r}; valid: {', '.join(VIDEO_INPUTS)}")
    return MediaPolicy(multi_image="pad", video=video_input)


def training_builder(model: Any, processor: Any, video_input: str) -> InputBuilder:
    return builder_for(model.config.model_type, processor, model.config, media_policy(video_input))


@dataclass
class EncodedRecord:
    """One record's prompt and its completions (one for SFT, chosen then rejected for DPO)."""

    prompt: EncodedPrompt
    completions: list[list[int]]


class RecordEncoder:
    """Dataset row -> `EncodedRecord`. A row holds `id`, `parts` (in order: `{"kind": "text"|"image"|"video",
    "value": text or path}`) and one string column per completion (`turns`)."""

    def __init__(self, builder: InputBuilder, turns: Sequence[str], frames_per_video: int,
                 max_length: int | None = None):
        self.builder, self.turns = builder, tuple(turns)
        self.frames_per_video, self.max_length = frames_per_video, max_length

    def __call__(self, row: dict[str, Any]) -> EncodedRecord:
        from harness.media import load_media

        parts: list[str | MediaRef] = []
        for part in row["parts"]:
            if part["kind"] == "text":
                parts.append(part["value"])
            elif part["kind"] == "video":
                parts.append(MediaRef("video", part["value"], path=Path(part["value"]),
                                      frames=self.frames_per_video, sampling="linspace"))
            else:
                parts.append(MediaRef("image", part["value"], path=Path(part["value"])))
        where = f"record {row.get('id')!r}"
        request = Request(key=str(row.get("id")), sample_id=str(row.get("id")), parts=tuple(parts))
        try:
            media: list[LoadedMedia] = [load_media(p) for p in parts if isinstance(p, MediaRef)]
            prompt = self.builder.encode(PreparedRequest(request, tuple(media), prompt_hash=""))  # never cached
            completions = [self.builder.encode_completion(row[turn]) for turn in self.turns]
        except (InputError, MediaError) as exc:
            raise UsageError(f"{where}: {exc}") from exc
        longest = len(prompt.input_ids) + max(map(len, completions))
        if self.max_length is not None and longest > self.max_length:
            # Truncating would cut an answer (or media placeholders) in half: refuse, naming the record.
            raise UsageError(f"{where}: {longest} tokens, over max_length {self.max_length} "
                             f"({sum(m.tokens for m in prompt.media)} of them media)")
        return EncodedRecord(prompt, completions)


class _Collator:
    """Shared batching: right padding (the loss is on the answer), vision inputs per family."""

    def __init__(self, encoder: RecordEncoder, model_type: str):
        self.encoder, self.builder, self.model_type = encoder, encoder.builder, model_type

    def _pad(self, sequences: Sequence[list[int]], value: int) -> np.ndarray:
        out = np.full((len(sequences), max(map(len, sequences))), value, dtype=np.int64)
        for row, seq in enumerate(sequences):
            out[row, :len(seq)] = seq
        return out

    def _batch(self, prompts: Sequence[EncodedPrompt], completions: Sequence[list[int]]) -> dict[str, Any]:
        import torch

        ids = self._pad([p.input_ids + c for p, c in zip(prompts, completions)], self.builder.tokenizer.pad_token_id)
        mask = self._pad([[1] * (len(p.input_ids) + len(c)) for p, c in zip(prompts, completions)], 0)
        answer = self._pad([[0] * len(p.input_ids) + [1] * len(c) for p, c in zip(prompts, completions)], 0)
        out: dict[str, Any] = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                               "completion_mask": torch.from_numpy(answer)}
        vision = [v for p in prompts for v in p.vision]
        if isinstance(self.builder, LlavaOnevisionInputs):
            if vision:
                out["vision_media"] = self.builder.tensors(vision)
        else:
            out["mm_token_type_ids"] = torch.from_numpy(self.builder.token_types(ids))
            out.update(self.builder.vision_tensors(vision, self.model_type))
        return out


class SFTCollator(_Collator):
    """Prompt + answer; `labels` are -100 everywhere but the answer and the turn's closing tokens."""

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        records = [self.encoder(row) for row in rows]
        out = self._batch([r.prompt for r in records], [r.completions[0] for r in records])
        labels = out["input_ids"].clone()
        labels[out.pop("completion_mask") == 0] = IGNORE
        out["labels"] = labels
        return out


class PreferenceCollator(_Collator):
    """TRL DPOTrainer's batch layout: the chosen sequences, then the rejected ones (same prompts, same media),
    with `completion_mask` marking the answer tokens."""

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        records = [self.encoder(row) for row in rows]
        prompts = [r.prompt for r in records] * 2
        return self._batch(prompts, [r.completions[0] for r in records] + [r.completions[1] for r in records])


def install_vision_hook(model: Any, builder: InputBuilder) -> Callable[[], None] | None:
    """For LLaVA-OneVision: a forward pre-hook that replaces a batch's `vision_media` by `mm_encoder_outputs`
    computed with the hooked model's own vision tower (so a deep copy, e.g. DPO's reference model, uses its
    own). Returns the hook's remover; None for families fed with the model's own kwargs."""
    if not isinstance(builder, LlavaOnevisionInputs):
        return None

    def hook(module: Any, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        vision = kwargs.pop("vision_media", None)
        if vision:
            kwargs["mm_encoder_outputs"] = builder.encoder_outputs(module.model, vision)
        return args, kwargs

    return model.register_forward_pre_hook(hook, with_kwargs=True).remove


def parts_of(images: Sequence[str], video: str | None, text: str, video_first: bool = True) -> list[dict[str, str]]:
    """A record's media in order, then its text (UnifiedReward's prompts put the media first)."""
    media = [{"kind": "image", "value": str(p)} for p in images]
    if video:
        clip = {"kind": "video", "value": str(video)}
        media = [clip, *media] if video_first else [*media, clip]
    return [*media, {"kind": "text", "value": text}]


def records_dataset(rows: list[dict[str, Any]], turns: Sequence[str]):
    """A `datasets.Dataset` of id, parts, the completion columns and `images` (the paths, so TRL's trainers
    recognise a vision dataset and leave its rows to our collator)."""
    from datasets import Dataset, Features, List, Value

    features = Features({"id": Value("string"), "images": List(Value("string")),
                         "parts": List({"kind": Value("string"), "value": Value("string")}),
                         **{turn: Value("string") for turn in turns}})
    return Dataset.from_list(rows, features=features)
