"""The reward service's request bodies (schema version 1) read into typed records.

Everything a body can get wrong is found here, before any item is queued: a wrong type, a missing or unknown
field, base64 that does not decode, a video file without its frame count or size. Each is a `BadRequest` whose
`field` names the place (`items[3].image.b64`), answered as HTTP 400. What only judging can find (an image
that does not decode, a file that is not there, an unreadable reply) is that item's failure instead, so one bad
sample does not cost a trainer the whole batch.

MEDIA is `{"b64": ...}` (a PNG or JPEG, optionally as a `data:` URL) or `{"path": ...}` (read by the server,
relative to its working directory). VIDEO is `{"frames": [MEDIA, ...]}` or `{"path": ..., "frames": N,
"size": [W, H]}`: a video file is sampled to N evenly spaced frames of W x H, both given explicitly (the
service does not guess how a policy's videos should be seen).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Union

SCHEMA_VERSION = 1
Orders = Literal["one", "both"]
Modality = Literal["image", "video"]
#: File name endings read as videos: a `{"path": "clip.mp4"}` without frames is then a 400, not a broken image.
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v", ".mpeg", ".mpg")
GENERATION_FIELDS = ("temperature", "top_p", "seed", "max_new_tokens")


class BadRequest(Exception):
    """A body the service cannot read: HTTP 400 with `field` (where) and the message (what)."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}" if where else message)
        self.field = where
        self.message = message


@dataclass(frozen=True)
class Image:
    """One image: its bytes (from base64) or a path the server reads."""

    label: str
    data: bytes | None = field(default=None, repr=False)
    path: str | None = None


@dataclass(frozen=True)
class Video:
    """A video: given as frames (images), or a file sampled to `n_frames` frames of `size` (width, height)."""

    label: str
    frames: tuple[Image, ...] = ()
    path: str | None = None
    n_frames: int | None = None
    size: tuple[int, int] | None = None


Candidate = Union[Image, Video]


@dataclass(frozen=True)
class FailurePolicy:
    """What a failed item becomes: `report` (ok false, value null), `skip` (the same, and a group leaves it out
    of its rewards), `value` (ok false, value `value`: the caller's own default), `error` (the request answers
    422)."""

    mode: Literal["report", "error", "skip", "value"] = "report"
    value: float | None = None


@dataclass(frozen=True)
class GenerationOverride:
    """Decoding settings a request asks for instead of the template's (greedy) ones; None: the template's."""

    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_new_tokens: int | None = None


@dataclass(frozen=True)
class Options:
    on_failure: FailurePolicy = FailurePolicy()
    return_raw: bool = False
    orders: Orders = "one"
    generation: GenerationOverride = GenerationOverride()


@dataclass(frozen=True)
class PointItem:
    prompt: str
    candidate: Candidate


@dataclass(frozen=True)
class PairItem:
    prompt: str
    a: Candidate
    b: Candidate


@dataclass(frozen=True)
class PointwiseBody:
    items: tuple[PointItem, ...]
    options: Options
    modality: Modality


@dataclass(frozen=True)
class PairwiseBody:
    items: tuple[PairItem, ...]
    options: Options
    modality: Modality


@dataclass(frozen=True)
class GroupBody:
    prompt: str
    candidates: tuple[Candidate, ...]
    mode: Literal["pairwise", "pointwise"]
    options: Options
    modality: Modality


# ---- the three bodies -----------------------------------------------------------------------------------------

def parse_pointwise(body: Any) -> PointwiseBody:
    data = _object(body, "", ("items", "on_failure", "return_raw", "generation"))
    raw_items = _items(data)
    items = []
    for i, raw in enumerate(raw_items):
        where = f"items[{i}]"
        item = _object(raw, where, ("prompt", "image", "video"))
        media = [k for k in ("image", "video") if k in item]
        if len(media) != 1:
            raise BadRequest(where, "needs exactly one of 'image' or 'video'")
        key = media[0]
        parse = _image if key == "image" else _video
        items.append(PointItem(_prompt(item, where), parse(item[key], f"{where}.{key}")))
    return PointwiseBody(tuple(items), _options(data, pairwise=False), _modality([it.candidate for it in items]))


def parse_pairwise(body: Any) -> PairwiseBody:
    data = _object(body, "", ("items", "orders", "on_failure", "return_raw", "generation"))
    items = []
    for i, raw in enumerate(_items(data)):
        where = f"items[{i}]"
        item = _object(raw, where, ("prompt", "a", "b"))
        for key in ("a", "b"):
            if key not in item:
                raise BadRequest(f"{where}.{key}", "missing (an image or a video)")
        items.append(PairItem(_prompt(item, where), _candidate(item["a"], f"{where}.a"),
                              _candidate(item["b"], f"{where}.b")))
    return PairwiseBody(tuple(items), _options(data, pairwise=True),
                        _modality([c for it in items for c in (it.a, it.b)]))


def parse_group(body: Any) -> GroupBody:
    data = _object(body, "", ("prompt", "candidates", "mode", "orders", "on_failure", "return_raw", "generation"))
    raw = data.get("candidates")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("candidates", "must be a non-empty list of images or videos")
    candidates = tuple(_candidate(c, f"candidates[{i}]") for i, c in enumerate(raw))
    mode = data.get("mode", "pointwise")
    if mode not in ("pairwise", "pointwise"):
        raise BadRequest("mode", f"must be 'pairwise' or 'pointwise', not {mode!r}")
    if mode == "pairwise" and len(candidates) < 2:
        raise BadRequest("candidates", "pairwise mode needs at least two candidates")
    return GroupBody(_prompt(data, ""), candidates, mode, _options(data, pairwise=True), _modality(candidates))


