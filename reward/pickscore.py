"""PickScore (Kirstain et al., 2023) as a scalar scorer (extra `hf`).

    --model pickscore [--model-args pretrained=yuvalkirstain/PickScore_v1,
                       processor=laion/CLIP-ViT-H-14-laion2B-s32B-b79K,device=cuda:0,dtype=float32,batch_size=32]

PickScore is a fine-tuned CLIP-H: a plain transformers `CLIPModel` whose preprocessing and tokenizer come
from the LAION CLIP-ViT-H-14 repository. The score of a (prompt, image) pair is
`logit_scale.exp() * cos(text_embeds, image_embeds)`, with the *projected* embeddings (the pooled
output passed through `text_projection` / `visual_projection`), as the authors' reference code computes
it. In transformers 5.x `get_text_features` / `get_image_features` return an output object whose
`pooler_output` already holds the projected embedding; this adapter normalises those in float32.

- A video candidate is scored frame by frame (the frames the task sampled) and its score is the mean
  of the frame scores: PickScore is an image model, and the mean keeps the image scale.
- `batch_size` counts images (a video's frames each count), so memory stays bounded whatever the mix.
  Prompts are tokenised with truncation at the text tower's length (77). A batch that fails is split
  in halves down to one request, so one bad input costs only its own sample.
- The image processor is loaded as `CLIPImageProcessorPil` explicitly: the default (fast) CLIP
  processor of transformers 5 needs torchvision, which must not be installed beside the CPU torch.
- Identity (cache key): the checkpoint (hub commit, or a fingerprint of local weight files), the
  processor's name and a hash of its preprocessing settings, and the dtype.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from PIL import Image

from harness.adapters import Adapter
from harness.errors import UsageError
from harness.records import PreparedRequest, Reply
from harness.registry import model

from .hf_loading import DTYPES, checkpoint_fingerprint, read_model_type, require_device

import torch  # noqa: E402 - after hf_loading, whose ImportError names the missing extra
from transformers import AutoTokenizer, CLIPModel  # noqa: E402
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil  # noqa: E402


@model("pickscore")
class PickScoreAdapter(Adapter):
    """PickScore: CLIP-H text-image score; pretrained=ID_OR_DIR, processor=ID_OR_DIR, batch_size=N images."""

    kind = "scorer"

    def __init__(self, pretrained: str = "yuvalkirstain/PickScore_v1",
                 processor: str = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", device: str | None = None,
                 dtype: str = "float32", batch_size: int = 32, revision: str | None = None):
        require_device("pickscore", device)
        model_type = read_model_type(pretrained, revision, trust_remote_code=False)
        if model_type != "clip":
            raise UsageError(f"pretrained={pretrained} is a {model_type!r} checkpoint; PickScore is a 'clip' one")
        if dtype not in DTYPES:
            raise UsageError(f"dtype={dtype!r}; valid: {', '.join(DTYPES)}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
            if device == "cuda" and "LOCAL_RANK" in os.environ:  # one model per process under accelerate
                device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        self.model = CLIPModel.from_pretrained(pretrained, revision=revision, dtype=DTYPES[dtype]).to(device).eval()
        try:
            self.image_processor = CLIPImageProcessorPil.from_pretrained(processor)
            self.tokenizer = AutoTokenizer.from_pretrained(processor)
        except OSError as exc:
            raise UsageError(f"processor={processor}: cannot load the CLIP image processor and tokenizer "
                             f"({exc})") from None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_text_length = int(self.model.config.text_config.max_position_embeddings)
        self.batch_size = max(1, batch_size)
        self.revision = (checkpoint_fingerprint(Path(pretrained)) if Path(pretrained).exists()
                         else getattr(self.model.config, "_commit_hash", None) or revision)
        settings = self.image_processor.to_json_string() + str(self.max_text_length)
        self.processor_hash = hashlib.sha256(settings.encode("utf-8")).hexdigest()[:16]
        self.batches_split = 0

    def identity(self) -> dict[str, Any]:
        return {"model": self.args["pretrained"], "revision": self.revision, "processor": self.args["processor"],
                "preprocessing": self.processor_hash, "dtype": str(self.model.dtype), "video": "mean of frames"}

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        batch: list[PreparedRequest] = []
        images = 0
        for prepared in requests:
            count = _image_count(prepared)
            if batch and images + count > self.batch_size:
                yield from self._run(batch)
                batch, images = [], 0
            batch.append(prepared)
            images += count
        if batch:
            yield from self._run(batch)

    def _run(self, batch: Sequence[PreparedRequest]) -> list[Reply]:
        """Score `batch`; on failure split it and retry the halves, down to one request."""
        try:
            return self.score_batch(batch)
        except Exception as exc:  # noqa: BLE001 - any failure is isolated by splitting
            if len(batch) == 1:
                return [Reply(batch[0].key, error=f"scoring failed: {type(exc).__name__}: {exc}"[:500])]
            self.batches_split += 1
            middle = len(batch) // 2
            return self._run(batch[:middle]) + self._run(batch[middle:])

    def score_batch(self, batch: Sequence[PreparedRequest]) -> list[Reply]:
        start = time.perf_counter()
        empty = [p for p in batch if _image_count(p) == 0]
        batch = [p for p in batch if _image_count(p) > 0]
        replies = [Reply(p.key, error="the request has no image or video to score", attempts=0) for p in empty]
        if not batch:
            return replies
        prompts = [p.request.text for p in batch]
        unique = list(dict.fromkeys(prompts))
        images, owners = [], []
        for i, prepared in enumerate(batch):
            for medium in prepared.media:
                for frame in medium.images():
                    images.append(Image.open(io.BytesIO(frame.data)).convert("RGB"))
                    owners.append(i)
        per_image = self.pair_scores(unique, images, [unique.index(prompts[i]) for i in owners])
        elapsed = (time.perf_counter() - start) / len(batch)
        owner_index = torch.tensor(owners)
        for i, prepared in enumerate(batch):
            score = per_image[owner_index == i].mean().item()  # a video: the mean of its frames
            replies.append(Reply(prepared.key, score=score, latency_s=elapsed))
        return replies

    def pair_scores(self, prompts: list[str], images: list[Image.Image], prompt_of_image: list[int]) -> torch.Tensor:
        """PickScore of each image against its prompt (`prompts[prompt_of_image[j]]`), as float32 on the CPU."""
        device = self.model.device
        text = self.tokenizer(prompts, padding=True, truncation=True, max_length=self.max_text_length,
                              return_tensors="pt")
        pixels = self.image_processor(images=images, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            text_embeds = self.model.get_text_features(input_ids=text["input_ids"].to(device),
                                                       attention_mask=text["attention_mask"].to(device)).pooler_output
            image_embeds = self.model.get_image_features(
                pixel_values=pixels.to(device, self.model.dtype)).pooler_output
            text_embeds = _unit(text_embeds.float())[torch.tensor(prompt_of_image, device=device)]
            image_embeds = _unit(image_embeds.float())
            scale = self.model.logit_scale.float().exp()
            return (scale * (text_embeds * image_embeds).sum(dim=-1)).cpu()

    def close(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def _image_count(prepared: PreparedRequest) -> int:
    return sum(len(medium.images()) for medium in prepared.media)
