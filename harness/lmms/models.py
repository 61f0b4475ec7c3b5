"""Our judges as lmms-eval models: `ur_openai` (reward.openai_api) and `ur_hf` (reward.hf).

Only importable inside lmms-eval's environment (it subclasses `lmms_eval.api.model.lmms`). lmms-eval
finds these classes through the `lmms_eval.models` entry point (`harness.lmms.manifest`).

    lmms-eval --model ur_openai --model_args base_url=http://host:8000/v1,model=NAME,concurrency=32 ...
    lmms-eval --model ur_hf --model_args pretrained=DIR --batch_size 8 ...

`--model_args` are our adapter's own arguments (README, "Models"), plus `use_cache` (default true: our
judgment cache, so re-running lmms-eval costs no model call), `cache_path` and `video_frames` (frames per
video of a foreign task, default 8). `ur_hf` takes its batch size from lmms-eval's `--batch_size`.

`generate_until` hands the whole request list to our adapter at once, so `ur_openai` keeps `concurrency`
calls in flight and `ur_hf` batches by prompt length. A doc from one of our plugin tasks carries our exact
request (`ur_request`): the prompt is rebuilt part for part and its media go through our media loader, as
in `harness run`. Any other lmms-eval task gets its images (or video frames) first, then the text.

lmms-eval has no per-sample error status: a call that still fails after the adapter's retries becomes an
empty reply (counted invalid, so wrong, by our plugin tasks) and is logged; the count is printed at the end
of each call.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from loguru import logger
from lmms_eval.api.model import lmms

from harness.adapters import Adapter
from harness.cache import JudgmentCache
from harness.judging import JudgeClient
from harness.records import Generation, MediaRef, Part, Request

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".flv", ".gif")
#: Keys lmms-eval passes to every model besides --model_args; ours take them from --model_args or ignore them.
LMMS_EXTRA = ("batch_size", "max_batch_size", "device")


def _png_loader(image: Any) -> Any:
    """A loader returning the PIL image as PNG bytes (lossless: the model sees the dataset's pixels)."""

    def load() -> bytes:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        return buffer.getvalue()

    return load


def visual_ref(visual: Any, label: str, frames: int) -> MediaRef:
    """One lmms-eval visual (a PIL image, or a path to an image or a video) as our media reference."""
    if isinstance(visual, (str, Path)):
        path = Path(visual)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return MediaRef("video", str(path), path=path, frames=frames, sampling="linspace")
        return MediaRef("image", str(path), path=path)
    return MediaRef("image", label, loader=_png_loader(visual))


def plugin_parts(doc: Mapping[str, Any], payload: Mapping[str, Any], visuals: Sequence[Any],
                 label: str) -> tuple[Part, ...]:
    """Our exact prompt from a plugin doc: each media part is read from its file (a local copy) or from the
    image lmms-eval loaded (`visuals`, in prompt order), then prepared by our loader (resize, frames)."""
    parts: list[Part] = []
    position = 0
    for part in payload["parts"]:
        if "text" in part:
            parts.append(part["text"])
            continue
        prep = {"resize": tuple(part["resize"]) if part["resize"] else None, "frames": part["frames"],
                "sampling": part["sampling"]}
        if part["path"]:
            parts.append(MediaRef(part["kind"], part["media"], path=Path(part["path"]), **prep))
        else:
            source = doc.get(part["field"]) if part["field"] else visuals[position]
            parts.append(MediaRef(part["kind"], f"{label}:{part['media']}", loader=_png_loader(source), **prep))
        position += 1
    return tuple(parts)


def generation_from_kwargs(gen_kwargs: Mapping[str, Any] | None) -> Generation:
    """lmms-eval's generation_kwargs as our settings (greedy unless a temperature above 0 is asked)."""
    gen_kwargs = gen_kwargs or {}
    temperature = float(gen_kwargs.get("temperature") or 0.0)
    top_p = gen_kwargs.get("top_p")
    return Generation(max_new_tokens=int(gen_kwargs.get("max_new_tokens") or 1024), temperature=temperature,
                      top_p=float(top_p) if temperature > 0 and top_p is not None else None)


def cut_at_stops(text: str, until: Any) -> str:
    """Apply lmms-eval's `until` stop strings after the fact (our adapters take no stop sequences)."""
    stops = [until] if isinstance(until, str) else list(until or [])
    for stop in stops:
        if stop and stop in text:
            text = text.split(stop, 1)[0]
    return text


class _URModel(lmms):
    """Shared body of ur_openai and ur_hf: build our Requests, judge them through our JudgeClient."""

    adapter_class: ClassVar[type[Adapter]]

    def __init__(self, use_cache: bool = True, cache_path: str = "", video_frames: int = 8, **kwargs: Any) -> None:
        super().__init__()
        args = {k: str(v) for k, v in self._adapter_args(kwargs).items()}
        self.adapter = self.adapter_class.from_args(args)
        self.use_cache = bool(use_cache)
        self.cache_path = Path(cache_path) if cache_path else None
        self.video_frames = int(video_frames)

    def _adapter_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in kwargs.items() if k not in LMMS_EXTRA and v is not None}

    def _request(self, index: int, args: Sequence[Any]) -> tuple[Request, Any]:
        context, gen_kwargs, doc_to_visual, doc_id, task, split = args[:6]
        doc = self.task_dict[task][split][doc_id]
        label = f"{task}:{split}:{doc_id}"
        key = f"{index}:{label}"
        if "ur_request" in doc:
            from harness.lmms.bridge import doc_request

            payload = doc_request(doc)
            fields = any(p.get("field") or p.get("path") for p in payload["parts"] if "media" in p)
            visuals = [] if fields else list(doc_to_visual(doc) or [])
            parts = plugin_parts(doc, payload, visuals, label)
            return Request(key, label, parts, Generation(**payload["generation"])), None
        visuals = doc_to_visual(doc) if doc_to_visual is not None else []
        if not isinstance(visuals, (list, tuple)):
            visuals = [visuals]
        media = [visual_ref(v, f"{label}:{i}", self.video_frames) for i, v in enumerate(visuals or [])]
        until = (gen_kwargs or {}).get("until")
        return Request(key, label, (*media, str(context)), generation_from_kwargs(gen_kwargs)), until

    def generate_until(self, requests: Sequence[Any]) -> list[Any]:
        built = [self._request(i, inst.args) for i, inst in enumerate(requests)]
        cache = JudgmentCache(self.cache_path) if self.use_cache else None
        replies: dict[str, Any] = {}
        try:
            for exchange in JudgeClient(self.adapter, cache).judge([request for request, _ in built]):
                replies[exchange.request.key] = exchange.reply
        finally:
            if cache is not None:
                cache.close()
            self._release()
        failed = [r for r in replies.values() if not r.ok]
        for reply in failed[:5]:
            logger.warning(f"{self.adapter.name}: {reply.key}: {reply.error} (scored as an empty reply)")
        if failed:
            logger.warning(f"{self.adapter.name}: {len(failed)} of {len(built)} request(s) failed")
        return [_result(cut_at_stops(replies[request.key].text or "", until), replies[request.key].usage)
                for request, until in built]

    def _release(self) -> None:
        """Free what must not outlive one generate_until call (an HTTP session); a local model stays loaded."""

    def loglikelihood(self, requests: Sequence[Any]) -> list[tuple[float, bool]]:
        raise NotImplementedError(f"{type(self).__name__} is a generative judge: loglikelihood tasks need another "
                                  f"model")

    def generate_until_multi_round(self, requests: Sequence[Any]) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} answers single-turn prompts only")