# ---- fields ---------------------------------------------------------------------------------------------------

def _object(value: Any, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(where, f"must be a JSON object, not {type(value).__name__}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise BadRequest(where, f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    return value


def _items(data: Mapping[str, Any]) -> list[Any]:
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise BadRequest("items", "must be a non-empty list")
    return items


def _prompt(item: Mapping[str, Any], where: str) -> str:
    prompt = item.get("prompt")
    if not isinstance(prompt, str):
        raise BadRequest(f"{where}.prompt" if where else "prompt", "must be a string")
    return prompt


def _candidate(value: Any, where: str) -> Candidate:
    """An image or a video: a video names frames (or a size), or is a file whose name says it is one."""
    if isinstance(value, dict) and ("frames" in value or "size" in value or
                                    str(value.get("path", "")).lower().endswith(VIDEO_SUFFIXES)):
        return _video(value, where)
    return _image(value, where)


def _image(value: Any, where: str) -> Image:
    item = _object(value, where, ("b64", "path"))
    if ("b64" in item) == ("path" in item):
        raise BadRequest(where, "needs exactly one of 'b64' or 'path'")
    if "path" in item:
        return Image(where, path=_path(item["path"], f"{where}.path"))
    text = item["b64"]
    if not isinstance(text, str) or not text:
        raise BadRequest(f"{where}.b64", "must be a non-empty base64 string")
    if text.startswith("data:"):  # a data URL: the payload after the comma
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where}.b64", "is not valid base64") from None
    if not data:
        raise BadRequest(f"{where}.b64", "decodes to no bytes")
    return Image(where, data=data)


def _video(value: Any, where: str) -> Video:
    item = _object(value, where, ("frames", "path", "size"))
    frames = item.get("frames")
    if "path" not in item:
        if "size" in item:
            raise BadRequest(f"{where}.size", "only for a video file ('path'); frames given as images keep their size")
        if not isinstance(frames, list) or not frames:
            raise BadRequest(f"{where}.frames", "must be a non-empty list of images (or give a video 'path')")
        return Video(where, frames=tuple(_image(f, f"{where}.frames[{i}]") for i, f in enumerate(frames)))
    path = _path(item["path"], f"{where}.path")
    if frames is None:
        raise BadRequest(f"{where}.frames", "missing: a video file needs the number of frames to sample")
    if not _positive_int(frames):
        raise BadRequest(f"{where}.frames", f"must be a positive integer, not {frames!r}")
    size = item.get("size")
    if size is None:
        raise BadRequest(f"{where}.size", "missing: a video file needs the frame size [width, height]")
    if not (isinstance(size, list) and len(size) == 2 and all(_positive_int(v) for v in size)):
        raise BadRequest(f"{where}.size", f"must be [width, height] of positive integers, not {size!r}")
    return Video(where, path=path, n_frames=frames, size=(size[0], size[1]))


def _path(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(where, "must be a non-empty string")
    return value


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _modality(candidates: Any) -> Modality:
    """The one modality of a request's candidates: a request mixes no images with videos, so it is answered by
    one template (the response names it)."""
    kinds = ["image" if isinstance(c, Image) else "video" for c in candidates]
    if len(set(kinds)) > 1:
        first_video = kinds.index("video")
        raise BadRequest(candidates[first_video].label, "is a video but earlier candidates are images; send images "
                                                        "and videos in separate requests")
    return "image" if kinds[0] == "image" else "video"


def _options(data: Mapping[str, Any], pairwise: bool) -> Options:
    orders = data.get("orders", "one")
    if pairwise and orders not in ("one", "both"):
        raise BadRequest("orders", f"must be 'one' or 'both', not {orders!r}")
    return_raw = data.get("return_raw", False)
    if not isinstance(return_raw, bool):
        raise BadRequest("return_raw", "must be true or false")
    return Options(parse_failure_policy(data.get("on_failure", "report")), return_raw, orders if pairwise else "one",
                   _generation(data.get("generation")))


def parse_failure_policy(value: Any, where: str = "on_failure") -> FailurePolicy:
    """`report`, `error`, `skip` or `value:<float>` (a finite number)."""
    if value in ("report", "error", "skip"):
        return FailurePolicy(value)
    if isinstance(value, str) and value.startswith("value:"):
        try:
            number = float(value[len("value:"):])
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return FailurePolicy("value", number)
    raise BadRequest(where, f"must be 'report', 'error', 'skip' or 'value:<number>', not {value!r}")


def _generation(value: Any) -> GenerationOverride:
    if value is None:
        return GenerationOverride()
    data = _object(value, "generation", GENERATION_FIELDS)
    temperature, top_p, seed, max_new = (data.get(k) for k in GENERATION_FIELDS)
    if temperature is not None and not (_number(temperature) and 0 <= temperature <= 10):
        raise BadRequest("generation.temperature", "must be a number in [0, 10]")
    if top_p is not None and not (_number(top_p) and 0 < top_p <= 1):
        raise BadRequest("generation.top_p", "must be a number in (0, 1]")
    if seed is not None and not (isinstance(seed, int) and not isinstance(seed, bool)):
        raise BadRequest("generation.seed", "must be an integer")
    if max_new is not None and not _positive_int(max_new):
        raise BadRequest("generation.max_new_tokens", "must be a positive integer")
    return GenerationOverride(temperature, top_p, seed, max_new)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
