"""The preference pairs Diffusion-DPO trains on (`alignment.diffusion_dpo`): the rows of `pairs.jsonl`, as
preference construction (`harness construct`) writes them, and their media as pixels in [−1, 1].
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from harness.errors import UsageError
from harness.jsonl import read_jsonl

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif")


@dataclass(frozen=True)
class Pair:
    """One preference pair: `chosen` is preferred to `rejected` for `prompt`."""

    id: str
    prompt: str
    chosen: Path
    rejected: Path
    where: str  # "<dir>/pairs.jsonl line N (id 'x')", for error messages


def read_pairs(directory: Path | str, kind: str) -> list[Pair]:
    """Rows `{"id", "prompt", "chosen", "rejected"}` of `<directory>/pairs.jsonl`, media paths relative to the
    directory. `kind` ("image" or "video") is what the model trains on; a row of the other kind is refused."""
    directory = Path(directory)
    path = directory / "pairs.jsonl"
    if not path.is_file():
        raise UsageError(f"{directory}: no pairs.jsonl (write it with preference construction)")
    suffixes = IMAGE_SUFFIXES if kind == "image" else VIDEO_SUFFIXES
    pairs = []
    for lineno, row in read_jsonl(path):
        where = f"{path} line {lineno} (id {row.get('id')!r})"
        if not isinstance(row.get("prompt"), str):
            raise UsageError(f"{where}: field 'prompt' is missing or not a string")
        media = {}
        for name in ("chosen", "rejected"):
            value = row.get(name)
            if not isinstance(value, str) or not value:
                raise UsageError(f"{where}: field {name!r} is missing or not a media path")
            file = directory / value
            if file.suffix.lower() not in suffixes:
                raise UsageError(f"{where}: field {name!r} ({value}) is not a{'n' if kind == 'image' else ''} "
                                 f"{kind} file ({', '.join(suffixes)}), but the model trains on {kind}s")
            if not file.is_file():
                raise UsageError(f"{where}: field {name!r}: file {file} not found")
            media[name] = file
        pairs.append(Pair(str(row.get("id", f"line{lineno}")), row["prompt"], media["chosen"],
                          media["rejected"], where))
    return pairs


def image_pixels(path: Path, resolution: int, flip: bool) -> np.ndarray:
    """(3, r, r) float32 in [−1, 1]: RGB, shorter side resized to r (bilinear), centre crop, optional flip;
    x = 2·(v / 255) − 1 (the released code's ToTensor + Normalize(0.5, 0.5))."""
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    w, h = rgb.size
    scale = resolution / min(w, h)
    size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))
    rgb = rgb.resize(size, Image.Resampling.BILINEAR)
    left, top = int(round((size[0] - resolution) / 2.0)), int(round((size[1] - resolution) / 2.0))
    rgb = rgb.crop((left, top, left + resolution, top + resolution))
    if flip:
        rgb = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _to_unit_range(np.asarray(rgb))


def video_pixels(path: Path, label: str, frames: int, size: tuple[int, int], flip: bool) -> np.ndarray:
    """(F, 3, H, W) float32 in [−1, 1]: F frames evenly spaced over the video (`harness.media`, "linspace"),
    each resized to size = (W, H); the whole clip flipped when `flip`."""
    from harness.errors import MediaError
    from harness.media import load_media
    from harness.records import MediaRef

    try:
        loaded = load_media(MediaRef("video", label, path=path, frames=frames, sampling="linspace", resize=size))
    except MediaError as exc:
        raise UsageError(str(exc)) from None
    clip = []
    for frame in loaded.frames:
        with Image.open(io.BytesIO(frame.data)) as img:
            rgb = img.convert("RGB")
        clip.append(_to_unit_range(np.asarray(rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else rgb)))
    return np.stack(clip)


def _to_unit_range(hwc: np.ndarray) -> np.ndarray:
    return (hwc.astype(np.float32).transpose(2, 0, 1) / 127.5) - 1.0
