"""Reading media: bytes, a content hash, and a full decode so a corrupt file fails here, per sample,
with its name, instead of inside a model's forward pass.

Images are decoded completely (`Image.load()`), not just header-checked: a truncated JPEG passes
`verify()` but fails to decode. Without `MediaRef.resize` the original bytes are passed on and the
validation result is memoised per (path, size, mtime), so an image shared by many samples is decoded
once per process. With `resize=(w, h)` the image is converted to RGB, resized with PIL's BICUBIC (the
default of `Image.resize` for RGB; see `video.to_png`) and re-encoded as PNG, which is lossless, so the
model sees exactly the resized pixels; `sha256` is then the hash of those PNG bytes.

Videos (`kind="video"`) are sampled into frames by `harness.video` (rules, truncation checks and the
on-disk frame cache are described there).

`load_media` runs in the judge client's thread pool: the memo is guarded by a lock, and the video
module serialises concurrent loads of one video.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import replace
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .errors import MediaError
from .records import LoadedMedia, MediaRef
from .video import check_resize, load_video, read_media_bytes, to_png

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
         "BMP": "image/bmp", "TIFF": "image/tiff"}

_checked: dict[tuple[str, int, int], tuple[str, str]] = {}
_checked_lock = threading.Lock()

_IMAGE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def load_media(ref: MediaRef) -> LoadedMedia:
    """Read `ref` as the model will see it; `MediaError` (naming `ref.label`) when it cannot be."""
    loaded = _load(ref)
    return replace(loaded, video_frame=True) if ref.video_frame else loaded


def _load(ref: MediaRef) -> LoadedMedia:
    if ref.kind == "video":
        return load_video(ref)
    if ref.kind != "image":
        raise MediaError(f"{ref.label}: {ref.kind} media are not supported by this version of the harness")
    resize = check_resize(ref.label, ref.resize)
    if ref.path is not None and resize is None:
        return _load_image_file(ref, Path(ref.path))
    data = read_media_bytes(ref)
    if resize is not None:
        png = _resized_png(data, ref.label, resize)
        return LoadedMedia(ref.kind, ref.label, hashlib.sha256(png).hexdigest(), png, "image/png")
    sha, mime = _check_image(data, ref.label)
    return LoadedMedia(ref.kind, ref.label, sha, data, mime)


def _load_image_file(ref: MediaRef, path: Path) -> LoadedMedia:
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        raise MediaError(f"{ref.label}: image file not found ({path})") from None
    except OSError as exc:
        raise MediaError(f"{ref.label}: cannot read image file {path}: {exc.strerror or exc}") from None
    memo_key = (str(path), st.st_size, st.st_mtime_ns)
    with _checked_lock:
        known = _checked.get(memo_key)
    if known is None:
        known = _check_image(data, ref.label)
        with _checked_lock:
            _checked[memo_key] = known
    return LoadedMedia(ref.kind, ref.label, known[0], data, known[1])


def _check_image(data: bytes, label: str) -> tuple[str, str]:
    if not data:
        raise MediaError(f"{label}: image is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            img.load()
    except _IMAGE_ERRORS as exc:
        raise MediaError(f"{label}: corrupt or unreadable image: {exc}") from None
    return hashlib.sha256(data).hexdigest(), _MIME.get(fmt, "application/octet-stream")


def _resized_png(data: bytes, label: str, resize: tuple[int, int]) -> bytes:
    """Decode fully (the check), convert to RGB, resize and encode as PNG."""
    if not data:
        raise MediaError(f"{label}: image is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return to_png(img, resize)
    except _IMAGE_ERRORS as exc:
        raise MediaError(f"{label}: corrupt or unreadable image: {exc}") from None
