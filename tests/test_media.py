"""Media loading: image resize, video sampling (which frames), formats, the frame cache, bad files.

Every test video is written here with PyAV (GIFs with PIL): frame i is a solid colour with red = 10·i,
so the decoded red channel tells which source frame was picked (codec error stays within ±4 at the
quality settings used).
"""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from harness import video as video_module
from harness.errors import MediaError
from harness.media import load_media
from harness.records import LoadedMedia, MediaRef
from harness.video import frame_cache_dir, sample_indices

SIZE = 32
RED_STEP = 10

# codec, container suffix, encoder options (near-lossless so the colours stay identifiable)
CODECS = {
    "mp4-h264": ("libx264", ".mp4", {"qp": "0"}),
    "mp4-mpeg4": ("mpeg4", ".mp4", {"qmin": "1", "qmax": "2"}),
    "webm-vp8": ("libvpx", ".webm", {"qmin": "0", "qmax": "4", "b": "20M"}),
}


def frame_rgb(i: int) -> tuple[int, int, int]:
    return (RED_STEP * i, 100, 50)


def write_video(path: Path, n: int, codec: str = "mp4-h264", faststart: bool = False) -> Path:
    name, _, options = CODECS[codec]
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        stream = out.add_stream(name, rate=10, options=options)
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
        for i in range(n):
            arr = np.empty((SIZE, SIZE, 3), np.uint8)
            arr[...] = frame_rgb(i)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")))
        out.mux(stream.encode())
    return path


