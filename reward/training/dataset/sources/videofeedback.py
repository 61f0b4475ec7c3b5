"""VideoFeedback -> video-generation points in five aspects (`videofeedback`).

Source: HF `TIGER-Lab/VideoFeedback` (VideoScore, arXiv 2406.15252), configs `annotated` (32,901 train
rows) and `real` (train), together about the paper's 36.6K. Frames come as separate archives on the hub
(`frames_annotated`, `frames_real`): unzip them and point `media_root` there.

Schema relied on (the card's `dataset_info.features`, both configs):
    id: string   images: [string]   (frame files, relative to the unzipped frames: our media_root)
    "text prompt": string   "video link": string (not used)
    "visual quality", "temporal consistency", "dynamic degree", "text-to-video alignment",
    "factual consistency": int64, each 1..4
    conversations: (VideoScore's own prompt/answer; not used)

Recipe: Fig. 10 point prompt with the row's text prompt; the answer is the prompt's own output format,
one "<aspect>: <1-4>" line per aspect in Fig. 10's order, then "Final Score: <mean of the five, rounded
half up>" (the paper does not say how the final score is made; its example, 4,4,3,1,2 -> 3, fits the
rounded mean). An aspect score outside 1..4 is an unknown label.
"""

from __future__ import annotations

import math
from typing import Iterator

from ..media import media_from_value
from ..rows import Row
from ..templates import VIDEO_GEN_POINT, fill
from .base import Draft, HubDefaults, SourceDef, SourceInput, guarded

HUB_ID = "TIGER-Lab/VideoFeedback"
ASPECTS = ("visual quality", "temporal consistency", "dynamic degree", "text-to-video alignment",
           "factual consistency")


def aspect(row: Row, name: str) -> int:
    value = row.number(name)
    if value not in (1, 2, 3, 4):
        raise row.error(name, f"unknown label {row.value(name)!r} (expected 1, 2, 3 or 4)")
    return int(value)


def final_score(scores: list[int]) -> int:
    return math.floor(sum(scores) / len(scores) + 0.5)


def convert(inp: SourceInput) -> Iterator[Draft]:
    def one(row: Row) -> list[Draft]:
        caption = row.text("text prompt")
        scores = [aspect(row, name) for name in ASPECTS]
        frames = tuple(media_from_value(row, f"images[{i}]", p, inp.media_root)
                       for i, p in enumerate(row.items("images")))
        lines = [f"{name}: {score}" for name, score in zip(ASPECTS, scores)]
        lines.append(f"Final Score: {final_score(scores)}")
        return [Draft(id=f"videofeedback:{row.ident('id')}", task="video_gen", kind="point", media_field="frames",
                      media=frames, prompt=fill(VIDEO_GEN_POINT, {"caption": caption}), answer="\n".join(lines))]

    return guarded(inp, one)


SOURCE = SourceDef("videofeedback", "VideoFeedback", "video_gen", "point", convert, ("data.jsonl", "data.json"),
                   HubDefaults(configs=("annotated", "real")), HUB_ID, "36.6K")
