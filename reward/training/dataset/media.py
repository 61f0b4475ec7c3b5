"""Media references in source rows, and writing them under `<out>/media/<source>/`.

A source gives media as a local file path (relative to the source's `media_root`), a directory of frames,
or embedded bytes (a hub image column, or a parquet copy of one). Converters turn each into a
`LocalFile` or `Embedded` at conversion time, checking that a local file exists then, so a missing image
is reported with its row before anything is written. Bytes are only fetched when a sampled record is
written (`MediaWriter.put`).

Output names: a local file is hard-linked (copied across file systems) as `<12 hex of sha1(absolute
path)>_<its own name>`, so the same file used twice is stored once and a stored file can be traced back;
embedded bytes are written under their content hash, with the extension of the format Pillow reads in
them (which also checks they are an image).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from harness.errors import UsageError

from .rows import Lazy, Row, RowError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
PIL_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


@dataclass(frozen=True)
class LocalFile:
    path: Path


@dataclass(frozen=True)
class VideoFrames:
    """`count` frames sampled from a video file when written (a record that must show two videos)."""

    path: Path
    count: int
    source: str = ""
    row: str = ""
    field: str = ""


@dataclass(frozen=True)
class Embedded:
    """Bytes to fetch later; `source`, `row`, `field` name them if the fetch finds nothing usable."""

    load: Callable[[], Any] = field(compare=False)
    source: str = ""
    row: str = ""
    field: str = ""


Media = LocalFile | Embedded | VideoFrames


def media_from_value(row: Row, name: str, value: Any, media_root: Path | None) -> Media:
    """One media value of a row: a relative path, an HF image struct `{bytes, path}`, raw bytes, a PIL
    image, or a `Lazy` hub value."""
    if value is None:
        raise row.error(name, "missing (null)")
    if isinstance(value, Lazy):
        return Embedded(value.fetch, row.source, row.label, name)
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        return Embedded(lambda: data, row.source, row.label, name)
    if isinstance(value, Mapping):
        if value.get("bytes"):
            data = bytes(value["bytes"])
            return Embedded(lambda: data, row.source, row.label, name)
        if isinstance(value.get("path"), str) and value["path"]:
            return local_file(row, name, value["path"], media_root)
        raise row.error(name, "image struct has neither bytes nor path")
    if isinstance(value, str):
        if not value.strip():
            raise row.error(name, "empty path")
        return local_file(row, name, value, media_root)
    if hasattr(value, "save") and hasattr(value, "size"):  # a decoded PIL image
        image = value
        return Embedded(lambda: image, row.source, row.label, name)
    raise row.error(name, f"unsupported media value of type {type(value).__name__}")


def row_media(row: Row, name: str, media_root: Path | None) -> Media:
    return media_from_value(row, name, row.value(name), media_root)


def resolve(row: Row, name: str, relative: str, media_root: Path | None) -> Path:
    path = Path(relative)
    if not path.is_absolute():
        if media_root is None:
            raise UsageError(f"{row.source}: rows give media as relative paths ({name!r}: {relative!r}) but the "
                             f"source has no media_root; add `media_root:` to its manifest entry")
        path = media_root / path
    return path


def local_file(row: Row, name: str, relative: str, media_root: Path | None) -> LocalFile:
    path = resolve(row, name, relative, media_root)
    if not path.is_file():
        raise row.error(name, f"file not found: {path}")
    return LocalFile(path)


def frames_in(row: Row, name: str, directory: Path) -> tuple[LocalFile, ...]:
    """The image files of a frame directory, in natural order (frame_2 before frame_10)."""
    frames = [p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not frames:
        raise row.error(name, f"no image frames in {directory}")
    return tuple(LocalFile(p) for p in sorted(frames, key=_natural_key))


def _readable(name: str) -> str:
    """The source file name, kept (shortened, with safe characters) so a stored file can be traced back."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem)[:48] or "file"
    return stem + ("." + re.sub(r"[^A-Za-z0-9]+", "", suffix).lower() if suffix else "")


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class MediaWriter:
    """Puts media under `<out>/media/<source>/` and returns paths relative to `<out>`."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self._done: dict[tuple[str, str], str] = {}
        self._frames: dict[tuple[str, str], tuple[str, ...]] = {}

    def put(self, source: str, media: Media) -> tuple[str, ...]:
        """The stored path(s): one per file or image, `count` for sampled video frames."""
        if isinstance(media, LocalFile):
            return (self._put_file(source, media.path),)
        if isinstance(media, VideoFrames):
            return self._put_frames(source, media)
        return (self._put_bytes(source, media),)

    def _put_frames(self, source: str, media: VideoFrames) -> tuple[str, ...]:
        """Frames picked as the UnifiedReward scripts pick them (`np.linspace(0, total - 1, n)`), decoded
        by the harness's video reader (which also rejects truncated or corrupt files), stored as PNG."""
        from harness.errors import MediaError
        from harness.media import load_media
        from harness.records import MediaRef

        absolute = str(media.path.resolve())
        key = (source, f"frames:{media.count}:{absolute}")
        if key not in self._frames:
            ref = MediaRef("video", str(media.path), path=media.path, frames=media.count, sampling="linspace")
            try:
                frames = load_media(ref).frames
            except MediaError as exc:
                raise RowError(media.source, media.row, media.field, f"unreadable video: {exc}") from exc
            stem = f"{hashlib.sha1(absolute.encode()).hexdigest()[:12]}_{_readable(media.path.stem)}"
            paths = []
            for i, frame in enumerate(frames):
                dest = self._dest(source, f"{stem}_f{media.count}-{i}.png")
                if not dest.exists():
                    tmp = dest.with_name(dest.name + ".tmp")
                    tmp.write_bytes(frame.data)
                    os.replace(tmp, dest)
                paths.append(dest.relative_to(self.out_dir).as_posix())
            self._frames[key] = tuple(paths)
        return self._frames[key]

    def _put_file(self, source: str, path: Path) -> str:
        absolute = str(path.resolve())
        key = (source, "file:" + absolute)
        if key not in self._done:
            name = f"{hashlib.sha1(absolute.encode()).hexdigest()[:12]}_{_readable(path.name)}"
            dest = self._dest(source, name)
            if not dest.exists():
                _link_or_copy(path, dest)
            self._done[key] = dest.relative_to(self.out_dir).as_posix()
        return self._done[key]

    def _put_bytes(self, source: str, media: Embedded) -> str:
        data, suffix = _image_bytes(media)
        digest = hashlib.sha256(data).hexdigest()
        key = (source, "sha256:" + digest)
        if key not in self._done:
            dest = self._dest(source, digest[:16] + suffix)
            if not dest.exists():
                tmp = dest.with_name(dest.name + ".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, dest)
            self._done[key] = dest.relative_to(self.out_dir).as_posix()
        return self._done[key]

    def _dest(self, source: str, name: str) -> Path:
        folder = self.out_dir / "media" / source
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name


def _image_bytes(media: Embedded) -> tuple[bytes, str]:
    """The stored bytes and their image suffix. A PIL image is encoded as PNG (lossless)."""
    from PIL import Image, UnidentifiedImageError

    value = media.load()
    if isinstance(value, Mapping):
        value = value.get("bytes") or _read_path(value.get("path"))
    if value is None or value == b"":
        raise RowError(media.source, media.row, media.field, "missing (no image stored)")
    if hasattr(value, "save") and not isinstance(value, (bytes, bytearray)):
        buf = io.BytesIO()
        value.save(buf, "PNG")
        return buf.getvalue(), ".png"
    data = bytes(value)
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format or ""
    except (UnidentifiedImageError, OSError) as exc:
        raise RowError(media.source, media.row, media.field, f"stored bytes are not a readable image ({exc})")
    return data, PIL_SUFFIX.get(fmt, ".img")


def _read_path(path: Any) -> bytes | None:
    """An HF image struct stored by path only (a local `datasets` cache) is read from that path."""
    if isinstance(path, str) and path and Path(path).is_file():
        return Path(path).read_bytes()
    return None


def _link_or_copy(src: Path, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
