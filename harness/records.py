"""Typed records for each stage of a run: Sample -> Request -> Reply -> Judgment.

They are frozen so a stage cannot quietly edit what an earlier stage produced. Media are referenced
(`MediaRef`) and only read when an adapter needs them; once read they are identified by content hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, Union

MediaKind = Literal["image", "video", "frames"]


@dataclass(frozen=True)
class MediaRef:
    """Where a medium comes from: a file path, or a loader for bytes held elsewhere (e.g. a HF row).

    `label` is what error messages name (a relative path or `<dataset>:<row>:image`). How the protocol
    wants it prepared is part of the reference: `resize` (width, height) for images and frames, and for
    videos the number of `frames` and the `sampling` rule that picks them ("linspace": evenly spaced
    over the whole video including both ends, as the UnifiedReward scripts; "arange": GenAI-Bench's
    `np.arange(0, n, n / frames)`; "qwen-fps2": 2 frames a second as qwen_vl_utils, `frames` being the cap).
    """

    kind: MediaKind
    label: str
    path: Path | None = None
    loader: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)
    resize: tuple[int, int] | None = None
    frames: int | None = None
    sampling: str | None = None
    #: An image that is one frame of a video given as frame files (local judges then feed it as a video
    #: frame: for LLaVA-OneVision the authors' 729-token path instead of anyres tiling).
    video_frame: bool = False


# A prompt is an ordered sequence of text segments and media slots, exactly as the model sees it.
Part = Union[str, MediaRef]


@dataclass(frozen=True)
class Generation:
    """Generation settings that change the output (part of the cache identity).

    Timeouts, retries, batch size and concurrency are deliberately absent: they do not change what a
    deterministic judge answers, so they must not split the cache.
    """

    max_new_tokens: int = 4096
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "seed": self.seed}


@dataclass(frozen=True)
class Sample:
    """One benchmark item. `data` holds the benchmark's own fields (already validated by the task);
    `index` is the row's position in the full dataset, which some protocols' randomness depends on."""


    id: str
    index: int
    data: Mapping[str, Any]
    media: tuple[MediaRef, ...] = ()
    #: Why this row cannot be judged (malformed row); the runner records it as an error, counted.
    problem: str | None = None


@dataclass(frozen=True)
class Request:
    """What one adapter call is asked. `key` is unique within a run (sample id plus a suffix when a
    sample needs several requests); `meta` carries task bookkeeping that is never sent to the model."""

    key: str
    sample_id: str
    parts: tuple[Part, ...]
    generation: Generation = Generation()
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(p for p in self.parts if isinstance(p, str))

    @property
    def media(self) -> tuple[MediaRef, ...]:
        return tuple(p for p in self.parts if isinstance(p, MediaRef))


@dataclass(frozen=True)
class LoadedMedia:
    """A medium read and checked. For an image, `data` holds its bytes (re-encoded as PNG when the
    reference asked for a resize) and `sha256` their hash. For a video, `frames` holds the sampled frames
    as images and `sha256` identifies the video's bytes together with the sampling; `data` is empty."""

    kind: MediaKind
    label: str
    sha256: str
    data: bytes
    mime: str
    frames: tuple["LoadedMedia", ...] = ()
    #: A video's sampled frames per second (frame count / duration in frames * the stream's rate), if known.
    fps: float | None = None
    #: See `MediaRef.video_frame`.
    video_frame: bool = False

    def images(self) -> tuple["LoadedMedia", ...]:
        """What a model sees: the image itself, or a video's frames in order."""
        return self.frames if self.kind == "video" else (self,)


@dataclass(frozen=True)
class PreparedRequest:
    """A request with its media loaded and its prompt fingerprint computed; what adapters receive."""

    request: Request
    media: tuple[LoadedMedia, ...]
    prompt_hash: str

    @property
    def key(self) -> str:
        return self.request.key

    def parts(self) -> Iterator[str | LoadedMedia]:
        """The prompt in order with media loaded and videos expanded into their frames (images)."""
        loaded = iter(self.media)
        for part in self.request.parts:
            if isinstance(part, str):
                yield part
            else:
                yield from next(loaded).images()


@dataclass(frozen=True)
class Reply:
    """An adapter's answer to one request. Exactly one of `text`/`score` is set on success; `error`
    is set (and both others None) when the call failed after the adapter's own retries."""

    key: str
    text: str | None = None
    score: float | None = None
    error: str | None = None
    latency_s: float = 0.0
    attempts: int = 1
    usage: Mapping[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.score is not None:
            out["score"] = self.score
        out.update(error=self.error, latency_s=round(self.latency_s, 6), attempts=self.attempts,
                   cached=self.cached)
        if self.usage:
            out["usage"] = dict(self.usage)
        if self.cost_usd is not None:
            out["cost_usd"] = self.cost_usd
        return out


SampleStatus = Literal["ok", "invalid", "error"]


@dataclass(frozen=True)
class Judgment:
    """The final per-sample record, one line of `<task>.samples.jsonl`.

    status: `ok` (a verdict was parsed), `invalid` (the judge answered but no verdict could be read),
    `error` (no answer: bad row, unreadable media, adapter failure). `outcome` holds the task's
    per-sample fields that scoring reads (e.g. category, verdict, correct).
    """

    sample_id: str
    status: SampleStatus
    outcome: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    stage: str | None = None
    prompt_hash: str | None = None
    replies: tuple[Mapping[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.sample_id, "status": self.status, "reason": self.reason, "stage": self.stage,
                "outcome": dict(self.outcome), "prompt_hash": self.prompt_hash, "replies": list(self.replies)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Judgment":
        return cls(sample_id=str(d["id"]), status=d["status"], outcome=d.get("outcome") or {},
                   reason=d.get("reason"), stage=d.get("stage"), prompt_hash=d.get("prompt_hash"),
                   replies=tuple(d.get("replies") or ()))


def canonical_json(obj: Any) -> str:
    """Stable JSON for hashing: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_fingerprint(parts: tuple[Part, ...], media: tuple[LoadedMedia, ...] | None) -> str:
    """Hash of the exact prompt: text segments verbatim, media by content hash when loaded (by label
    otherwise, for adapters that never read media, such as replay)."""
    loaded = iter(media or ())
    canon: list[Any] = []
    for p in parts:
        if isinstance(p, str):
            canon.append(p)
        elif media is not None:
            item = next(loaded)
            canon.append({"media": item.sha256, "video_frame": True} if item.video_frame else {"media": item.sha256})
        else:
            canon.append({"media_ref": p.label})
    return sha256_text(canonical_json(canon))
