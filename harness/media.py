"""Reading media: bytes, a content hash, and a full decode so a corrupt file fails here, per sample,
with its name, instead of inside a model's forward pass.

Images are decoded completely (`Image.load()`), not just header-checked: a truncated JPEG passes
`verify()` but fails to decode. The validation result is memoised per (path, size, mtime), so an image
shared by many samples is decoded once per process.
"""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .errors import MediaError
from .records import LoadedMedia, MediaRef

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
         "BMP": "image/bmp", "TIFF": "image/tiff"}

_checked: dict[tuple[str, int, int], tuple[str, str]] = {}
_checked_lock = threading.Lock()


def load_media(ref: MediaRef) -> LoadedMedia:
    if ref.kind != "image":
        raise MediaError(f"{ref.label}: {ref.kind} media are not supported by this version of the harness")
    if ref.path is not None:
        return _load_image_file(ref)
    if ref.loader is not None:
        try:
            data = ref.loader()
        except Exception as exc:  # a dataset row whose image cannot be fetched
            raise MediaError(f"{ref.label}: cannot read image: {exc}") from None
        sha, mime = _check_image(data, ref.label)
        return LoadedMedia(ref.kind, ref.label, sha, data, mime)
    raise MediaError(f"{ref.label}: no path and no data for this image")


def _load_image_file(ref: MediaRef) -> LoadedMedia:
    path = Path(ref.path)  # type: ignore[arg-type]
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
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"{label}: corrupt or unreadable image: {exc}") from None
    return hashlib.sha256(data).hexdigest(), _MIME.get(fmt, "application/octet-stream")