def write_gif(path: Path, n: int) -> Path:
    frames = [Image.new("RGB", (SIZE, SIZE), frame_rgb(i)) for i in range(n)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def video_ref(path: Path, frames: int, sampling: str = "linspace", **kw) -> MediaRef:
    return MediaRef("video", path.name, path=path, frames=frames, sampling=sampling, **kw)


def picked(media: LoadedMedia) -> list[int]:
    """Which source frames a loaded video holds, read back from the red channel of each PNG."""
    out = []
    for frame in media.frames:
        assert frame.kind == "image" and frame.mime == "image/png"
        assert frame.sha256 == hashlib.sha256(frame.data).hexdigest()
        with Image.open(io.BytesIO(frame.data)) as img:
            assert img.format == "PNG" and img.mode == "RGB"
            red = float(np.asarray(img)[..., 0].mean())
        index = round(red / RED_STEP)
        assert abs(red - RED_STEP * index) <= 4, red
        out.append(index)
    return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    files = {f"{codec}-{n}": write_video(root / f"{codec}-{n}{CODECS[codec][1]}", n, codec)
             for codec in CODECS for n in (20, 5)}
    files["gif-20"] = write_gif(root / "gif-20.gif", 20)
    files["gif-5"] = write_gif(root / "gif-5.gif", 5)
    return files


# ---- sampling rules -------------------------------------------------------------------------------------

@pytest.mark.parametrize("total,n", [(20, 8), (20, 16), (5, 8), (1, 8), (300, 16)])
def test_sampling_rules_are_the_reference_formulas(total, n):
    assert sample_indices(total, n, "linspace") == list(np.linspace(0, total - 1, n, dtype=int))
    arange = np.arange(0, total, total / n).astype(int) if total > n else np.arange(total)
    assert sample_indices(total, n, "arange") == list(arange)


def test_linspace_keeps_repeats_and_arange_gives_fewer_frames_on_a_short_video():
    assert sample_indices(5, 8, "linspace") == [0, 0, 1, 1, 2, 2, 3, 4]
    assert sample_indices(5, 8, "arange") == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kind", ["mp4-h264", "mp4-mpeg4", "webm-vp8", "gif"])
@pytest.mark.parametrize("total,n", [(20, 8), (20, 16), (5, 8)])
@pytest.mark.parametrize("rule", ["linspace", "arange"])
def test_decoded_frames_are_the_ones_the_rule_picks(videos, kind, total, n, rule):
    media = load_media(video_ref(videos[f"{kind}-{total}"], n, rule))
    assert media.kind == "video" and media.data == b""
    assert picked(media) == sample_indices(total, n, rule)
    assert [f.label for f in media.frames] == [f"{videos[f'{kind}-{total}'].name} frame {i}"
                                               for i in sample_indices(total, n, rule)]


def test_gif_with_delta_frames_decodes_to_whole_frames(tmp_path):
    frames = []
    for i in range(6):  # a square moving over a background: PIL stores frames 2.. as cropped deltas
        arr = np.zeros((SIZE, SIZE, 3), np.uint8)
        arr[...] = (0, 100, 200)
        arr[4:12, 4 * i:4 * i + 8] = (250, 10, 10)
        frames.append(Image.fromarray(arr))
    path = tmp_path / "moving.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0, optimize=True)
    with Image.open(path) as gif:
        gif.seek(2)
        assert gif.tile[0].extents != (0, 0, SIZE, SIZE)  # really a delta frame
    media = load_media(video_ref(path, 6))
    for got, want in zip(media.frames, frames):
        with Image.open(io.BytesIO(got.data)) as img:
            assert np.array_equal(np.asarray(img), np.asarray(want))


def test_mime_types(videos):
    mimes = {kind: load_media(video_ref(videos[f"{kind}-5"], 2)).mime for kind in ["mp4-h264", "webm-vp8", "gif"]}
    assert mimes == {"mp4-h264": "video/mp4", "webm-vp8": "video/webm", "gif": "image/gif"}


def test_resize_applies_to_every_frame(videos):
    media = load_media(video_ref(videos["mp4-h264-20"], 4, resize=(48, 24)))
    for frame in media.frames:
        with Image.open(io.BytesIO(frame.data)) as img:
            assert img.size == (48, 24)
    assert picked(media) == [0, 6, 12, 19]


def test_video_hash_identifies_content_and_sampling(videos, tmp_path):
    base = load_media(video_ref(videos["mp4-h264-20"], 8)).sha256
    assert load_media(video_ref(videos["mp4-h264-20"], 8)).sha256 == base
    others = {load_media(video_ref(videos["mp4-h264-20"], 8, "arange")).sha256,
              load_media(video_ref(videos["mp4-h264-20"], 4)).sha256,
              load_media(video_ref(videos["mp4-h264-20"], 8, resize=(16, 16))).sha256}
    assert base not in others and len(others) == 3
    from_bytes = MediaRef("video", "row:7:video", loader=lambda: videos["mp4-h264-20"].read_bytes(),
                          frames=8, sampling="linspace")
    assert load_media(from_bytes).sha256 == base  # the label and the source do not matter, the bytes do


# ---- frame cache ----------------------------------------------------------------------------------------

def test_second_load_reads_the_cache_without_decoding(videos, monkeypatch, tmp_path):
    path = write_video(tmp_path / "v.mp4", 20)
    first = load_media(video_ref(path, 8))
    assert len(list(frame_cache_dir().iterdir())) == 1  # type: ignore[union-attr]

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(video_module, "_decode_sampled", no_decoding)
    again = load_media(video_ref(path, 8))
    assert again == first
    write_video(path, 5)  # new content under the same name: a miss, hence a decode
    with pytest.raises(AssertionError, match="decoded although cached"):
        load_media(video_ref(path, 8))


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    path = write_video(tmp_path / "v.mp4", 20)
    first = load_media(video_ref(path, 8))
    (entry,) = frame_cache_dir().iterdir()  # type: ignore[union-attr]
    victim = sorted(entry.glob("*.png"))[2]
    victim.write_bytes(victim.read_bytes()[:10])
    assert load_media(video_ref(path, 8)) == first
    (entry,) = frame_cache_dir().iterdir()  # type: ignore[union-attr]
    assert (entry / victim.name).stat().st_size > 10  # rewritten
    (entry / "meta.json").write_text("{not json")
    assert load_media(video_ref(path, 8)) == first
    assert [p.name for p in frame_cache_dir().iterdir()] == [entry.name]  # type: ignore[union-attr]


def test_cache_follows_harness_cache_dir_and_can_be_disabled(tmp_path, monkeypatch):
    path = write_video(tmp_path / "v.mp4", 5)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert frame_cache_dir() == tmp_path / "elsewhere" / "frames"
    load_media(video_ref(path, 3))
    assert len(list((tmp_path / "elsewhere" / "frames").iterdir())) == 1
    monkeypatch.setenv("HARNESS_FRAME_CACHE", "0")
    assert frame_cache_dir() is None
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "third"))
    assert picked(load_media(video_ref(path, 3))) == [0, 2, 4]
    assert not (tmp_path / "third").exists()


