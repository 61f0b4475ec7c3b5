"""VideoDPO -> video-generation pairs (`videodpo`).

Source: the VideoDPO release (arXiv 2412.14167; GitHub `CIntellifusion/VideoDPO`, dataset
"vidpro-vc2-dataset", also on HF `Haoyuwu/VideoDPODataset` / `VideoDPOData/VCDPO2Data`): about 10K pairs
of VideoCrafter2 videos for VidProM prompts, winner and loser chosen by OmniScore. The files are a folder,
not a `datasets` table: use `path:` (the unpacked folder).

Schema relied on, as written by VideoDPO's `OmniScore/funcs/save_utils.py` (`dump_VPD_metadata`) and
`OmniScore/select_pairs.py`:
    winvideos/<NNNNNN>.mp4, losevideos/<NNNNNN>.mp4
    metadata.json: [{"basic": {"clip_path": str, "clip_duration": float, "globalidx": int},
                     "misc": {"frame_caption": [str]}}, ...]     one entry per video
    pair.json:     [{"video1": int, "video2": int, "label": 0 | 1, "frame_caption": str}, ...]
`video1`/`video2` index `metadata.json`; `label` is the index (0 or 1) of the preferred video of
(video1, video2): the release always writes 0 with video1 from `winvideos/`. `clip_path` was written as
`<folder>/winvideos/<NNNNNN>.mp4` on the authors' machine, so it is looked up under `media_root` as given
and, failing that, by its last two components (`winvideos/<NNNNNN>.mp4`), as UnifiedReward's own VideoDPO
loader (`VideoDPO/data/video_data.py`) does.

Recipe: "we directly use this dataset for our pairwise ranking learning" (Sec. 3.2.1), Fig. 10 pair prompt
("the frames of two generated videos") with the pair's caption. A record holds one `video`, so each video
of the pair becomes `frames_per_video` frames (manifest, default 8, as the authors' video scripts use),
picked by `np.linspace(0, total - 1, n)`: `frames` lists the first shown video's frames, then the other's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from harness.errors import UsageError

from ..rows import Row
from ..templates import VIDEO_GEN_PAIR
from .base import Draft, PairSpec, Side, SourceDef, SourceInput, guarded

HUB_ID = "Haoyuwu/VideoDPODataset (vidpro-vc2-dataset)"


def clip(inp: SourceInput, row: Row, name: str, metadata: list[Any]) -> Path:
    index = row.number(name)
    if index != int(index) or not 0 <= index < len(metadata):
        raise row.error(name, f"index {row.value(name)!r} is not an entry of metadata.json ({len(metadata)} entries)")
    entry = metadata[int(index)]
    basic = entry.get("basic") if isinstance(entry, dict) else None
    clip_path = basic.get("clip_path") if isinstance(basic, dict) else None
    field = f"{name} -> metadata[{int(index)}].basic.clip_path"
    if not isinstance(clip_path, str) or not clip_path:
        raise row.error(field, "missing")
    for candidate in (clip_path, str(Path(*Path(clip_path).parts[-2:]))):
        path = inp.media_path(row, field, candidate)
        if path.is_file():
            return path
    raise row.error(field, f"video not found: {clip_path} (nor its last two components under {inp.media_root})")


def convert(inp: SourceInput) -> Iterator[Draft]:
    metadata = inp.read_json("metadata.json")
    if not isinstance(metadata, list):
        raise UsageError(f"{inp.name}: metadata.json must be a JSON list, got {type(metadata).__name__}")

    def one(row: Row) -> list[Draft]:
        caption = row.text("frame_caption")
        label = row.value("label")
        if isinstance(label, bool) or label not in (0, 1):
            raise row.error("label", f"unknown label {label!r} (expected 0 or 1)")
        first, second = (inp.sampled_frames(row, name, clip(inp, row, name, metadata)) for name in ("video1", "video2"))
        chosen, rejected = (first, second) if label == 0 else (second, first)
        return [Draft(id=f"videodpo:{row.index}", task="video_gen", kind="pair", media_field="frames",
                      pair=PairSpec("Video", VIDEO_GEN_PAIR, {"caption": caption},
                                    Side(media=(chosen,)), Side(media=(rejected,))))]

    return guarded(inp, one)


SOURCE = SourceDef("videodpo", "VideoDPO", "video_gen", "pair", convert, ("pair.json",), None, HUB_ID, "10K")
