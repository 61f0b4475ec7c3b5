"""The one record format every converter produces, and its JSONL I/O.

A record is one training example for the judge: the media it sees (listed separately, shown before the
text), the user turn it reads (`prompt`, the filled template, with no `<image>` tokens in it) and the answer
it must produce. Pairs also say which side the chosen item was shown on (`order`): data that always puts
it first teaches a judge position, not preference, so the build balances it and records the choice.

Media fields, all paths relative to the output directory (a record uses one of them):
- `images`: image files (image generation / understanding), in the order shown;
- `frames`: frame images, in order: the frames of one video when the source ships frames, or, for a
  video-generation pair, `frames_per_video` frames sampled from each of the two videos (the first shown
  video's frames, then the other's), as the paper's judge sees "the frames of two generated videos";
- `video`: one video file (the consumer samples its frames).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

TASKS = ("image_gen", "image_und", "video_gen", "video_und")
KINDS = ("pair", "point")
ORDERS = ("chosen_first", "chosen_second")
FIELDS = ("id", "source", "task", "kind", "images", "frames", "video", "prompt", "answer", "order")


@dataclass(frozen=True)
class Record:
    id: str
    source: str
    task: str
    kind: str
    prompt: str
    answer: str
    images: tuple[str, ...] = ()
    frames: tuple[str, ...] = ()
    video: str | None = None
    order: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"record {self.id!r}: task {self.task!r} is not one of {TASKS}")
        if self.kind not in KINDS:
            raise ValueError(f"record {self.id!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.order is not None and self.order not in ORDERS:
            raise ValueError(f"record {self.id!r}: order {self.order!r} is not one of {ORDERS} or None")
        if self.kind == "point" and self.order is not None:
            raise ValueError(f"record {self.id!r}: a point record has no order")
        for name in ("images", "frames"):
            if not isinstance(getattr(self, name), tuple):
                raise ValueError(f"record {self.id!r}: {name} must be a tuple")
        if self.video is not None and not isinstance(self.video, str):
            raise ValueError(f"record {self.id!r}: video must be a path or None")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "task": self.task, "kind": self.kind,
                "images": list(self.images), "frames": list(self.frames), "video": self.video,
                "prompt": self.prompt, "answer": self.answer, "order": self.order}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Record":
        """Strict: a file with other keys was written by something else, and guessing would hide it."""
        if set(obj) != set(FIELDS):
            raise ValueError(f"record keys {sorted(obj)} are not {sorted(FIELDS)}")
        return cls(id=obj["id"], source=obj["source"], task=obj["task"], kind=obj["kind"],
                   prompt=obj["prompt"], answer=obj["answer"], images=tuple(obj["images"]),
                   frames=tuple(obj["frames"]), video=obj["video"], order=obj["order"])


def write_records(path: Path, records: Iterable[Record]) -> int:
    """Write one JSON object per line; returns the number written."""
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


def read_records(path: Path) -> Iterator[Record]:
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield Record.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path} line {lineno}: {exc}") from exc