def test_concurrent_loads_of_one_video_decode_it_once(tmp_path, monkeypatch):
    path = write_video(tmp_path / "v.mp4", 20)
    real, calls = video_module._decode_sampled, []

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(video_module, "_decode_sampled", counting)
    results: list[LoadedMedia] = []
    threads = [threading.Thread(target=lambda: results.append(load_media(video_ref(path, 8)))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 6 and all(r == results[0] for r in results)


# ---- bad videos -----------------------------------------------------------------------------------------

def test_mp4_cut_in_half_fails(tmp_path):
    for faststart in (False, True):  # the index at the end (lost) or at the front (frames lost)
        whole = write_video(tmp_path / f"whole{faststart}.mp4", 20, faststart=faststart).read_bytes()
        cut = tmp_path / f"cut{faststart}.mp4"
        cut.write_bytes(whole[: len(whole) // 2])
        with pytest.raises(MediaError, match=f"{cut.name}: .*(corrupt|truncated)"):
            load_media(video_ref(cut, 8))


def test_stream_shorter_than_the_reported_count_fails(tmp_path, monkeypatch):
    path = write_video(tmp_path / "v.mp4", 20)
    real_scan = video_module._scan

    def early_end(container, wanted, resize):  # a stream whose packets stop early without a decoder error
        scan = real_scan(container, wanted, resize)
        scan.count = 12
        return scan

    monkeypatch.setattr(video_module, "_scan", early_end)
    with pytest.raises(MediaError, match="ended after 12 of 20 frames"):
        load_media(video_ref(path, 8))


def test_webm_cut_short_fails_on_its_declared_duration(tmp_path):
    whole = write_video(tmp_path / "whole.webm", 20, "webm-vp8").read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(MediaError, match="cut.webm: video stream ends after .* declares 2.000 s"):
        load_media(video_ref(cut, 8))


def test_gif_cut_between_or_inside_frames_fails(tmp_path):
    whole = write_gif(tmp_path / "whole.gif", 20).read_bytes()
    for cut_at in (len(whole) // 2, len(whole) - 1):  # the last is just the trailer byte
        cut = tmp_path / "cut.gif"
        cut.write_bytes(whole[:cut_at])
        with pytest.raises(MediaError, match="cut.gif: .*truncated"):
            load_media(video_ref(cut, 8))


@pytest.mark.parametrize("content,reason", [(b"", "empty"), (b"not a video at all" * 10, "corrupt")])
def test_empty_or_garbage_file_fails(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError, match=f"bad.mp4: .*{reason}"):
        load_media(video_ref(path, 8))


def test_missing_file_fails(tmp_path):
    with pytest.raises(MediaError, match="gone.mp4: video file not found"):
        load_media(video_ref(tmp_path / "gone.mp4", 8))


def test_file_without_video_stream_fails(tmp_path):
    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    with pytest.raises(MediaError, match="no video stream"):
        load_media(video_ref(path, 8))


def test_zero_frame_video_fails(tmp_path):
    path = tmp_path / "empty.mkv"  # a video track without a single frame (beside an audio track)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(sound.encode(frame))
        out.mux(sound.encode())
    with pytest.raises(MediaError, match="empty.mkv: video has no frames"):
        load_media(video_ref(path, 8))


@pytest.mark.parametrize("kw,reason", [({"frames": None}, "no frame count"), ({"frames": 0}, "positive integer"),
                                       ({"sampling": "random"}, "unknown frame sampling 'random'"),
                                       ({"resize": (0, 5)}, "resize")])
def test_bad_sampling_parameters_fail(videos, kw, reason):
    ref = MediaRef("video", "clip", path=videos["mp4-h264-5"], **{"frames": 8, "sampling": "linspace", **kw})
    with pytest.raises(MediaError, match=f"clip: .*{reason}"):
        load_media(ref)


# ---- images ---------------------------------------------------------------------------------------------

def test_image_resize_gives_a_png_of_the_requested_size_with_a_stable_hash(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path, "JPEG")
    ref = MediaRef("image", "photo.jpg", path=path, resize=(512, 256))
    media = load_media(ref)
    assert media.mime == "image/png" and media.sha256 == hashlib.sha256(media.data).hexdigest()
    with Image.open(io.BytesIO(media.data)) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "RGB", (512, 256))
        with Image.open(path) as original:
            assert img.tobytes() == original.convert("RGB").resize((512, 256)).tobytes()  # PIL's default
    assert load_media(ref).sha256 == media.sha256
    from_loader = MediaRef("image", "row:1:image", loader=path.read_bytes, resize=(512, 256))
    assert load_media(from_loader).sha256 == media.sha256


def test_image_resize_converts_palette_and_alpha_to_rgb(tmp_path):
    path = tmp_path / "logo.png"
    Image.new("RGBA", (10, 10), (0, 0, 255, 128)).save(path)
    media = load_media(MediaRef("image", "logo.png", path=path, resize=(20, 20)))
    with Image.open(io.BytesIO(media.data)) as img:
        assert (img.mode, img.size) == ("RGB", (20, 20))


def test_image_without_resize_keeps_the_original_bytes(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path, "JPEG")
    media = load_media(MediaRef("image", "photo.jpg", path=path))
    assert (media.data, media.mime) == (path.read_bytes(), "image/jpeg")


def test_corrupt_image_fails_also_with_resize(tmp_path):
    path = tmp_path / "broken.jpg"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path, "JPEG")
    path.write_bytes(path.read_bytes()[:200])
    for resize in (None, (16, 16)):
        with pytest.raises(MediaError, match="broken.jpg: corrupt"):
            load_media(MediaRef("image", "broken.jpg", path=path, resize=resize))