def _result(text: str, usage: Mapping[str, int]) -> Any:
    """A GenerationResult with token counts where this lmms-eval has the type, else the plain text."""
    try:
        from lmms_eval.api.instance import GenerationResult, TokenCounts
    except ImportError:  # pragma: no cover - lmms-eval before 0.7
        return text
    counts = TokenCounts(input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens"))
    return GenerationResult(text=text, token_counts=counts if usage else None)


class UROpenAI(_URModel):
    """`ur_openai`: reward.openai_api.OpenAIAdapter (base_url=, model=, concurrency=, ...)."""

    from reward.openai_api import OpenAIAdapter as adapter_class

    def _release(self) -> None:
        self.adapter.close()  # the session and its loop thread; the next call opens new ones


class URHF(_URModel):
    """`ur_hf`: reward.hf.HFAdapter (pretrained=, dtype=, ...); the batch size is lmms-eval's --batch_size."""

    from reward.hf import HFAdapter as adapter_class

    def _adapter_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        args = super()._adapter_args(kwargs)
        batch_size = kwargs.get("batch_size")
        if "batch_size" not in args and batch_size not in (None, "auto") and str(batch_size).isdigit():
            args["batch_size"] = int(batch_size)
        if "device" not in args and kwargs.get("device"):
            args["device"] = kwargs["device"]
        return args
