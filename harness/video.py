"""Videos as the sampled frames a judge sees: decoding with PyAV, the sampling rules, and an on-disk
cache of the sampled frames keyed by content.

Sampling (`MediaRef.sampling`, `n` = `MediaRef.frames`, `total` = number of frames in the video):

- "linspace" (UnifiedReward scripts): `np.linspace(0, total - 1, n, dtype=int)`, i.e. evenly spaced
  over the whole video including the first and last frame, truncated towards zero. When `total < n`
  some indices repeat and the repeated frames are kept (the model sees n images, as the scripts would
  give it), so the result always has exactly n frames.
- "arange" (GenAI-Bench `process_video_into_frames`): `np.arange(0, total, total / n).astype(int)`
  when `total > n`, else `np.arange(total)`: every frame once, so a short video gives fewer than n
  frames, as the reference does. The length is whatever numpy yields (n for every total up to 5,000
  and n in {8, 16, 32}; float rounding could in principle add one).

`total` is the container's frame count (`streams.video[0].frames`) when it reports one (> 0), as the
references read it from the header. Some containers report 0 (WebM/Matroska): then the frames are
counted by decoding the stream once, and a second pass picks the frames.

Every frame is converted to RGB (`VideoFrame.to_image()`: swscale's conversion; a GIF's transparency is
dropped), resized when `MediaRef.resize` is set (PIL bicubic, see `to_png`), and encoded as PNG, which
is lossless, so the model sees exactly these pixels. Each frame's hash is the hash of its PNG bytes; the
video's `sha256` hashes the video's bytes together with (frames, sampling, resize), so two samplings of
one file are different media for the judgment cache.

Truncated or corrupt files fail with `MediaError` instead of yielding a silent prefix, wherever the file
says how long it is:
- a decoder error (common for cut MP4/H.264 data) or an unreadable header (an MP4 cut before its
  `moov` atom) is reported as corrupt;
- when the container reports a frame count and the stream yields fewer frames, the video is reported
  truncated (picked frames would be missing or be the wrong ones). More frames than reported are
  tolerated: the indices follow the reported count;
- when it reports none (WebM), the decoded stream's span is compared with the declared duration of the
  video track (the stream's duration, Matroska's per-track DURATION tag, or the container's duration
  when the video is its only stream): the end of the last decoded frame must reach it within half a
  frame interval + 10 ms (Matroska stores milliseconds), so even a lost last frame is caught. This is a
  best-effort check: without a declared duration (live-recorded WebM) a cut at a frame boundary is
  undetectable.
- GIF has neither a frame count nor a duration in its header, and FFmpeg reads a GIF cut anywhere as a
  shorter GIF. So its block structure is walked (cheap, no decoding): data that ends before the GIF
  trailer (0x3B) is reported truncated. Animated GIFs decode to their composited frames (delta frames
  drawn over the previous ones, as a browser shows them); pixels left fully transparent come out black
  (the alpha is dropped). FFmpeg merges frames that have no graphic control extension (no delay; some
  GIF87a files) into one, so such a GIF fails the frame count check with a message saying so.

Frame cache: decoding costs far more than reading a few PNGs, and every protocol and judge loads the same
videos again, so the sampled PNG frames are kept under `<cache root>/frames/<key>/` (the cache root is
the directory of `harness.cache.default_cache_path()`, so `HARNESS_CACHE_DIR` moves it). The key hashes
the video's bytes hash, n, the rule, the resize and a layout version. An entry is written to a
temporary directory and renamed into place, so a reader never sees half of one; every read checks the
frames' hashes, and a damaged entry is ignored and rebuilt. `HARNESS_FRAME_CACHE=0` (or false/no/off)
disables it. Temporary directories left by killed processes (`frames/.tmp-*`) can be deleted at will.

Threads: the judge client loads media in a thread pool; PyAV releases the GIL while decoding, so no
pool of its own is needed here. With the cache on, loads of the same key within a process (a video
compared in consecutive pairs) are serialised by one of 64 striped locks, so the second waits and reads
the first one's entry instead of decoding again; unrelated videos share a lock only by a 1-in-64
chance. Between processes the atomic rename is enough: at worst both decode, and one entry wins.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .cache import default_cache_path
from .errors import MediaError
from .records import LoadedMedia, MediaRef, canonical_json, sha256_text

SAMPLING_RULES = ("linspace", "arange", "qwen-fps2")
FRAME_CACHE_ENV = "HARNESS_FRAME_CACHE"
#: Bumped when what is stored for a key changes (frame conversion, file layout), so old entries miss.
FRAME_CACHE_VERSION = 2  # 2: entries record the video's frame rate

#: How far the decoded frames may end before a declared duration: rounding, never a whole frame.
_DURATION_SLACK_FRAMES = 0.5
_DURATION_SLACK_S = 0.010

_locks = tuple(threading.Lock() for _ in range(64))


# ---- sampling -------------------------------------------------------------------------------------------

def sample_indices(total: int, n: int, rule: str, video_fps: float | None = None) -> list[int]:
    """The frame indices (in order, possibly repeated under linspace) that `rule` picks from `total`.

    "qwen-fps2" is `qwen_vl_utils.fetch_video` (v0.0.10/0.0.11, the first versions with the
    `return_video_kwargs` the authors' Qwen video scripts call): 2 frames a second, at least 4, at most
    min(768, total) frames (here `n` is that cap), floored to an even count; indices
    `linspace(0, total - 1, count)` rounded to the nearest frame.
    """
    if rule == "linspace":
        return [int(i) for i in np.linspace(0, total - 1, n, dtype=int)]
    if rule == "arange":
        if total > n:
            return [int(i) for i in np.arange(0, total, total / n).astype(int)]
        return list(range(total))
    if rule == "qwen-fps2":
        count = qwen_frame_count(total, video_fps or 0.0, n)
        return [int(i) for i in np.round(np.linspace(0, total - 1, count))]
    raise ValueError(f"unknown sampling rule {rule!r}; valid rules: {', '.join(SAMPLING_RULES)}")


def qwen_frame_count(total: int, video_fps: float, cap: int) -> int:
    """`qwen_vl_utils.smart_nframes` (v0.0.10-0.0.11) for fps 2 with its frame limits (FPS_MIN_FRAMES 4,
    FPS_MAX_FRAMES 768 given as `cap`, FRAME_FACTOR 2)."""
    if video_fps <= 0:
        raise ValueError("the video declares no frame rate, which 2-frames-a-second sampling needs")
    min_frames = math.ceil(4 / 2) * 2
    max_frames = math.floor(min(cap, total) / 2) * 2
    count = min(min(max(total / video_fps * 2.0, min_frames), max_frames), total)
    count = math.floor(count / 2) * 2
    if not 2 <= count <= total:
        raise ValueError(f"a {total}-frame video is too short for 2-frames-a-second sampling (needs >= 2 frames)")
    return int(count)


# ---- images ---------------------------------------------------------------------------------------------

def check_resize(label: str, resize: Any) -> tuple[int, int] | None:
    """`MediaRef.resize` as (width, height) of positive ints, or None; anything else is a MediaError."""
    if resize is None:
        return None
    try:
        w, h = resize
    except (TypeError, ValueError):
        raise MediaError(f"{label}: resize must be (width, height), got {resize!r}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h)):
        raise MediaError(f"{label}: resize must be two positive integers, got {resize!r}")
    return (w, h)


def to_png(image: Image.Image, resize: tuple[int, int] | None) -> bytes:
    """RGB, optionally resized, as PNG bytes.

    The image is converted to RGB *before* resizing, and resized with BICUBIC: that is Pillow's default
    filter for `Image.resize` on every mode except "1" and "P" (Pillow 13: `resample=None` means BICUBIC,
    and "1"/"P" always use NEAREST), i.e. what the reference scripts' `img.resize((512, 512))` does on
    the RGB images and frames they load. Converting first makes palette and RGBA inputs get the same
    bicubic filter instead of NEAREST or alpha-weighted resampling.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if resize is not None and rgb.size != resize:
        rgb = rgb.resize(resize, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    rgb.save(buf, "PNG")
    return buf.getvalue()


# ---- videos ---------------------------------------------------------------------------------------------

@dataclass
class _Scan:
    """What one pass over a video stream found."""

    count: int = 0
    pngs: dict[int, bytes] = field(default_factory=dict)
    first_s: float | None = None
    end_s: float | None = None  # end of the last decoded frame (its time + its duration)
    interval_s: float = 0.0  # one frame at the stream's average rate (0 when unknown)


@dataclass(frozen=True)
class _Sampled:
    indices: tuple[int, ...]
    pngs: dict[int, bytes]
    mime: str
    #: The video's frame rate (frames per second of the stream), when it declares one.
    video_fps: float | None = None
    total: int = 0


def load_video(ref: MediaRef) -> LoadedMedia:
    """Read, sample and convert a video (see the module docstring); frames come from the disk cache
    when an entry for this content and sampling exists."""
    n, rule, resize = _check_params(ref)
    data = read_media_bytes(ref)
    if not data:
        raise MediaError(f"{ref.label}: video is empty (0 bytes)")
    params = {"video": hashlib.sha256(data).hexdigest(), "frames": n, "sampling": rule,
              "resize": list(resize) if resize else None}
    video_sha = sha256_text(canonical_json(params))
    root = frame_cache_dir()
    if root is None:
        return _as_loaded(ref.label, video_sha, _decode_sampled(data, ref.label, n, rule, resize))
    key = sha256_text(canonical_json({**params, "layout": FRAME_CACHE_VERSION}))
    with _locks[int(key[:8], 16) % len(_locks)]:
        sampled = _read_entry(root / key, key)
        if sampled is None:
            sampled = _decode_sampled(data, ref.label, n, rule, resize)
            _write_entry(root, key, sampled)
    return _as_loaded(ref.label, video_sha, sampled)


def frame_cache_dir() -> Path | None:
    """Where sampled frames are cached, or None when `HARNESS_FRAME_CACHE` switches the cache off."""
    if os.environ.get(FRAME_CACHE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    return default_cache_path().parent / "frames"


def _check_params(ref: MediaRef) -> tuple[int, str, tuple[int, int] | None]:
    n = ref.frames
    if n is None:
        raise MediaError(f"{ref.label}: video reference has no frame count (MediaRef.frames)")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise MediaError(f"{ref.label}: frame count must be a positive integer, got {n!r}")
    if ref.sampling not in SAMPLING_RULES:
        raise MediaError(f"{ref.label}: unknown frame sampling {ref.sampling!r}; "
                         f"valid: {', '.join(SAMPLING_RULES)}")
    return n, ref.sampling, check_resize(ref.label, ref.resize)


def read_media_bytes(ref: MediaRef) -> bytes:
    """The raw bytes of an image or a video, from its path or its loader; every failure is a MediaError
    naming the sample's media label, so the run records it against that sample and goes on."""
    what = ref.kind
    if ref.path is not None:
        path = Path(ref.path)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise MediaError(f"{ref.label}: {what} file not found ({path})") from None
        except OSError as exc:
            raise MediaError(f"{ref.label}: cannot read {what} file {path}: {exc.strerror or exc}") from None
    if ref.loader is not None:
        try:
            return ref.loader()
        except Exception as exc:  # a dataset row whose media cannot be fetched
            raise MediaError(f"{ref.label}: cannot read {what}: {exc}") from None
    raise MediaError(f"{ref.label}: no path and no data for this {what}")


def _as_loaded(label: str, video_sha: str, sampled: _Sampled) -> LoadedMedia:
    frames = tuple(LoadedMedia("image", f"{label} frame {i}", hashlib.sha256(sampled.pngs[i]).hexdigest(),
                               sampled.pngs[i], "image/png") for i in sampled.indices)
    # Frames a second of the sampled frames, as qwen_vl_utils reports it (`count / total * video fps`):
    # Qwen2.5-VL spaces its temporal positions by it.
    fps = len(sampled.indices) / sampled.total * sampled.video_fps if sampled.video_fps and sampled.total else None
    return LoadedMedia("video", label, video_sha, b"", sampled.mime, frames, fps=fps)


def _decode_sampled(data: bytes, label: str, n: int, rule: str, resize: tuple[int, int] | None) -> _Sampled:
    """Decode `data` and keep the frames that `rule` picks, as PNG bytes; MediaError when the video is
    unreadable, empty or shorter than it claims."""
    import av  # deferred: only runs that judge videos pay for loading FFmpeg

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise MediaError(f"{label}: no video stream in the file")
            stream = container.streams.video[0]
            if stream.codec_context is None:  # e.g. an MP4 cut inside its codec description
                raise MediaError(f"{label}: cannot decode the video stream (corrupt file or unsupported codec)")
            if "gif" in container.format.name.split(",") and not _gif_complete(data):
                raise MediaError(f"{label}: GIF ends before its trailer (truncated file)")
            reported = max(int(stream.frames or 0), 0)
            declared = _declared_seconds(container, stream)
            mime = _mime(container.format.name, stream.codec_context.name)
            if reported > 0:
                total = reported
            else:  # no count in the header: count by decoding, then pick in a second pass
                with av.open(io.BytesIO(data), mode="r") as counting:
                    scan = _scan(counting, set(), None)
                total = scan.count
                _check_duration(label, scan, declared)
            if total == 0:
                raise MediaError(f"{label}: video has no frames")
            rate = stream.average_rate or stream.guessed_rate
            video_fps = float(rate) if rate else None
            try:
                indices = sample_indices(total, n, rule, video_fps)
            except ValueError as exc:
                raise MediaError(f"{label}: {exc}") from None
            scan = _scan(container, set(indices), resize)
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise MediaError(f"{label}: corrupt, truncated or unreadable video: {exc}") from None
    except Exception as exc:  # whatever else a damaged file provokes fails this sample, not the run
        raise MediaError(f"{label}: corrupt, truncated or unreadable video: {type(exc).__name__}: {exc}") from None
    if scan.count < total and mime == "image/gif":  # complete (see _gif_complete), yet short
        raise MediaError(f"{label}: FFmpeg decodes {scan.count} of the GIF's {total} frames (it merges frames "
                         f"that carry no delay, as in some GIF87a files)")
    if scan.count < total:
        raise MediaError(f"{label}: video stream ended after {scan.count} of {total} frames "
                         f"(truncated or corrupt file)")
    return _Sampled(tuple(indices), scan.pngs, mime, video_fps, total)


def _scan(container: Any, wanted: set[int], resize: tuple[int, int] | None) -> _Scan:
    """Decode the first video stream to its end (its end shows whether it is complete), converting the
    frames whose position is in `wanted`."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame threads too: same frames, faster
    rate = stream.average_rate or stream.guessed_rate
    out = _Scan(interval_s=float(1 / Fraction(rate)) if rate else 0.0)
    for frame in container.decode(stream):
        if out.count in wanted:
            out.pngs[out.count] = to_png(frame.to_image(), resize)
        if frame.time is not None:
            known = frame.duration and frame.time_base
            step = float(frame.duration * frame.time_base) if known else out.interval_s
            out.first_s = frame.time if out.first_s is None else out.first_s
            out.end_s = frame.time + step
        out.count += 1
    return out


def _declared_seconds(container: Any, stream: Any) -> float | None:
    """The video track's duration as the file declares it, when it does."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION")  # Matroska/WebM write each track's duration as a tag
    if tag:
        try:
            h, m, s = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            pass
    if len(container.streams) == 1 and container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE units
    return None


def _check_duration(label: str, scan: _Scan, declared: float | None) -> None:
    """For containers without a frame count: the decoded frames must cover the declared duration.
    Whether a file measures it from 0 or from its first frame, the larger reading is used."""
    if declared is None or scan.first_s is None or scan.end_s is None:
        return
    covered = max(scan.end_s, scan.end_s - scan.first_s)
    if declared - covered > _DURATION_SLACK_FRAMES * scan.interval_s + _DURATION_SLACK_S:
        raise MediaError(f"{label}: video stream ends after {covered:.3f} s ({scan.count} frames) but the file "
                         f"declares {declared:.3f} s (truncated or corrupt file)")


def _gif_complete(data: bytes) -> bool:
    """Whether the GIF's blocks run up to its trailer (0x3B) before the data ends. A byte that starts no
    known block ends the walk as the decoders do (they stop there), so only missing data counts."""
    if len(data) < 13 or data[:3] != b"GIF":
        return False
    pos = 13 + _colour_table_size(data[10])  # header, logical screen descriptor, global colour table
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:
            return True
        if block == 0x21:  # extension: introducer, label, sub-blocks
            pos += 2
        elif block == 0x2C:  # image: descriptor, local colour table, LZW code size, sub-blocks
            if pos + 10 > len(data):
                return False
            pos += 10 + _colour_table_size(data[pos + 9]) + 1
        else:
            return True
        while pos < len(data) and data[pos] != 0:  # data sub-blocks, each prefixed by its length
            pos += 1 + data[pos]
        pos += 1  # the zero-length terminator
    return False


def _colour_table_size(flags: int) -> int:
    return 3 * (2 << (flags & 7)) if flags & 0x80 else 0


def _mime(format_name: str, codec: str) -> str:
    names = format_name.split(",")
    if "gif" in names:
        return "image/gif"
    if "mp4" in names:
        return "video/mp4"
    if "webm" in names:
        return "video/webm" if codec in ("vp8", "vp9", "av1") else "video/x-matroska"
    if "avi" in names:
        return "video/x-msvideo"
    return f"video/{names[0]}"


# ---- frame cache ----------------------------------------------------------------------------------------

def _read_entry(entry: Path, key: str) -> _Sampled | None:
    """The cached frames for `key`, or None when absent or damaged (the caller then rebuilds it)."""
    try:
        meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
        if meta.get("key") != key:
            return None
        pngs: dict[int, bytes] = {}
        for item in meta["files"]:
            index = int(item["index"])
            png = (entry / _frame_name(index)).read_bytes()
            if hashlib.sha256(png).hexdigest() != item["sha256"]:
                return None
            pngs[index] = png
        indices = tuple(int(i) for i in meta["indices"])
        if not indices or any(i not in pngs for i in indices):
            return None
        fps = meta.get("video_fps")
        return _Sampled(indices, pngs, str(meta["mime"]), float(fps) if fps else None, int(meta["total"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_entry(root: Path, key: str, sampled: _Sampled) -> None:
    """Store an entry atomically: build it in a temporary directory, then rename it into place. A failed
    write only costs a decode next time, so it warns instead of failing the sample."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    except OSError as exc:
        warnings.warn(f"frame cache {root} is not writable: {exc}", RuntimeWarning, stacklevel=2)
        return
    final = root / key
    try:
        for index, png in sampled.pngs.items():
            (tmp / _frame_name(index)).write_bytes(png)
        files = [{"index": i, "sha256": hashlib.sha256(p).hexdigest()} for i, p in sorted(sampled.pngs.items())]
        meta = {"key": key, "indices": list(sampled.indices), "files": files, "mime": sampled.mime,
                "video_fps": sampled.video_fps, "total": sampled.total}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if final.exists():  # a damaged entry that the reader rejected
            _discard(final, root)
        os.rename(tmp, final)
    except OSError as exc:
        if not final.is_dir():  # not just a concurrent writer that got there first
            warnings.warn(f"cannot write frame cache entry {final}: {exc}", RuntimeWarning, stacklevel=2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _discard(entry: Path, root: Path) -> None:
    """Move an entry out of the way before deleting it, so no reader sees it half deleted."""
    trash = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        os.rename(entry, trash / "old")
    except OSError:
        pass  # another process already moved or replaced it
    shutil.rmtree(trash, ignore_errors=True)


def _frame_name(index: int) -> str:
    return f"{index:06d}.png"

